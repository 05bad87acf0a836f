"""Deadline policies: the safety net, greedy, and Uniform Progress with its 2d hysteresis and no-thrash rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spotplan.schemas.scenario import DeadlinePolicy
from spotplan.simulator.deadline import Choice, DeadlineState, decide, safety_net
from tests.support.sim import compiled, run, scenario, spot_pool, write_trace

UP, GREEDY = DeadlinePolicy.UNIFORM_PROGRESS, DeadlinePolicy.GREEDY
H = 3600.0


def state(**kw) -> DeadlineState:
    base = {"now_s": 0.0, "progress_s": 0.0, "work_s": 48 * H, "deadline_s": 60 * H, "changeover_s": 0.2 * H,
            "od_rate": 1.0, "on_demand_now": False, "spot_available": False, "committed": False}
    return DeadlineState(**(base | kw))


def test_safety_net_fires_when_slack_is_two_changeovers() -> None:
    """R(t) < C(t) + 2d (C includes one changeover when not on on-demand) commits to on-demand."""
    # 48 h of work left: on-demand needs 48 + 0.2 (switch) + 0.4 (2d) = 48.6 h, so it fires at t = 11.4 h.
    assert not safety_net(state(now_s=11.4 * H - 1, progress_s=0.0))
    assert safety_net(state(now_s=11.4 * H + 1, progress_s=0.0))
    d = decide(GREEDY, state(now_s=11.4 * H + 1, spot_available=True))
    assert d.choice is Choice.ON_DEMAND and d.commit
    assert decide(UP, state(committed=True, spot_available=True)).choice is Choice.ON_DEMAND


def test_greedy_idles_without_spot_until_the_safety_net() -> None:
    """Greedy takes spot when it can and otherwise waits, looking again when the safety net would fire."""
    assert decide(GREEDY, state(spot_available=True)).choice is Choice.SPOT
    d = decide(GREEDY, state(now_s=2 * H, progress_s=1 * H))
    assert d.choice is Choice.IDLE
    assert abs(d.next_check_s - (60 - 47 - 0.6) * H) < 1e-6  # slack 60-2-47-0.6 h runs out at t = 12.4 h


def test_up_goes_on_demand_when_idle_and_behind() -> None:
    """Idle with cp < ep(t) = t*C/R: on-demand; idle and ahead: wait until falling behind."""
    assert decide(UP, state(now_s=10 * H, progress_s=7 * H)).choice is Choice.ON_DEMAND  # ep = 8 h
    d = decide(UP, state(now_s=10 * H, progress_s=9 * H))
    assert d.choice is Choice.IDLE and abs(d.next_check_s - 9 * H / 0.8) < 1e-6
    assert decide(UP, state(now_s=10 * H, progress_s=7 * H, spot_available=True)).choice is Choice.SPOT  # risks


def test_up_hysteresis_stays_on_demand_until_ahead_of_ep_t_plus_2d() -> None:
    """On on-demand UP stays until cp >= ep(t + 2d), even with spot available; then leaves for spot, and stays
    while no spot pool has capacity (the no-thrash rule, instead of the paper's rule 3 idle)."""
    ep_t2d = 0.8 * (10 + 0.4) * H  # 8.32 h
    stay = decide(UP, state(now_s=10 * H, progress_s=8.2 * H, on_demand_now=True, spot_available=True))
    assert stay.choice is Choice.ON_DEMAND
    assert abs(stay.next_check_s - (10 * H + (ep_t2d - 8.2 * H) / (1.0 - 0.8))) < 1e-6
    no_spot = decide(UP, state(now_s=10 * H, progress_s=8.4 * H, on_demand_now=True))
    assert no_spot.choice is Choice.ON_DEMAND and not no_spot.commit  # idling would only fall behind again
    leave_spot = decide(UP, state(now_s=10 * H, progress_s=8.4 * H, on_demand_now=True, spot_available=True))
    assert leave_spot.choice is Choice.SPOT


def _deadline_doc(tmp_path: Path, policy: str) -> dict:
    # Spot for the first hour, then gone for 40 h; 10 h of work, 16 h deadline, d = 0.1 h.
    trace = write_trace(tmp_path, "a", [1] * 6 + [0] * 240 + [1] * 100, 600.0)
    od = {"instance_type": "p3.2xlarge", "region": "us-east-1", "market": "on-demand", "name": "OD",
          "price": {"kind": "fixed", "usd_per_h": 3.0}}
    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": trace}, name="S"), od],
                   work_h=10.0, interval_s=1800.0, save_s=10.0, provisioning_s=180.0, setup_s=180.0,
                   deadline={"policy": policy, "deadline_h": 16.0})
    return doc


