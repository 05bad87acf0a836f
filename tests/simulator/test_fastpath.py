"""The vectorised exponential Monte Carlo agrees with Daly's closed form and is reproducible."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spotplan.simulator.fastpath import exponential_cost_usd, simulate_exponential, sweep_intervals
from spotplan.simulator.theory import daly_expected_wall_s, daly_interval_s, exact_expected_wall_s

SAVE_S, RESTART_S, WORK_S = 300.0, 600.0, 500 * 3600.0


@pytest.mark.parametrize("mtbf_s", [24 * 3600.0, 6 * 3600.0, 900.0])
def test_mean_matches_daly_within_ci(mtbf_s: float) -> None:
    """The sample mean lies within 1% of T_w and inside its 99% confidence interval."""
    tau = daly_interval_s(SAVE_S, mtbf_s)
    runs = 4000 if mtbf_s > 1000 else 400
    m = simulate_exponential(WORK_S, tau, SAVE_S, RESTART_S, mtbf_s, runs, np.random.default_rng(7))
    half = 2.576 * m.std(ddof=1) / math.sqrt(runs)
    exact = exact_expected_wall_s(WORK_S, tau, SAVE_S, RESTART_S, mtbf_s)
    assert abs(m.mean() - exact) < half
    tw = daly_expected_wall_s(WORK_S, tau, SAVE_S, RESTART_S, mtbf_s)
    assert abs(m.mean() / tw - 1) < 0.01


def test_no_failure_limit_is_deterministic() -> None:
    """With a huge MTBF every run takes exactly work + saves."""
    m = simulate_exponential(7200.0, 1000.0, 10.0, 60.0, 1e15, 5, np.random.default_rng(0))
    assert np.allclose(m, 7200.0 + 8 * 10.0)


def test_same_seed_same_result_and_makespan_at_least_work() -> None:
    """An explicit generator makes results reproducible; no run beats the failure-free time."""
    a = simulate_exponential(36000.0, 1800.0, 30.0, 120.0, 7200.0, 300, np.random.default_rng(3))
    b = simulate_exponential(36000.0, 1800.0, 30.0, 120.0, 7200.0, 300, np.random.default_rng(3))
    assert np.array_equal(a, b)
    assert np.all(a >= 36000.0 + 20 * 30.0 - 1e-6)


def test_cost_helper_bills_the_makespan() -> None:
    """Cost is makespan in hours times the flat price."""
    assert exponential_cost_usd(np.array([3600.0, 5400.0]), 2.0).tolist() == [2.0, 3.0]
    with pytest.raises(ValueError):
        exponential_cost_usd(np.array([1.0]), -1.0)


def test_sweep_finds_a_minimum_near_daly() -> None:
    """A sweep over intervals has its lowest mean near Daly's optimum, well below far-off intervals."""
    mtbf_s = 6 * 3600.0
    tau = daly_interval_s(SAVE_S, mtbf_s)
    grid = np.array([tau / 8, tau, tau * 8])
    means, sems = sweep_intervals(WORK_S, grid, SAVE_S, RESTART_S, mtbf_s, 500, np.random.default_rng(1))
    assert int(np.argmin(means)) == 1
    assert np.all(sems > 0)
