"""Closed forms against Daly's published validation cases (δ = 5 min, R = 10 min, T_s = 500 h)."""

from __future__ import annotations

import math

import pytest

from spotplan.errors import ConfigError
from spotplan.simulator.theory import (
    brute_force_optimum_s,
    daly_expected_wall_s,
    daly_interval_s,
    exact_expected_wall_s,
    segments,
    young_interval_s,
)

SAVE_S, RESTART_S, WORK_S = 300.0, 600.0, 500 * 3600.0
# (M in seconds, Daly's τ in minutes, T_w in hours, Young's τ in minutes): domain reference §2.2.
DALY_CASES = [(24 * 3600.0, 116.7, 547.9, 120.0), (6 * 3600.0, 56.7, 610.2, 60.0), (900.0, 9.1, 2504.0, 12.2)]


@pytest.mark.parametrize(("mtbf_s", "tau_min", "tw_h", "young_min"), DALY_CASES)
def test_daly_published_cases(mtbf_s: float, tau_min: float, tw_h: float, young_min: float) -> None:
    """Eq. 37, T_w and Young reproduce Daly's table to the published precision."""
    tau_s = daly_interval_s(SAVE_S, mtbf_s)
    assert round(tau_s / 60, 1) == tau_min
    tw = daly_expected_wall_s(WORK_S, tau_s, SAVE_S, RESTART_S, mtbf_s) / 3600
    assert tw == pytest.approx(tw_h, abs=0.05 if tw_h < 1000 else 0.5)
    assert round(young_interval_s(SAVE_S, mtbf_s) / 60, 1) == young_min


@pytest.mark.parametrize(("mtbf_s", "tau_min", "tw_h", "young_min"), DALY_CASES)
def test_eq37_is_near_the_brute_force_argmin(mtbf_s: float, tau_min: float, tw_h: float, young_min: float) -> None:
    """Eq. 37 lands within 1% of the numerical argmin of T_w, and R does not move the optimum."""
    best = brute_force_optimum_s(WORK_S, SAVE_S, RESTART_S, mtbf_s)
    assert daly_interval_s(SAVE_S, mtbf_s) == pytest.approx(best, rel=0.01)
    assert brute_force_optimum_s(WORK_S, SAVE_S, 0.0, mtbf_s) == pytest.approx(best, rel=1e-9)


def test_daly_interval_is_m_when_save_exceeds_2m() -> None:
    """For δ >= 2M eq. 37 no longer applies and the interval is M."""
    assert daly_interval_s(500.0, 200.0) == 200.0
    assert daly_interval_s(400.0, 200.0) == 200.0


def test_exact_sum_matches_continuous_when_interval_divides_work() -> None:
    """With an integer number of segments the segment sum equals Daly's T_w exactly."""
    tw = daly_expected_wall_s(100 * 3600.0, 3600.0, 180.0, 360.0, 10 * 3600.0)
    assert exact_expected_wall_s(100 * 3600.0, 3600.0, 180.0, 360.0, 10 * 3600.0) == pytest.approx(tw, rel=1e-12)
    assert segments(100 * 3600.0, 3600.0) == (100, 0.0)
    n, rem = segments(10.0, 3.0)
    assert n == 3 and rem == pytest.approx(1.0)


def test_no_failures_limit() -> None:
    """As M grows the expected wall time tends to work plus one save per segment."""
    tw = exact_expected_wall_s(36000.0, 3600.0, 60.0, 600.0, 1e12)
    assert tw == pytest.approx(36000.0 + 10 * 60.0, rel=1e-6)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_bad_inputs_raise_config_error(bad: float) -> None:
    """Non-positive or non-finite inputs are a ConfigError naming the field."""
    with pytest.raises(ConfigError, match="save_s"):
        young_interval_s(bad, 3600.0)
    with pytest.raises(ConfigError, match="mtbf_s"):
        daly_interval_s(60.0, bad)
