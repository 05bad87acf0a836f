"""Elastic and wait-for-the-full-gang policies: a hand-computed 4-node trace, and properties on replayed counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotplan.errors import SpotplanError
from spotplan.simulator.counts import CountProcess, renewal_chunks, trace_chunks, width_factor
from spotplan.simulator.gang_job import next_save_end_s
from spotplan.simulator.schedule import SaveCosts, training_plan
from tests.support.sim import compiled, run, scenario, spot_pool, write_trace

H = 3600.0


def _gang_doc(path: str, gang: str, **job: Any) -> dict[str, Any]:
    """The hand-computed case: 4 nodes at $1/h each, 6 h of work, saves every 45 min of compute (free)."""
    doc = scenario([spot_pool("us-east-1f", "us-east-1", {"kind": "trace", "path": path})], work_h=6.0,
                   interval_s=2700.0, setup_s=0.2 * H, restore_s=0.1 * H)
    doc["job"].update({"nodes": 4, "gang": gang, **job})
    return doc


@pytest.fixture
def trace_4(tmp_path: Path) -> str:
    """4 nodes up for 2 h, 3 up until 4.5 h, then 4 again (30-min ticks)."""
    return write_trace(tmp_path, "gang4", [4] * 4 + [3] * 5 + [4] * 21, 1800.0)


def test_wait_hand_computed(trace_4: str) -> None:
    """Wait: lose 0.3 h of work at 2 h, wait 2.5 h, relaunch (setup 0.2 h + restore 0.1 h), 4.5 h to go."""
    r = run(_gang_doc(trace_4, "wait"))
    # Lifetime 1: setup 0-0.2 h, saves at 0.95 h and 1.7 h (progress 1.5 h), lost 1.7-2.0 h; 4 nodes x 2 h = $8.
    # Wait 2.0-4.5 h (unbilled). Lifetime 2: setup + restore to 4.8 h, 4.5 h of compute to 9.3 h: 4 x 4.8 h = $19.2.
    assert r.makespan_s == pytest.approx(9.3 * H)
    assert r.cost_usd == pytest.approx(27.2)
    b = r.cost_by_bucket_usd
    assert b["useful_compute"] == pytest.approx(24.0)
    assert b["lost_work"] == pytest.approx(1.2)
    assert b["changeover_restore"] == pytest.approx(2.0)  # setup 0.8 + 0.8, restore 0.4
    assert r.time_by_bucket_s["waiting"] == pytest.approx(2.5 * H)
    assert (r.interruptions, r.restarts) == (1, 1)


def test_elastic_hand_computed(trace_4: str) -> None:
    """Elastic: shrink to 3 nodes in place at 2 h, widen at the first save after the 4th node is back."""
    r = run(_gang_doc(trace_4, "elastic", min_nodes=2))
    # Lifetime 1 as with wait: $8 (setup 0.8, compute 6.0, lost 1.2).
    # Width 3 from 2.0 h: restore only (0.1 h), then 0.75 speed: 45 min of work per hour; saves at 3.1, 4.1, 5.1 h.
    #   The 4th node is back at 4.5 h; the first save after is at 5.1 h (progress 1.5 + 3 x 0.75 = 3.75 h).
    #   3 nodes x 3.1 h = $9.3 (restore 0.3, compute 9.0).
    # Width 4 from 5.1 h: setup 0.2 h + restore 0.1 h, 2.25 h of work to 7.65 h: 4 x 2.55 h = $10.2.
    assert r.makespan_s == pytest.approx(7.65 * H)
    assert r.cost_usd == pytest.approx(27.5)
    b = r.cost_by_bucket_usd
    assert b["useful_compute"] == pytest.approx(24.0)
    assert b["lost_work"] == pytest.approx(1.2)
    assert b["changeover_restore"] == pytest.approx(0.8 + 0.3 + 0.8 + 0.4)
    assert r.time_by_bucket_s["waiting"] == pytest.approx(0.0)
    assert (r.interruptions, r.restarts) == (1, 2)
    assert [(b.nodes, round(b.start_s / H, 6), round(b.end_s / H, 6)) for b in r.bills] == [
        (4, 0.0, 2.0), (3, 2.0, 5.1), (4, 5.1, 7.65)]


def test_elastic_below_min_waits(tmp_path: Path) -> None:
    """With min_nodes 4 the elastic gang is the waiting gang: same figures on the same trace."""
    path = write_trace(tmp_path, "g", [4] * 4 + [3] * 5 + [2] * 3 + [4] * 30, 1800.0)
    a, b = run(_gang_doc(path, "wait")), run(_gang_doc(path, "elastic", min_nodes=4))
    assert (b.makespan_s, b.cost_usd, b.interruptions, b.restarts) == pytest.approx(
        (a.makespan_s, a.cost_usd, a.interruptions, a.restarts))


@pytest.mark.parametrize("seed", range(6))
def test_elastic_not_slower_with_free_restarts(tmp_path: Path, seed: int) -> None:
    """With free restarts and saves, elastic never finishes later than wait on the same random count trace."""
    rng = np.random.default_rng(seed)
    values = np.clip(8 - rng.poisson(0.6, 300), 0, 8)
    values[rng.random(300) < 0.05] = 0
    path = write_trace(tmp_path, f"r{seed}", values.tolist(), 600.0)
    docs = {}
    for gang in ("wait", "elastic"):
        doc = scenario([spot_pool("us-west-2a", "us-west-2", {"kind": "trace", "path": path})], work_h=20.0,
                       interval_s=600.0)
        doc["job"].update({"nodes": 8, "gang": gang})
        docs[gang] = run(doc)
    assert docs["elastic"].finished and docs["wait"].finished
    assert docs["elastic"].makespan_s <= docs["wait"].makespan_s + 1e-6


def test_one_node_elastic_is_wait_renewal() -> None:
    """N = 1: elastic draws the very periods of the wait model (fitted lognormals), so the runs are identical."""
    out = []
    for gang in ("wait", "elastic"):
        doc = scenario([spot_pool("us-west-2a", "us-west-2", {"kind": "fitted"}),
                        {"instance_type": "p3.2xlarge", "region": "us-west-2", "market": "on-demand",
                         "price": {"kind": "fixed", "usd_per_h": 3.06}}],
                       work_h=30.0, interval_s=1800.0, save_s=20.0, notice_s=120.0, emergency=True, lag_s=5.0,
                       provisioning_s=120.0, setup_s=60.0, restore_s=30.0)
        doc["job"]["gang"] = gang
        doc["replay"] = {}
        out.append([run(doc, seed=s) for s in range(4)])
    for w, e in zip(*out, strict=True):
        assert (e.makespan_s, e.cost_usd, e.interruptions) == pytest.approx((w.makespan_s, w.cost_usd,
                                                                                w.interruptions))


def test_elastic_rejects_deadline_policy(trace_4: str) -> None:
    """A deadline policy with an elastic gang is refused in one line."""
    doc = _gang_doc(trace_4, "elastic")
    doc["pools"].append({"instance_type": "p3.2xlarge", "region": "us-east-1", "market": "on-demand",
                         "price": {"kind": "fixed", "usd_per_h": 3.0}})
    doc["deadline"] = {"policy": "greedy", "deadline_h": 20.0}
    with pytest.raises(SpotplanError, match="elastic' with deadline.policy 'greedy'"):
        run(doc)


def test_min_nodes_above_nodes_is_refused(trace_4: str) -> None:
    """min_nodes above nodes names the field."""
    with pytest.raises(Exception, match="min_nodes=5"):
        compiled(_gang_doc(trace_4, "elastic", min_nodes=5))


def test_width_factor_law() -> None:
    """Width k runs at k/N with linear scaling, and at (k/N) eff^(log2 k/N) otherwise (never below k/N)."""
    assert width_factor(3, 4) == pytest.approx(0.75)
    assert width_factor(64, 128, 0.93) == pytest.approx(0.5 / 0.93)
    assert all(width_factor(k, 16, 0.9) >= k / 16 for k in range(1, 17))


def test_trace_count_replay_wraps() -> None:
    """The count of a trace from an offset: tick values capped at N, the wrap seam merged."""
    cp = CountProcess(4, trace_chunks(np.array([4, 6, 2, 2, 4]), 10.0, 4, 15.0, True))
    # tick i holds on [10 i - 15, 10 i - 5): 4 to 5 s, 2 to 25 s, 4 to 55 s (across the seam), then 2 again
    assert [cp.count_at(t) for t in (0.0, 4.9, 5.0, 24.9, 25.0, 40.0, 54.9, 55.0, 75.0)] == [4, 4, 2, 2, 4, 4, 4, 2, 4]
    assert cp.first_change(0.0, below=3) == 5.0
    assert cp.first_change(5.0, at_least=4) == 25.0
    assert cp.first_change(25.0, below=4) == 55.0


def test_renewal_count_matches_nodes() -> None:
    """Independent nodes: the count stays in 0..N and its mean matches up / (up + down) per node."""
    def up(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(3.0, n)

    def down(rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.exponential(1.0, n)

    cp = CountProcess(16, renewal_chunks(up, down, 16, 1.0, np.random.default_rng(3)))
    ts = np.arange(0.0, 5000.0, 0.5)
    c = np.array([cp.count_at(t) for t in ts])
    assert c.min() >= 0 and c.max() <= 16
    assert c[200:].mean() == pytest.approx(16 * 0.75, rel=0.03)


def test_next_save_end() -> None:
    """The first regular snapshot ending at or after an instant, from the closed-form cycles."""
    plan = training_plan(t0_s=0.0, recovery=0.0, recovery_at_s=0.0, work=10_000.0, rate=1.0,
                         costs=SaveCosts(interval=1000.0, snapshot_s=10.0, persist_s=0.0, final_save=True),
                         setup_s=0.0, restore_s=0.0)
    assert next_save_end_s(plan, 0.0) == pytest.approx(1010.0)
    assert next_save_end_s(plan, 1010.0) == pytest.approx(1010.0)
    assert next_save_end_s(plan, 1011.0) == pytest.approx(2020.0)
    assert next_save_end_s(plan, 20_000.0) == float("inf")


def test_128_node_elastic_cost_follows_market_events() -> None:
    """A 70B-style gang of 128 p5 nodes (independent exponential failures): the elastic run finishes, and its SimPy
    events stay proportional to the node losses it meets, not to nodes x checkpoints."""
    import simpy

    from spotplan.schemas import Scenario
    from spotplan.simulator.compile import compile_scenario
    from spotplan.simulator.model import simulate_once

    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "exponential", "mtbf_h": 24.49, "downtime_h": 1.0},
                              instance_type="p5.48xlarge")],
                   work_h=48.0, interval_s=1800.0, save_s=30.0, restore_s=120.0, notice_s=120.0, emergency=True,
                   lag_s=5.0, provisioning_s=240.0, setup_s=300.0)
    doc["job"].update({"nodes": 128, "gang": "elastic"})
    doc["replay"] = {}
    cs = compile_scenario(Scenario.from_dict(doc, source="test"))
    env = simpy.Environment()
    r = simulate_once(cs, np.random.default_rng(5), keep_timeline=False, env=env)
    assert r.finished and r.makespan_s < 70 * H
    assert r.interruptions > 50  # about 128 x 64 h / 25.5 h node cycles lose a node every ~12 min
    assert next(env._eid) <= 4 * (r.restarts + r.failed_launches + r.interruptions) + 20
    assert r.checkpoints > 40  # regular saves (restarts from emergency saves start new cycles): none is an event
    assert {b.nodes for b in r.bills} <= set(range(64, 129))


def test_common_shock_keeps_one_nodes_reclaim_rate() -> None:
    """Splitting a single-instance process into zone-wide and partial reclaims keeps one node's reclaim rate."""
    from spotplan.simulator.availability import ExponentialSampler
    from spotplan.simulator.counts import CommonShock

    shock = CommonShock.split(ExponentialSampler(mean_s=10 * H), ExponentialSampler(mean_s=H), 10 * H,
                              zone_share=0.78, fraction=0.36, down_mean_s=0.5 * H)
    cp = CountProcess(1, shock.chunks(1, 1.0, np.random.default_rng(9)))
    t = np.asarray([cp.start(i) for i in range(40_000)])
    c = np.asarray(cp.counts[:40_000])
    up_s = float(np.sum(np.diff(t)[c[:-1] == 1]))
    losses = int(np.sum((c[:-1] == 1) & (c[1:] == 0)))
    assert up_s / losses == pytest.approx(10 * H, rel=0.05)


