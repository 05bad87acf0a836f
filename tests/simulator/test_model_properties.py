"""Invariants of the model over random scenarios (hypothesis): costs add up, nothing negative, work is done or the
run is cut at the horizon and reported so.

Some drawn scenarios cannot finish (a 3-node gang of 0.2 h MTBF instances and no on-demand rung is interrupted
every few minutes, before a restart and a save complete). The model cuts such a run at its horizon
(``CompiledScenario.max_sim_s``), or as soon as it can no longer finish by then, with ``finished=False``; the test bounds that horizon so every example is
short, and checks what a cut run must report instead of failing on it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from spotplan.simulator.model import simulate_once
from tests.support.sim import compiled, scenario, spot_pool

HORIZON_WORK_MULTIPLE = 20.0  # a run still unfinished after 20x its work is cut (the model's default is 100x)
OD = {"instance_type": "p3.2xlarge", "region": "us-east-1", "market": "on-demand",
      "price": {"kind": "fixed", "usd_per_h": 3.06}}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mtbf_h=st.floats(0.2, 50), down_h=st.floats(0, 3), work_h=st.floats(0.5, 20), save_s=st.floats(0, 300),
    persist_s=st.floats(0, 400), notice_s=st.sampled_from([0.0, 30.0, 120.0]), emergency=st.booleans(),
    with_od=st.booleans(), nodes=st.integers(1, 4), seed=st.integers(0, 2**32 - 1),
    policy=st.sampled_from(["none", "greedy", "uniform-progress"]),
)
# the scenario that once hung CI: a job that cannot finish, cut at the horizon
@example(mtbf_h=0.2, down_h=0.0, work_h=5.0, save_s=300.0, persist_s=400.0, notice_s=0.0, emergency=False,
         with_od=False, nodes=3, seed=1, policy="none")
def test_invariants(mtbf_h: float, down_h: float, work_h: float, save_s: float, persist_s: float, notice_s: float,
                    emergency: bool, with_od: bool, nodes: int, seed: int, policy: str) -> None:
    """Cost >= 0 and equal to its splits; makespan covers work and saves; timeline intervals are ordered."""
    pools = [spot_pool("us-east-1a", "us-east-1", {"kind": "exponential", "mtbf_h": mtbf_h, "downtime_h": down_h}),
             spot_pool("us-west-2a", "us-west-2", {"kind": "exponential", "mtbf_h": mtbf_h, "downtime_h": down_h})]
    if with_od or policy != "none":
        pools.append(OD)
    doc = scenario(pools, work_h=work_h, interval_s=1800.0, save_s=save_s, persist_s=persist_s, notice_s=notice_s,
                   emergency=emergency, lag_s=5.0, provisioning_s=120.0, setup_s=60.0, restore_s=90.0)
    doc["job"]["nodes"] = nodes
    if policy != "none":
        doc["deadline"] = {"policy": policy, "deadline_h": work_h * 1.5 + 1}
    cs = compiled(doc)
    cs = replace(cs, max_sim_s=HORIZON_WORK_MULTIPLE * work_h * 3600.0)
    r = simulate_once(cs, np.random.default_rng(seed))
    assert r.cost_usd >= 0 and all(v >= -1e-9 for v in r.cost_by_bucket_usd.values())
    assert sum(r.cost_by_bucket_usd.values()) == pytest.approx(r.cost_usd, abs=1e-9)
    assert sum(r.cost_by_pool_usd.values()) == pytest.approx(r.cost_usd, abs=1e-9)
    if r.finished:
        assert r.makespan_s >= cs.work_s / max(p.throughput for p in cs.pools) - 1e-6
        assert r.time_by_bucket_s["useful_compute"] == pytest.approx(cs.work_s, rel=1e-9)
    else:  # cut at the horizon: reported as such, never as a met deadline or as finished work
        assert r.makespan_s == pytest.approx(cs.max_sim_s)
        assert r.time_by_bucket_s["useful_compute"] < cs.work_s
        assert r.deadline_met in (None, False)
    prev_end = 0.0
    for iv in r.timeline:
        assert iv.end_s >= iv.start_s >= prev_end - 1e-6
        prev_end = iv.end_s
    if r.finished:
        assert r.timeline[-1].end_s == pytest.approx(r.makespan_s)
    else:  # given up once it could no longer finish by the horizon, at or before it
        assert r.timeline[-1].end_s <= r.makespan_s + 1e-6
