"""The closed-form core against the step-by-step reference (tests/support/reference_model.py), run by run.

Same compiled scenario, same run generator: the two must give the same makespan, cost, cost split by activity
and pool, counts and lost work, up to float rounding. The scenarios cover what the core computes in closed form:
regular cycles with and without persist waits, notices with emergency saves, a fallback ladder across regions,
deadline policies (their switch instants are solved over the cycles, not polled), a gang, a replayed price with a
max price, real Can't Be Late traces, checkpoint migration between regions (egress and transfer time, a copy
kept where it was, emergency saves landing in the current region), and uniform progress staying on on-demand
while no spot pool has capacity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import simpy

from spotplan.simulator.model import simulate_once
from spotplan.simulator.montecarlo import run_rng
from spotplan.simulator.result import RunResult
from tests.support import reference_model as ref
from tests.support.sim import compiled, scenario, spot_pool, write_prices, write_trace

REL = 1e-9
ABS_S = 1e-5  # seconds: closed-form sums and event-by-event sums round differently


def _expo(mtbf_h: float, down_h: float = 0.5) -> dict[str, Any]:
    return {"kind": "exponential", "mtbf_h": mtbf_h, "downtime_h": down_h}


def _od(region: str = "us-west-2", price: float = 3.06, **kw: Any) -> dict[str, Any]:
    return {"instance_type": "p3.2xlarge", "region": region, "market": "on-demand",
            "price": {"kind": "fixed", "usd_per_h": price}, **kw}


def _on_demand_usd(r: RunResult) -> float:
    return sum(v for k, v in r.cost_by_pool_usd.items() if "on-demand" in k)


def _assert_same(a: RunResult, b: RunResult, where: str) -> None:
    assert a.finished == b.finished, where
    assert a.makespan_s == pytest.approx(b.makespan_s, rel=REL, abs=ABS_S), where
    assert a.cost_usd == pytest.approx(b.cost_usd, rel=REL, abs=1e-9), where
    for k in b.cost_by_bucket_usd:
        assert a.cost_by_bucket_usd[k] == pytest.approx(b.cost_by_bucket_usd[k], rel=1e-7, abs=1e-7), (where, k)
        assert a.time_by_bucket_s[k] == pytest.approx(b.time_by_bucket_s[k], rel=1e-7, abs=ABS_S), (where, k)
    for k in b.cost_by_pool_usd:
        assert a.cost_by_pool_usd[k] == pytest.approx(b.cost_by_pool_usd[k], rel=REL, abs=1e-9), (where, k)
    counts = ("interruptions", "checkpoints", "emergency_saves", "emergency_save_failures", "restarts",
              "failed_launches")
    assert {c: getattr(a, c) for c in counts} == {c: getattr(b, c) for c in counts}, where
    assert a.lost_work_s == pytest.approx(b.lost_work_s, rel=1e-7, abs=ABS_S), where
    assert a.deadline_met == b.deadline_met, where
    assert a.migrations == b.migrations, where
    assert a.egress_usd == pytest.approx(b.egress_usd, rel=1e-7, abs=1e-9), where


def _compare(doc: dict[str, Any], runs: int, base: Path | str = ".", seed: int = 11) -> list[RunResult]:
    cs = compiled(doc, base)
    out = []
    for i in range(runs):
        env = simpy.Environment()
        a = simulate_once(cs, run_rng(seed, i), keep_timeline=i < 3, env=env)
        b = ref.simulate_once(cs, run_rng(seed, i), keep_timeline=False)
        _assert_same(a, b, f"run {i}")
        out.append(a)
    return out


SAVE = {"save_s": 60.0, "persist_s": 200.0, "restore_s": 300.0, "provisioning_s": 240.0, "setup_s": 300.0}


def test_exponential_single_pool_waiting_for_capacity() -> None:
    doc = scenario([spot_pool("us-west-2a", "us-west-2", _expo(6.0))], work_h=60.0, interval_s=1800.0, **SAVE)
    res = _compare(doc, 40)
    assert sum(r.interruptions for r in res) > 200 and sum(r.checkpoints for r in res) > 4000
    assert all(r.time_by_bucket_s["waiting"] > 0 for r in res)


def test_ladder_with_notices_and_emergency_saves() -> None:
    # persist (60 s) longer than a compute segment (40 s): every cycle after the first waits for the persist
    pools = [spot_pool("us-west-2a", "us-west-2", _expo(3.0, 1.0), throughput_factor=1.0),
             spot_pool("us-east-1a", "us-east-1", _expo(4.0, 2.0), throughput_factor=0.8),
             spot_pool("eu-west-1a", "eu-west-1", _expo(8.0, 0.2), throughput_factor=0.6),
             _od()]
    doc = scenario(pools, work_h=30.0, interval_s=40.0, notice_s=120.0, emergency=True, lag_s=5.0,
                   **{**SAVE, "save_s": 20.0, "persist_s": 60.0})
    doc["job"]["step_time_s"] = 7.5
    doc["ladder"] = {"recovery": "eager-next-region"}
    res = _compare(doc, 30)
    assert sum(r.emergency_saves for r in res) > 20 and sum(r.emergency_save_failures for r in res) > 0


@pytest.mark.parametrize("policy", ["uniform-progress", "greedy"])
def test_deadline_policies(policy: str) -> None:
    pools = [spot_pool("us-west-2a", "us-west-2", _expo(2.0, 3.0)),
             spot_pool("us-west-2b", "us-west-2", _expo(2.0, 3.0)), _od()]
    doc = scenario(pools, work_h=20.0, interval_s=1200.0, notice_s=120.0, emergency=True, lag_s=5.0, **SAVE)
    doc["deadline"] = {"policy": policy, "deadline_h": 30.0}
    res = _compare(doc, 40)
    on_demand = [r for r in res if _on_demand_usd(r) > 0]
    assert on_demand and len(on_demand) < len(res)  # the policy switches in some runs, not all
    assert all(r.deadline_met for r in res)


def test_migration_across_regions_with_notices() -> None:
    """A 50 GB checkpoint on a ladder over three regions: each restart elsewhere pulls it (egress, transfer)."""
    pools = [spot_pool("us-west-2a", "us-west-2", _expo(3.0, 1.0)),
             spot_pool("us-east-1a", "us-east-1", _expo(4.0, 2.0), throughput_factor=0.8),
             spot_pool("eu-west-1a", "eu-west-1", _expo(8.0, 0.2), throughput_factor=0.6),
             _od("us-east-2")]
    doc = scenario(pools, work_h=30.0, interval_s=900.0, notice_s=120.0, emergency=True, lag_s=5.0,
                   **{**SAVE, "save_s": 20.0, "persist_s": 60.0})
    doc["checkpoint"]["checkpoint_bytes"] = 50 * 10**9
    doc["ladder"] = {"recovery": "eager-next-region"}
    res = _compare(doc, 30)
    assert sum(r.migrations for r in res) > 50 and all(r.egress_usd > 0 for r in res if r.migrations)
    assert sum(r.emergency_saves for r in res) > 10


@pytest.mark.parametrize("policy", ["uniform-progress", "greedy"])
def test_deadline_policies_across_regions_with_migration(policy: str) -> None:
    """Scarce spot in two regions, on-demand in a third: the deadline policies pay transfers and still agree."""
    pools = [spot_pool("us-west-2a", "us-west-2", _expo(1.5, 4.0)),
             spot_pool("us-east-1a", "us-east-1", _expo(1.5, 4.0)), _od("us-east-2")]
    doc = scenario(pools, work_h=20.0, interval_s=1200.0, notice_s=120.0, emergency=True, lag_s=5.0, **SAVE)
    doc["checkpoint"]["checkpoint_bytes"] = 25 * 10**9  # 100 s transfers (20 GB would make d hit an exact tie)
    doc["deadline"] = {"policy": policy, "deadline_h": 30.0}
    res = _compare(doc, 30, seed=4)
    assert all(r.deadline_met for r in res) and sum(r.migrations for r in res) > 10


def test_gang_of_four() -> None:
    doc = scenario([spot_pool("us-west-2a", "us-west-2", _expo(40.0, 1.0)), _od()], work_h=40.0,
                   interval_s=2400.0, notice_s=120.0, emergency=True, lag_s=5.0, **SAVE)
    doc["job"]["nodes"] = 4
    res = _compare(doc, 30)
    assert sum(r.interruptions for r in res) > 20


def test_replayed_price_with_a_max_price(tmp_path: Path) -> None:
    pts = [(f"2024-01-{d:02d}T{h:02d}:00:00Z", p) for d in range(1, 11) for h, p in ((0, 0.9), (9, 1.4), (15, 1.0))]
    path = write_prices(tmp_path, "us-west-2a", pts)
    pools = [spot_pool("us-west-2a", "us-west-2", _expo(30.0), price={"kind": "history", "path": path},
                       max_price_usd_per_h=1.2), _od()]
    doc = scenario(pools, work_h=50.0, interval_s=1800.0, notice_s=120.0, emergency=True, lag_s=5.0, **SAVE)
    del doc["replay"]
    res = _compare(doc, 30, base=tmp_path)
    assert sum(r.interruptions for r in res) > 15 and sum(_on_demand_usd(r) > 0
                                                         for r in res) > 10


def test_synthetic_trace_random_offsets(tmp_path: Path) -> None:
    values = ([1] * 7 + [0] * 2 + [1] * 3 + [0]) * 20
    path = write_trace(tmp_path, "us-west-2a", values, 600.0)
    pools = [spot_pool("us-west-2a", "us-west-2", {"kind": "trace", "path": path}), _od()]
    doc = scenario(pools, work_h=10.0, interval_s=500.0, notice_s=120.0, emergency=True, lag_s=5.0, **SAVE)
    del doc["replay"]
    _compare(doc, 40, base=tmp_path)


def test_cant_be_late_trace_replay(shared_data: Path) -> None:
    folder = shared_data / "cant_be_late_spot_traces/availability/1-node/aws-02-15-2023"
    pools = [spot_pool(z, z[:-1], {"kind": "trace", "path": str(folder / f"{z}_v100_1.json")})
             for z in ("us-west-2a", "us-east-1c")] + [_od()]
    doc = scenario(pools, work_h=100.0, interval_s=2400.0, notice_s=120.0, emergency=True, lag_s=5.0, **SAVE)
    del doc["replay"]
    res = _compare(doc, 25)
    assert sum(r.interruptions for r in res) > 25


def test_a_save_that_ends_at_the_termination_counts(tmp_path: Path) -> None:
    """Tie rule: snapshot (no persist) ends at 3600 s, the instant the trace takes the pool away."""
    path = write_trace(tmp_path, "us-west-2a", [1, 0, 1, 1, 1, 1], 3600.0)
    pools = [spot_pool("us-west-2a", "us-west-2", {"kind": "trace", "path": path}), _od()]
    doc = scenario(pools, work_h=2.0, interval_s=3000.0, save_s=600.0, replay={"start_offset_h": 0.0,
                                                                              "end_policy": "clamp"})
    cs = compiled(doc, tmp_path)
    a = simulate_once(cs, run_rng(0, 0))
    b = ref.simulate_once(cs, run_rng(0, 0))
    _assert_same(a, b, "tie")
    assert a.interruptions == 1 and a.lost_work_s == 0.0  # the checkpoint at 3000 s of work survived
    assert a.checkpoints >= 1