@pytest.mark.parametrize("seed", range(4))
def test_common_shock_elastic_not_slower_than_wait(seed: int) -> None:
    """On the same correlated market (16 nodes, common shock), elastic with free restarts never finishes later."""
    out = {}
    for gang in ("wait", "elastic"):
        doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "exponential", "mtbf_h": 6.0,
                                                               "downtime_h": 1.0, "gang_model": "common-shock"})],
                       work_h=30.0, interval_s=900.0)
        doc["job"].update({"nodes": 16, "gang": gang})
        out[gang] = run(doc, seed=seed)
    assert out["wait"].finished and out["elastic"].finished
    assert out["elastic"].makespan_s <= out["wait"].makespan_s + 1e-6
    assert out["wait"].interruptions > 0


def test_common_shock_needs_a_renewal_source(trace_4: str) -> None:
    """gang_model common-shock on a trace is refused in one line (the trace already counts the nodes)."""
    doc = _gang_doc(trace_4, "wait")
    doc["pools"][0]["availability"]["gang_model"] = "common-shock"
    with pytest.raises(SpotplanError, match="common-shock' applies to renewal sources"):
        compiled(doc)


@settings(max_examples=25)
@given(values=st.lists(st.integers(0, 6), min_size=4, max_size=40), min_nodes=st.integers(1, 6),
       save_s=st.sampled_from([0.0, 30.0]), setup_s=st.sampled_from([0.0, 120.0]))
