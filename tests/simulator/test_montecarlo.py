"""Monte Carlo over the SimPy model reproduces Daly's T_w and does not depend on the worker count."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from spotplan.paths import REPO_ROOT
from spotplan.schemas import Scenario
from spotplan.simulator.fastpath import simulate_exponential
from spotplan.simulator.montecarlo import describe, run_monte_carlo, run_rng
from spotplan.simulator.theory import daly_expected_wall_s, daly_interval_s

REPO = REPO_ROOT
DALY = REPO / "data" / "examples" / "daly-exponential.yaml"


def daly_scenario(mtbf_h: float) -> Scenario:
    """Daly's validation case (δ 5 min, R 10 min, 500 h) with exponential interruptions of mean ``mtbf_h``."""
    doc = yaml.safe_load(DALY.read_text())
    doc["pools"][0]["availability"]["mtbf_h"] = mtbf_h
    return Scenario.from_dict(doc, source=str(DALY))


def _check_daly(mtbf_h: float, runs: int) -> None:
    tw_h = daly_expected_wall_s(500 * 3600.0, daly_interval_s(300.0, mtbf_h * 3600), 300.0, 600.0,
                                mtbf_h * 3600) / 3600
    one = run_monte_carlo(daly_scenario(mtbf_h), runs, seed=11, workers=1, progress=False)
    two = run_monte_carlo(daly_scenario(mtbf_h), runs, seed=11, workers=2, progress=False)
    s1, s2 = one.summary(), two.summary()
    assert s1 == s2  # identical for 1 and 2 workers
    m = s1["makespan_h"]
    assert abs(m["mean"] / tw_h - 1) < 0.01
    assert m["ci99"][0] <= tw_h <= m["ci99"][1]


@pytest.mark.parametrize(("mtbf_h", "runs"), [(24.0, 300), (6.0, 200)])
def test_daly_cases_within_ci_and_worker_independent(mtbf_h: float, runs: int) -> None:
    """M = 24 h and 6 h: the mean makespan is within 1% of T_w and T_w lies in the 99% CI, for 1 and 2 workers."""
    _check_daly(mtbf_h, runs)


@pytest.mark.slow
def test_daly_15_minute_case() -> None:
    """M = 15 min (T_w = 2504 h, ~10,000 interruptions a run): the same checks with 40 runs."""
    _check_daly(0.25, 40)


def test_simpy_and_fastpath_agree() -> None:
    """The SimPy model and the numpy fast path estimate the same mean for one exponential case."""
    mc = run_monte_carlo(daly_scenario(6.0), 150, seed=3, workers=1, progress=False)
    fast = simulate_exponential(500 * 3600.0, mc.scenario.interval_s, 300.0, 600.0, 6 * 3600.0, 4000,
                                np.random.default_rng(3)) / 3600
    se = math.hypot(mc.makespan_h.std(ddof=1) / math.sqrt(150), fast.std(ddof=1) / math.sqrt(4000))
    assert abs(mc.makespan_h.mean() - fast.mean()) < 3.5 * se


def test_run_generators_are_spawned_children() -> None:
    """Run i's generator is SeedSequence(seed).spawn(n)[i], whatever n is."""
    kids = np.random.SeedSequence(42).spawn(5)
    for i in (0, 4):
        assert run_rng(42, i).random() == np.random.default_rng(kids[i]).random()


def test_summary_shape_and_breakdowns_sum() -> None:
    """The summary has the documented keys; per-run activity costs add up to the run cost."""
    mc = run_monte_carlo(daly_scenario(24.0), 30, seed=0, workers=1, progress=False, keep_timelines=2)
    s = mc.summary()
    for key in ("cost_usd", "makespan_h"):
        assert set(s[key]) >= {"mean", "std", "p50", "p90", "p95", "p99", "ci95"}
        assert len(s[key]["ci95"]) == 2
    assert s["runs"] == 30 and s["deadline_hit_rate"] is None and s["finished_rate"] == 1.0
    for r in mc.results:
        assert sum(r.cost_by_bucket_usd.values()) == pytest.approx(r.cost_usd)
        assert sum(r.cost_by_pool_usd.values()) == pytest.approx(r.cost_usd)
    assert mc.results[0].timeline and mc.results[1].timeline and not mc.results[2].timeline
    assert len(mc.frame()) == 30
    d = mc.distribution("makespan_h")
    assert d.p50 <= d.p95 <= d.p99


def test_describe_percentile_intervals() -> None:
    """Percentile intervals bracket the percentile; the mean's 99% CI contains its 95% CI."""
    x = np.random.default_rng(0).exponential(1.0, 2000)
    d = describe(x)
    for q in (50, 90, 95, 99):
        lo, hi = d[f"p{q}_ci95"]
        assert lo <= d[f"p{q}"] <= hi
    assert d["ci99"][0] < d["ci95"][0] < d["mean"] < d["ci95"][1] < d["ci99"][1]
