"""Billing over a hand-built step price: exact integral, 60 s minimum, whole hours, AWS's first-hour rule."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from spotplan.simulator.billing import BillingRules, FlatPrice, ReplayedPrice, bill_usd, billed_seconds
from spotplan.simulator.market.series import PriceSeries
from tests.support.sim import run, scenario, spot_pool, write_prices, write_trace

# $1/h for the first 30 min, $2/h for the next 30 min, $4/h for the second hour.
STEP = PriceSeries(times_s=np.array([0.0, 1800.0, 3600.0]), prices_usd_per_h=np.array([1.0, 2.0, 4.0]), end_s=7200.0)
AWS = BillingRules()


def price(offset_s: float = 0.0, wrap: bool = True) -> ReplayedPrice:
    return ReplayedPrice(series=STEP, offset_s=offset_s, wrap=wrap)


def test_exact_integral_over_steps() -> None:
    """15 min at $1 + 30 min at $2 + 15 min at $4 = $0.25 + $1 + $1."""
    assert price().cost_usd(900.0, 4500.0) == pytest.approx(2.25)


def test_sixty_second_minimum() -> None:
    """A 30 s lifetime the job ends itself is billed 60 s at the price in force."""
    raw, billed = bill_usd(price(), 100.0, 130.0, nodes=1, spot=True, interrupted=False, rules=AWS)
    assert raw == pytest.approx(30 / 3600)
    assert billed == pytest.approx(60 / 3600)
    _, crossing = bill_usd(price(), 1770.0, 1790.0, nodes=2, spot=False, interrupted=False, rules=AWS)
    assert crossing == pytest.approx(2 * (30 * 1.0 + 30 * 2.0) / 3600)  # minimum window crosses a step


def test_first_hour_free_when_aws_interrupts() -> None:
    """Spot interrupted by AWS within its first hour costs nothing; stopped by the job, on-demand, or later, it does."""
    assert bill_usd(price(), 0.0, 2400.0, nodes=1, spot=True, interrupted=True, rules=AWS)[1] == 0.0
    assert bill_usd(price(), 0.0, 2400.0, nodes=1, spot=True, interrupted=False, rules=AWS)[1] == pytest.approx(
        0.5 + 600 * 2 / 3600)
    assert bill_usd(price(), 0.0, 2400.0, nodes=1, spot=False, interrupted=True, rules=AWS)[1] > 0
    assert bill_usd(price(), 0.0, 3600.0, nodes=1, spot=True, interrupted=True, rules=AWS)[1] == pytest.approx(1.5)
    off = BillingRules(first_hour_free_on_interruption=False)
    assert bill_usd(price(), 0.0, 2400.0, nodes=1, spot=True, interrupted=True, rules=off)[1] > 0


def test_hourly_billing_rounds_up() -> None:
    """Without per-second billing a 61-minute lifetime is charged two hours."""
    rules = BillingRules(per_second=False)
    assert billed_seconds(3660.0, rules) == 7200.0
    assert bill_usd(price(), 0.0, 3660.0, nodes=1, spot=True, interrupted=False, rules=rules)[1] == pytest.approx(5.5)


def test_offset_wrap_and_clamp() -> None:
    """A replay offset shifts the steps; past the end it wraps to the start or holds the last price."""
    p = price(offset_s=3600.0)
    assert p.price_at(0.0) == 4.0 and p.price_at(3600.0) == 1.0  # wrapped to the start
    assert p.cost_usd(3000.0, 4200.0) == pytest.approx(600 * 4 / 3600 + 600 * 1 / 3600)
    c = price(offset_s=3600.0, wrap=False)
    assert c.price_at(10_000.0) == 4.0
    assert c.cost_usd(3000.0, 4200.0) == pytest.approx(1200 * 4 / 3600)
    changes = [t for t, _ in itertools.islice(p.changes(0.0), 4)]
    assert changes == [3600.0, 5400.0, 7200.0, 10800.0]
    assert FlatPrice(usd_per_h=3.0).cost_usd(0.0, 1200.0) == pytest.approx(1.0)


def test_model_bills_replayed_history_and_refunds_first_hour(tmp_path: Path) -> None:
    """A run bills each instance over the replayed step price; the one AWS kills at 50 min is free."""
    prices = write_prices(tmp_path, "us-east-1a", [("2020-01-01T00:00:00Z", 1.0), ("2020-01-01T01:00:00Z", 2.0),
                                                   ("2020-01-02T00:00:00Z", 2.0)])
    trace = write_trace(tmp_path, "a", [1] * 5 + [0] + [1] * 200, 600.0)  # down at 3000 s, back at 3600 s
    pool = spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": trace},
                     price={"kind": "history", "path": prices})
    r = run(scenario([pool], work_h=1.0))
    first, second = r.bills
    assert (first.start_s, first.end_s, first.interrupted, first.billed_usd) == (0.0, 3000.0, True, 0.0)
    assert first.raw_usd == pytest.approx(3000 / 3600)
    # Restart at 3600 s from scratch (no checkpoint): one hour at $2/h.
    assert (second.start_s, second.end_s) == (3600.0, 7200.0)
    assert second.billed_usd == pytest.approx(2.0)
    assert r.cost_usd == pytest.approx(2.0)
    assert sum(r.cost_by_bucket_usd.values()) == pytest.approx(r.cost_usd)
    assert r.cost_by_bucket_usd["useful_compute"] == pytest.approx(2.0)
    assert r.time_by_bucket_s["lost_work"] == pytest.approx(3000.0)
    assert r.time_by_bucket_s["waiting"] == pytest.approx(600.0)


def test_first_hour_refund_covers_only_the_reclaimed_instance_of_a_gang() -> None:
    """A 4-node gang at $10/h per node that AWS interrupts after 30 min: the reclaimed instance is free, the three
    the job stopped are billed ($15 of $20); a 20 s lifetime bills the survivors the 60 s minimum each."""
    rules, price = BillingRules(), FlatPrice(usd_per_h=10.0)
    assert bill_usd(price, 0.0, 1800.0, nodes=4, spot=True, interrupted=True, rules=rules) == \
        pytest.approx((20.0, 15.0))
    assert bill_usd(price, 0.0, 1800.0, nodes=1, spot=True, interrupted=True, rules=rules) == (pytest.approx(5.0), 0.0)
    assert bill_usd(price, 0.0, 20.0, nodes=2, spot=True, interrupted=True, rules=rules)[1] == \
        pytest.approx(10.0 * 60.0 / 3600.0)
    assert bill_usd(price, 0.0, 1800.0, nodes=4, spot=True, interrupted=False, rules=rules)[1] == pytest.approx(20.0)
    assert bill_usd(price, 0.0, 4000.0, nodes=4, spot=True, interrupted=True, rules=rules)[1] == \
        pytest.approx(40.0 * 4000.0 / 3600.0)
