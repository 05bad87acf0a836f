"""Hand-computed cases for the fit statistics (censoring-aware means, lognormal scale, price changes, band rates)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spotplan.simulator.market.fit_stats import band_rate_per_h, price_stats, run_stats, sig
from spotplan.simulator.market.series import AvailabilityTrace, PriceSeries


def test_run_stats_censoring() -> None:
    """[1,1,0,0,1,1,1,0] at 10 s: up 50 s over 2 interruptions, down 30 s over 1 recovery."""
    t = AvailabilityTrace(gap_s=10, values=np.array([1, 1, 0, 0, 1, 1, 1, 0]))
    up, down = run_stats(t)
    assert (up.time_s, up.events, up.mean_s) == (50.0, 2, 25.0)
    assert (down.time_s, down.events, down.mean_s) == (30.0, 1, 30.0)
    # first and last runs are cut by the window: only the inner 0-run (20 s) and 1-run (30 s) are complete
    assert up.complete_log_s == (math.log(30.0),) and down.complete_log_s == (math.log(20.0),)


def test_lognormal_mean_matches_censored_mean() -> None:
    """The lognormal's mean equals time/events whatever the complete runs' shape."""
    t = AvailabilityTrace(gap_s=60, values=np.array([0, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1]))
    up, _ = run_stats(t)
    p = up.lognormal()
    assert math.exp(p["mu_log_s"] + p["sigma_log"] ** 2 / 2) == pytest.approx(up.mean_s, rel=1e-5)
    assert p["sigma_log"] == pytest.approx(np.std(np.log([60.0, 180.0, 120.0])), rel=1e-5)


def test_gang_need() -> None:
    """A 4-node trace is up for a gang of 4 only where all 4 are available."""
    t = AvailabilityTrace(gap_s=1, values=np.array([4, 4, 3, 4, 2, 4]), capacity=4)
    up4, _ = run_stats(t, need=4)
    up1, _ = run_stats(t, need=1)
    assert up4.time_s == 4 and up4.events == 2 and up1.events == 0


def test_price_stats() -> None:
    """Change points 1.0 -> 1.0 -> 1.1 -> 0.99: two real changes of +10% and -10%."""
    s = PriceSeries(times_s=np.array([0.0, 3600, 7200, 10800]), prices_usd_per_h=np.array([1.0, 1.0, 1.1, 0.99]),
                    end_s=14400.0)
    st = price_stats(s)
    assert (st.change_points, st.changes, st.span_h) == (4, 2, 4.0)
    assert st.rel_changes == pytest.approx((0.1, -0.1))
    assert st.mean_usd_per_h == pytest.approx((1.0 + 1.0 + 1.1 + 0.99) / 4)


def test_band_rate_matches_domain_reference() -> None:
    """domain.md 5.1: reading 5% / 20% monthly as Poisson gives ~14,000 h / ~3,200 h."""
    assert 1 / band_rate_per_h(0.05) == pytest.approx(14037, rel=1e-3)
    assert 1 / band_rate_per_h(0.20) == pytest.approx(3227, rel=1e-3)


def test_sig() -> None:
    """Six significant digits, stable for zero and non-finite values."""
    assert sig(123.456789) == 123.457 and sig(0.000123456789) == 0.000123457 and sig(0.0) == 0.0
    assert math.isinf(sig(math.inf))
