"""The fast-forward (spotplan.simulator.skip) against the event path, run by run.

The same compiled scenario and run generator are simulated with ``fast_forward=True`` (the default) and with every
decision going through SimPy (``fast_forward=False``): makespan, cost, cost and time splits, counts, lost work
and bills must agree up to float rounding. Both ways of booking lifetimes are checked: as arrays (progress summed
in another order) and one by one (the event path's float operations, exact but for the clock jump back into
SimPy). Each scenario also checks that the fast-forward did walk lifetimes, so the comparison is not vacuous.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import islice
from typing import Any

import numpy as np
import pytest

from spotplan.simulator import skip
from spotplan.simulator.availability import exponential
from spotplan.simulator.compile import CompiledScenario
from spotplan.simulator.model import simulate_once
from spotplan.simulator.montecarlo import run_rng
from spotplan.simulator.pools import period_batches
from spotplan.simulator.result import RunResult
from tests.simulator.test_core_reference import _assert_same, _expo, _od
from tests.support.sim import compiled, scenario, spot_pool

SAVE = {"save_s": 60.0, "persist_s": 200.0, "restore_s": 300.0, "provisioning_s": 240.0, "setup_s": 300.0}


@pytest.fixture(params=[True, False], ids=["arrays", "one-by-one"])
def walked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Launches the fast-forward walked, per call; lifetimes booked as arrays, or one by one (exact)."""
    monkeypatch.setattr(skip, "ARRAYS", request.param)
    monkeypatch.setattr(skip, "ARRAYS_MIN", 1)  # every chunk as arrays, however small
    seen: list[int] = []
    run = skip.FastForward.run

    def counting(self: skip.FastForward, *a: Any, **kw: Any) -> skip.Handover:
        before = a[-1].counts.launches
        out = run(self, *a, **kw)
        seen.append(a[-1].counts.launches - before)
        return out

    monkeypatch.setattr(skip.FastForward, "run", counting)
    return seen


def _od_usd(r: RunResult) -> float:
    return sum(v for k, v in r.cost_by_pool_usd.items() if "on-demand" in k)


def _compare(cs: CompiledScenario, runs: int, seed: int = 5) -> list[RunResult]:
    out = []
    for i in range(runs):
        a = simulate_once(cs, run_rng(seed, i), keep_timeline=False)
        b = simulate_once(cs, run_rng(seed, i), keep_timeline=False, fast_forward=False)
        _assert_same(a, b, f"run {i}")
        assert len(a.bills) == len(b.bills), f"run {i}"
        for x, y in zip(a.bills, b.bills, strict=True):
            assert (x.pool, x.nodes, x.interrupted) == (y.pool, y.nodes, y.interrupted), f"run {i}"
            for f in ("start_s", "end_s", "raw_usd", "billed_usd"):
                assert getattr(x, f) == pytest.approx(getattr(y, f), rel=1e-12, abs=1e-6), (f"run {i}", f)
        out.append(a)
    return out


def _ladder(**kw: Any) -> dict[str, Any]:
    pools = [spot_pool("us-west-2a", "us-west-2", _expo(3.0, 1.0), throughput_factor=1.0),
             spot_pool("us-west-2b", "us-west-2", _expo(5.0, 2.0), throughput_factor=0.9),
             spot_pool("us-east-1a", "us-east-1", _expo(4.0, 0.5), throughput_factor=0.8),
             spot_pool("eu-west-1a", "eu-west-1", _expo(8.0, 3.0), throughput_factor=0.6)]
    args = {"work_h": 400.0, "interval_s": 1500.0, "notice_s": 120.0, "emergency": True, "lag_s": 5.0,
            **SAVE, "save_s": 20.0, "persist_s": 70.0, **kw}
    doc = scenario(pools, **args)
    doc["job"]["step_time_s"] = 7.5
    doc["ladder"] = {"recovery": "eager-next-region"}
    return doc


def test_spot_ladder_with_notices_and_emergency_saves(walked: list[int]) -> None:
    res = _compare(compiled(_ladder()), 12)
    assert sum(walked) > 1000
    assert sum(r.emergency_saves for r in res) > 500 and sum(r.emergency_save_failures for r in res) > 0