def test_elastic_invariants(tmp_path_factory: pytest.TempPathFactory, values: list[int], min_nodes: int,
                            save_s: float, setup_s: float) -> None:
    """Any count trace: an elastic run's bills are widths in min_nodes..N, its cost splits sum to the total, it is
    never faster than the full gang's compute, and widths change only at restarts."""
    if max(values) < min_nodes:
        values = [*values, min_nodes]
    path = write_trace(tmp_path_factory.mktemp("h"), "h", values, 900.0)
    doc = scenario([spot_pool("us-west-2a", "us-west-2", {"kind": "trace", "path": path})], work_h=3.0,
                   interval_s=1200.0, save_s=save_s, setup_s=setup_s, restore_s=60.0, provisioning_s=60.0,
                   notice_s=120.0, emergency=True, lag_s=5.0)
    doc["job"].update({"nodes": 6, "gang": "elastic", "min_nodes": min_nodes})
    r = run(doc)
    assert all(min_nodes <= b.nodes <= 6 for b in r.bills)
    assert sum(r.cost_by_bucket_usd.values()) == pytest.approx(r.cost_usd, abs=1e-6)
    assert r.cost_usd >= 0
    if r.finished:
        assert r.makespan_s >= 3.0 * H - 1e-6
        assert r.time_by_bucket_s["useful_compute"] >= 3.0 * H - 1e-6  # narrower widths compute longer
    assert len(r.bills) == r.restarts + 1 or not r.finished