def test_both_policies_meet_the_deadline_and_up_switches_earlier(tmp_path: Path) -> None:
    """Greedy idles until the safety net, then stays on-demand; UP goes on-demand as soon as it is behind and,
    with no spot to go back to, stays there (one launch, no idle-and-relaunch thrash); both finish in time."""
    greedy = run(_deadline_doc(tmp_path, "greedy"))
    up = run(_deadline_doc(tmp_path, "uniform-progress"))
    assert greedy.deadline_met and up.deadline_met
    g_od = [b for b in greedy.bills if b.pool == "OD"]
    u_od = [b for b in up.bills if b.pool == "OD"]
    assert len(g_od) == 1 and len(u_od) == 1
    assert u_od[0].start_s < g_od[0].start_s
    assert u_od[0].start_s == 1.0 * H + 180.0  # behind at once after the 1 h spot run: launched, billed at +180 s
    assert max(greedy.makespan_s, up.makespan_s) <= 16 * H


def test_up_does_not_thrash_on_a_scarce_real_zone(shared_data: Path) -> None:
    """Can't Be Late's us-east-1c p3.2xlarge trace (aws-02-15-2023), 40 h job, 60 h deadline, 0.2 h restart: UP
    costs no more than on-demand throughout (it used to leave on-demand with no spot to go to: 31 launches)."""
    import json

    from spotplan.simulator.model import simulate_once

    trace = shared_data / "cant_be_late_spot_traces/availability/1-node/aws-02-15-2023/us-east-1c_v100_1.json"
    prices = shared_data / "skynomad/v100_spot_prices.json"
    if not trace.is_file() or not prices.is_file():
        pytest.skip("the Can't Be Late 2023-02-15 trace or the SkyNomad per-tick prices are absent")
    ticks = json.loads(prices.read_text())["us-east-1c_v100_1"]
    spot_usd_per_h = sum(ticks) / len(ticks)  # the zone's mean spot price over the trace ($1.28/h)
    od = {"instance_type": "p3.2xlarge", "region": "us-east-1", "market": "on-demand", "name": "OD",
          "price": {"kind": "fixed", "usd_per_h": 3.06}}
    spot = spot_pool("us-east-1c", "us-east-1", {"kind": "trace", "path": str(trace)}, name="S",
                     price={"kind": "fixed", "usd_per_h": spot_usd_per_h})
    kw = {"work_h": 40.0, "interval_s": 1800.0, "setup_s": 720.0,
          "deadline": {"policy": "uniform-progress", "deadline_h": 60.0},
          "replay": {"start_offset_h": 0.0, "end_policy": "clamp"}}
    up = simulate_once(compiled(scenario([spot, od], **kw)), np.random.default_rng(0))
    od_only = simulate_once(compiled(scenario([od], **{**kw, "deadline": {"policy": "none", "deadline_h": 60.0}})),
                            np.random.default_rng(0))
    assert up.deadline_met and od_only.deadline_met
    assert up.cost_usd <= od_only.cost_usd  # $118-122 against $123.0
    assert sum(b.pool == "OD" for b in up.bills) <= 10  # 7 on-demand launches (31 before the no-thrash rule)