@pytest.mark.parametrize("change", [{}, {"setup_s": 0.0, "restore_s": 0.0}, {"emergency": False}])
def test_checkpoint_migration_between_regions(walked: list[int], change: dict[str, Any]) -> None:
    """A 40 GB checkpoint over three regions: lifetimes that start elsewhere pull it (transfer and egress)."""
    doc = _ladder(work_h=200.0, **change)
    doc["checkpoint"]["checkpoint_bytes"] = 40 * 10**9
    doc["ladder"] = {"recovery": "eager-next-region"}
    cs = compiled(doc)
    assert cs.migrates and skip.eligible(cs)
    res = _compare(cs, 6)
    assert sum(walked) > 50 and sum(r.migrations for r in res) > 50


def test_persist_longer_than_a_compute_segment(walked: list[int]) -> None:
    # 40 s of compute per cycle, 60 s persist: every cycle after the first waits for the persist
    res = _compare(compiled(_ladder(interval_s=40.0, save_s=20.0, persist_s=60.0, work_h=120.0)), 8)
    assert sum(walked) > 200 and all(r.time_by_bucket_s["checkpoint_stall"] > 0 for r in res)


def test_failover_without_emergency_saves_or_steps(walked: list[int]) -> None:
    doc = _ladder(emergency=False)
    del doc["job"]["step_time_s"]
    doc["ladder"] = {"recovery": "failover"}
    res = _compare(compiled(doc), 12)
    assert sum(walked) > 1000 and sum(r.lost_work_s for r in res) > 0


def test_late_notices_and_no_setup(walked: list[int]) -> None:
    # the notice is seen after the termination: no emergency save; nothing to set up or restore
    doc = _ladder(lag_s=200.0, setup_s=0.0, restore_s=0.0, provisioning_s=0.0)
    res = _compare(compiled(doc), 10)
    assert sum(walked) > 1000 and sum(r.emergency_saves for r in res) == 0


def test_gang_with_failed_launches_and_an_on_demand_rung(walked: list[int]) -> None:
    pools = [spot_pool("us-west-2a", "us-west-2", _expo(8.0, 0.05)),
             spot_pool("us-west-2b", "us-west-2", _expo(8.0, 0.05)),
             spot_pool("us-east-1a", "us-east-1", _expo(8.0, 0.05)), _od("us-east-1")]
    doc = scenario(pools, work_h=300.0, interval_s=2400.0, notice_s=120.0, emergency=True, lag_s=5.0,
                   **{**SAVE, "provisioning_s": 1800.0})
    doc["job"]["nodes"] = 2
    doc["ladder"] = {"recovery": "eager-next-region"}
    res = _compare(compiled(doc), 12)
    assert sum(walked) > 300 and sum(r.failed_launches for r in res) > 20
    assert 0 < sum(_od_usd(r) > 0 for r in res) < len(res)  # some runs end on the on-demand rung


def test_spot_only_gang_waits_and_runs_cut_at_the_horizon(walked: list[int]) -> None:
    pools = [spot_pool("us-west-2a", "us-west-2", _expo(6.0, 4.0)),
             spot_pool("us-east-1a", "us-east-1", _expo(6.0, 6.0))]
    doc = scenario(pools, work_h=200.0, interval_s=1800.0, notice_s=120.0, emergency=True, lag_s=5.0,
                   **{**SAVE, "provisioning_s": 900.0})
    doc["job"]["nodes"] = 4
    cs = compiled(doc)
    res = _compare(replace(cs, max_sim_s=700 * 3600.0), 10)
    assert sum(walked) > 300 and any(not r.finished for r in res) and any(r.finished for r in res)
    assert all(r.time_by_bucket_s["waiting"] > 0 for r in res)


def test_whole_hour_billing_with_a_minimum(walked: list[int]) -> None:
    doc = _ladder(work_h=150.0)
    doc["billing"] = {"per_second": False, "minimum_s": 600.0, "first_hour_free_on_interruption": False}
    _compare(compiled(doc), 8)
    assert sum(walked) > 200


def test_zero_downtime_is_left_to_the_event_path(walked: list[int]) -> None:
    """Daly's model: capacity is back the instant it goes; the tie is the clock's last bit, so no fast-forward."""
    pools = [spot_pool("us-west-2a", "us-west-2", _expo(30.0, 0.0)), _od()]
    doc = scenario(pools, work_h=600.0, interval_s=3000.0, persist_s=30.0, provisioning_s=240.0, emergency=True)
    doc["job"]["step_time_s"] = 10.0
    doc["ladder"] = {"recovery": "failover"}
    cs = compiled(doc)
    assert not skip.eligible(cs)
    _compare(cs, 4, seed=103)
    assert sum(walked) == 0


@pytest.mark.parametrize("change", [{"notice_s": 0.0}, {"lag_s": 0.0}])
def test_instant_ties_are_left_to_the_event_path(walked: list[int], change: dict[str, float]) -> None:
    """No notice, or notices seen at once: decisions meet exact ties, so no fast-forward."""
    cs = compiled(_ladder(work_h=100.0, **change))
    assert not skip.eligible(cs)
    _compare(cs, 3)
    assert sum(walked) == 0


def test_the_advisor_spot_only_ladder(walked: list[int]) -> None:
    """The 7B plan's spot-only variant (fitted availability, 2-minute notices, step boundaries, checkpoint
    migrations between its regions)."""
    from spotplan.advisor.api import recommend
    from spotplan.advisor.request import RecommendRequest
    from spotplan.simulator.compile import compile_scenario

    rec = recommend(RecommendRequest(model_size="7B", runs=4))
    spot = [r for r in rec.scenario.pools if r.market.value == "spot"]
    assert spot
    sc = rec.scenario.model_copy(update={"pools": spot})
    cs = compile_scenario(sc)
    cs = replace(cs, max_sim_s=cs.work_s * 3)
    walked.clear()
    _compare(cs, 6)
    assert sum(walked) > 20


@pytest.mark.parametrize(("nodes", "mult"), [(1, 1.0), (2, 1.0), (2, 1.7), (3, 0.6), (8, 1.0)])
def test_period_batches_are_the_sources_periods(nodes: int, mult: float) -> None:
    """The pool clock's batches hold exactly the values ``RenewalAvailability.periods`` yields, bit for bit."""
    av = exponential(5000.0, 700.0, nodes=nodes, rate_multiplier=mult)
    want = list(islice(av.periods(np.random.default_rng(3), 0.0), 640))
    starts: list[float] = []
    ends: list[float] = []
    for a, b in islice(period_batches(av, np.random.default_rng(3), 0.0), 10):
        starts += a
        ends += b
    assert list(zip(starts, ends, strict=True)) == want


def _random_doc(g: np.random.Generator) -> dict[str, Any]:
    """A scenario drawn over what the fast-forward covers: ladders, gangs, notices, saves, billing rules."""
    regions = ["us-west-2", "us-east-1", "eu-west-1"]

    def pick(*xs: Any) -> Any:
        return xs[int(g.integers(len(xs)))]

    pools = [spot_pool(f"{regions[i % 3]}{'abcd'[i]}", regions[i % 3], _expo(pick(0.5, 2.0, 5.0, 10.0, 30.0),
                                                                             pick(0.05, 0.5, 3.0)),
                       throughput_factor=pick(1.0, 0.8, 0.55)) for i in range(int(g.integers(1, 5)))]
    if g.random() < 0.4:
        pools.append(_od())
    step = pick(None, 7.5, 10.0)
    interval = pick(40.0, 300.0, 1200.0, 3000.0)
    if step and g.random() < 0.7:
        interval = round(interval / step) * step  # whole steps: lifetimes booked as arrays
    doc = scenario(pools, work_h=pick(50.0, 200.0, 600.0), interval_s=interval, notice_s=pick(30.0, 120.0),
                   emergency=bool(g.random() < 0.7), lag_s=pick(5.0, 200.0), save_s=pick(0.0, 20.0, 60.0),
                   persist_s=pick(0.0, 30.0, 200.0), restore_s=pick(0.0, 120.0), provisioning_s=pick(0.0, 240.0, 1800.0),
                   setup_s=pick(0.0, 300.0))
    if step:
        doc["job"]["step_time_s"] = step
    doc["job"]["nodes"] = pick(1, 1, 2, 4)
    doc["ladder"] = {"recovery": pick("failover", "eager-next-region")}
    if g.random() < 0.3:
        doc["billing"] = {"per_second": bool(g.random() < 0.5), "minimum_s": pick(0.0, 60.0, 600.0),
                          "first_hour_free_on_interruption": bool(g.random() < 0.5)}
    return doc


def test_random_scenarios(walked: list[int]) -> None:
    """Scenarios drawn from a seeded generator, each cut at a drawn horizon, against the event path."""
    g = np.random.default_rng(20261201)
    for _ in range(40):
        cs = compiled(_random_doc(g))
        cs = replace(cs, max_sim_s=cs.work_s * float(g.choice([1.5, 3.0, 10.0])))
        _compare(cs, 3, seed=int(g.integers(1 << 16)))
    assert sum(walked) > 4000
