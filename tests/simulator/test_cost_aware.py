"""The cost-aware deadline policy: residual lifetimes, prices per progress, migration, slack, and a real replay."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from spotplan.simulator.cost_aware import (
    PoolNow,
    Situation,
    choose,
    leave_on_demand,
    lifetimes_s,
    move_from_spot,
    spot_usd_per_progress,
    stay_usd_per_progress,
)
from spotplan.simulator.residual import Lengths, Residuals

H = 3600.0


def test_residual_lengths_by_hand() -> None:
    """Lengths 1, 2, 3, 10 h: E[L - a | L > a], P(end within h), and the residual lifetimes, by hand."""
    lengths = Lengths.of(np.array([1.0, 2.0, 3.0, 10.0]) * H)
    assert lengths.remaining_s(0.0) == pytest.approx(4.0 * H)
    assert lengths.remaining_s(2.5 * H) == pytest.approx(((3 - 2.5) + (10 - 2.5)) / 2 * H)
    assert lengths.ends_within(0.0, 2.5 * H) == pytest.approx(0.5)
    assert lengths.residuals_s(2.5 * H).tolist() == pytest.approx([0.5 * H, 7.5 * H])
    assert lengths.residuals_s(12.0 * H).tolist() == pytest.approx([1 * H, 2 * H, 3 * H, 10 * H])  # as if afresh


def _res(up_h: float, down_h: float) -> Residuals:
    ups = Lengths.of(np.full(50, up_h * H))
    return Residuals(up=ups, down=Lengths.of(np.full(50, down_h * H)), mean_up_s=up_h * H)


def _pool(i: int, usd_per_h: float, *, up: bool = True, spot: bool = True, move_usd: float = 0.0,
          move_s: float = 0.0, res: Residuals | None = None, age_h: float = 0.0, past_sample: bool = True) -> PoolNow:
    return PoolNow(index=i, spot=spot, available=up, usd_per_s=usd_per_h / H, rate=1.0, age_s=age_h * H,
                   move_usd=move_usd, move_s=move_s, res=res or _res(20.0, 1.0), past_sample=past_sample)


def _sit(now_h: float = 0.0, progress_h: float = 1.0, work_h: float = 10.0, deadline_h: float = 30.0) -> Situation:
    return Situation(now_s=now_h * H, progress_s=progress_h * H, work_s=work_h * H, deadline_s=deadline_h * H,
                     provisioning_s=240.0, setup_s=180.0, restore_s=300.0, lost_per_restart_s=600.0,
                     safety_s=1440.0)


def test_price_per_progress_of_a_long_lived_pool_is_its_price_plus_startup() -> None:
    """A pool that outlives the job: (price x (startup + 9 h) + egress) / 9 h of progress."""
    p = _pool(0, 0.9, move_usd=1.0, move_s=200.0)
    want = (0.9 / H * (180 + 200 + 300 + 9 * H) + 1.0) / (9 * H)
    assert spot_usd_per_progress(_sit(), p) == pytest.approx(want)


def test_a_launch_is_priced_over_the_residual_lifetimes_with_the_free_first_hour() -> None:
    """Periods of 0.5 h and 10 h, 30 h of work left, 240 s provisioning, 480 s setup and restore, 600 s lost per
    interruption: the short lifetime (1,560 s billed) is free and keeps 480 s of progress, the long one bills
    35,760 s and keeps 34,680 s; the price per progress is the ratio of the means. From a renewal source's law
    these two are the lifetimes; from a trace's past a third, longer than both (chance 1/3), outlasts the job:
    it bills the 480 s of startup and the 30 h and keeps the 30 h."""
    res = Residuals(Lengths.of(np.array([0.5, 10.0]) * H), Lengths.of(np.array([H])), 5.25 * H)
    sit = _sit(progress_h=1.0, work_h=31.0, deadline_h=60.0)
    law = _pool(0, 0.9, res=res, past_sample=False)
    assert lifetimes_s(law).tolist() == pytest.approx([0.5 * H, 10 * H])
    assert spot_usd_per_progress(sit, law) == pytest.approx(0.9 / H * (0 + 35760) / (480 + 34680))
    past = _pool(0, 0.9, res=res)
    assert lifetimes_s(past).tolist() == [0.5 * H, 10 * H, np.inf]
    want = 0.9 / H * (0 + 35760 + 480 + 30 * H) / (480 + 34680 + 30 * H)
    assert spot_usd_per_progress(sit, past) == pytest.approx(want)


def test_a_pool_seen_only_in_short_periods_is_not_priced_at_infinity() -> None:
    """Window 0 of the multi-region benchmark: two completed up periods of 0.15 h and 0.1 h, both shorter than a
    restart (the long period before the trace began is not counted). Over those two alone a launch keeps no
    progress (price INF, so the job sat on on-demand while the pool ran for hours); with the third lifetime that
    outlasts the job, the two short ones are free and keep nothing, and the price is the plain rate's."""
    res = Residuals(Lengths.of(np.array([0.15, 0.1]) * H), Lengths.of(np.array([0.5 * H])), 1.0 * H)
    sit = _sit(progress_h=1.0, work_h=31.0, deadline_h=60.0)
    assert spot_usd_per_progress(sit, _pool(0, 0.9, res=res, past_sample=False)) == np.inf
    assert spot_usd_per_progress(sit, _pool(0, 0.9, res=res)) == pytest.approx(0.9 / H * (480 + 30 * H) / (30 * H))


def test_staying_in_the_first_hour_keeps_the_refund() -> None:
    """The same pool 900 s into its period and into the instance's bill: if the period is the short one, the cloud
    ends the instance at 1,800 s and the 900 s already billed are refunded (-900 s against a stop now); past the
    first hour the same residuals bill in full."""
    res = Residuals(Lengths.of(np.array([0.5, 10.0]) * H), Lengths.of(np.array([H])), 5.25 * H)
    p = _pool(0, 0.9, res=res, age_h=0.25, past_sample=False)  # the two lifetimes only (a renewal source's law)
    sit = _sit(progress_h=1.0, work_h=31.0, deadline_h=60.0)
    gain = (300 + 34500) / 2
    assert stay_usd_per_progress(sit, p, 900.0) == pytest.approx(0.9 / H * (-900 + 35100) / 2 / gain)
    assert stay_usd_per_progress(sit, p, H) == pytest.approx(0.9 / H * (900 + 35100) / 2 / gain)


def test_the_cheapest_pool_wins_and_migration_is_priced() -> None:
    """Two pools at $0.90/h: the one holding the checkpoint wins; a $0.85/h pool elsewhere wins only when its
    saving over the rest of the work beats the move ($0.45 on 9 h) and loses when the egress is dearer."""
    od = _pool(9, 3.06, spot=False, res=Residuals(Lengths.of(np.zeros(0)), Lengths.of(np.zeros(0)), np.inf))
    home, away = _pool(0, 0.9), _pool(1, 0.9, move_usd=1.0, move_s=200.0)
    assert choose(_sit(), [away, home], od).index == 0
    cheap = _pool(1, 0.85, move_usd=0.2, move_s=200.0)
    assert choose(_sit(), [home, cheap], od).index == 1
    dear = _pool(1, 0.85, move_usd=2.0, move_s=200.0)
    assert choose(_sit(), [home, dear], od).index == 0


def test_no_spot_waits_with_slack_and_bridges_on_demand_without() -> None:
    """Every spot pool down: plenty of slack -> idle; slack spent -> on-demand now."""
    od = _pool(9, 3.06, spot=False, res=Residuals(Lengths.of(np.zeros(0)), Lengths.of(np.zeros(0)), np.inf))
    down = [_pool(0, 0.9, up=False, res=_res(5.0, 2.0)), _pool(1, 0.9, up=False, res=_res(5.0, 2.0))]
    wait = choose(_sit(deadline_h=40.0), down, od)
    assert wait.index is None and wait.next_check_s > 0
    assert choose(_sit(deadline_h=10.5), down, od).index == 9


def test_on_demand_is_left_for_spot_only_with_slack_to_spare() -> None:
    """At a spot capacity event on on-demand: leave with slack to spare, stay when it is short."""
    od = _pool(9, 3.06, spot=False, res=Residuals(Lengths.of(np.zeros(0)), Lengths.of(np.zeros(0)), np.inf))
    spots = [_pool(0, 0.9)]
    assert leave_on_demand(_sit(deadline_h=30.0), spots, od) == 0
    assert leave_on_demand(_sit(deadline_h=9.5), spots, od) is None


def test_a_much_cheaper_pool_is_worth_a_move() -> None:
    """On a $1.40/h pool, a $0.92/h pool coming up is worth a stop and restart; a $1.38/h one is not."""
    od = _pool(9, 3.06, spot=False, res=Residuals(Lengths.of(np.zeros(0)), Lengths.of(np.zeros(0)), np.inf))
    here = _pool(0, 1.40)
    assert move_from_spot(_sit(), [here, _pool(1, 0.92, move_usd=0.5, move_s=200.0)], od, 0) == 1
    assert move_from_spot(_sit(), [here, _pool(1, 1.38, move_usd=0.5, move_s=200.0)], od, 0) is None


def test_cost_aware_on_three_real_zones(shared_data: Path) -> None:
    """Can't Be Late's 2023-02-15 p3.2xlarge traces of us-east-1c, us-east-2b and us-west-2a (each at its mean
    SkyNomad spot price), on-demand in us-east-1, 40 h job, 60 h deadline, 50 GB checkpoint: every policy meets the
    deadline on two windows, and on the one with 300 h of the trace's past to learn from the cost-aware policy costs
    less than uniform progress and greedy. (At offset 0 it has no past: it once won there too, but only because its
    lifetimes were fitted on the whole trace, the window's future included.)"""
    import json

    from spotplan.simulator.model import simulate_once
    from tests.support.sim import compiled, scenario, spot_pool

    folder = shared_data / "cant_be_late_spot_traces/availability/1-node/aws-02-15-2023"
    prices = shared_data / "skynomad/v100_spot_prices.json"
    zones = ("us-east-1c", "us-east-2b", "us-west-2a")
    if not prices.is_file() or not all((folder / f"{z}_v100_1.json").is_file() for z in zones):
        pytest.skip("the Can't Be Late 2023-02-15 traces or SkyNomad's per-tick prices are absent")
    ticks = json.loads(prices.read_text())
    pools = [spot_pool(z, z[:-1], {"kind": "trace", "path": str(folder / f"{z}_v100_1.json")},
                       price={"kind": "fixed", "usd_per_h": float(np.mean(ticks[f"{z}_v100_1"]))}) for z in zones]
    pools.append({"instance_type": "p3.2xlarge", "region": "us-east-1", "market": "on-demand",
                  "price": {"kind": "fixed", "usd_per_h": 3.06}})
    costs: dict[str, list[float]] = {}
    for policy in ("cost-aware", "uniform-progress", "greedy"):
        for off_h in (0.0, 300.0):  # a scarce start, then a window the ladder order pays dear for
            doc = scenario(pools, work_h=40.0, interval_s=1800.0, save_s=30.0, persist_s=60.0, restore_s=300.0,
                           notice_s=120.0, emergency=True, lag_s=5.0, provisioning_s=240.0, setup_s=180.0,
                           deadline={"policy": policy, "deadline_h": 60.0},
                           replay={"start_offset_h": off_h, "end_policy": "clamp"})
            doc["checkpoint"]["checkpoint_bytes"] = 50 * 10**9
            doc["ladder"] = {"recovery": "eager-next-region"}
            r = simulate_once(compiled(doc), np.random.default_rng(0))
            assert r.deadline_met, (policy, off_h)
            costs.setdefault(policy, []).append(r.cost_usd)
    for other in ("uniform-progress", "greedy"):
        assert costs["cost-aware"][1] < costs[other][1], costs


def test_cost_aware_does_not_spend_the_slack_waiting_on_a_gang() -> None:
    """The 4-node Can't Be Late gang example with a 72 h deadline and a 50 GB checkpoint: waits for cheaper pools
    must not add up to the safety net (they once did, and the rest ran on on-demand at twice the cost)."""
    import yaml

    from spotplan.errors import SpotplanError
    from spotplan.paths import data_dir
    from spotplan.schemas.scenario import Scenario
    from spotplan.simulator.compile import compile_scenario
    from spotplan.simulator.model import simulate_once
    from spotplan.simulator.montecarlo import run_rng

    ex = data_dir() / "examples"
    doc = yaml.safe_load((ex / "cbl-4node-gang.yaml").read_text())
    doc["checkpoint"]["checkpoint_bytes"] = 50 * 10**9
    mean = {}
    for policy in ("cost-aware", "greedy"):
        doc["deadline"] = {"policy": policy, "deadline_h": 72.0}
        try:
            cs = compile_scenario(Scenario.from_dict(doc, source="gang"), base_dir=ex, source="gang")
        except SpotplanError as exc:  # the example replays public traces
            pytest.skip(f"the example's traces are absent: {exc}")
        runs = [simulate_once(cs, run_rng(0, i), keep_timeline=False) for i in range(10)]
        assert all(r.deadline_met for r in runs), policy
        mean[policy] = float(np.mean([r.cost_usd for r in runs]))
    assert mean["cost-aware"] <= mean["greedy"]


def _no_history() -> Residuals:
    """A replayed pool with no completed period in its past (the start of a trace)."""
    return Residuals(Lengths.of(np.zeros(0)), Lengths.of(np.zeros(0)), 0.0)


def test_with_no_history_the_decisions_are_uniform_progress() -> None:
    """Pools with no completed period in their past: a pool with capacity is launched (spot whenever available);
    every pool down: idle while ahead of work x t / deadline (until it falls behind, looked at every 900 s), on
    on-demand once behind; a running instance is not moved to a much cheaper pool of unknown lifetimes, though
    it is to one whose law is known (a renewal source that never ends a period)."""
    od = _pool(9, 3.06, spot=False, res=_no_history())
    sit = _sit(now_h=0.0, progress_h=0.0, work_h=10.0, deadline_h=15.0)
    assert choose(sit, [_pool(0, 0.9, res=_no_history()), _pool(1, 0.95, up=False, res=_no_history())], od) \
        .index == 0
    down = [_pool(0, 0.9, up=False, res=_no_history()), _pool(1, 0.95, up=False, res=_no_history())]
    ahead = choose(_sit(now_h=3.0, progress_h=2.5, work_h=10.0, deadline_h=15.0), down, od)
    assert ahead.index is None and ahead.next_check_s == pytest.approx(3.0 * H + 900.0)
    last = choose(_sit(now_h=3.6, progress_h=2.5, work_h=10.0, deadline_h=15.0), down, od)
    assert last.index is None and last.next_check_s == pytest.approx(2.5 * H * 15.0 / 10.0)  # behind at 3.75 h
    assert choose(_sit(now_h=3.75, progress_h=2.5, work_h=10.0, deadline_h=15.0), down, od).index == 9
    here = _pool(0, 1.40)
    unknown = _pool(1, 0.5, res=_no_history())
    assert move_from_spot(_sit(), [here, unknown], od, 0) is None
    endless = _pool(1, 0.5, res=Residuals(Lengths.of(np.zeros(0)), Lengths.of(np.zeros(0)), np.inf),
                    past_sample=False)
    assert move_from_spot(_sit(), [here, endless], od, 0) == 1


def test_a_trace_start_with_short_periods_is_run_like_uniform_progress(tmp_path: Path) -> None:
    """A hand-built trace of one zone (0.1 h ticks) replayed from its first tick: up 0-3 h (begun before the trace,
    so not a completed period), 0.1 h blips at 3.5 h and 4 h, then up from 6 h to the end; on-demand at $3.06/h,
    10 h of work, 16 h deadline. Both policies launch spot at 0, at each blip and at 6 h (uniform progress's
    instances, in its order), bridging on on-demand in between; cost-aware once priced the pool at infinity after
    the two blips (neither outlasts a restart) and ran the last 7.6 h on on-demand ($26.00)."""
    from spotplan.simulator.model import simulate_once
    from tests.support.sim import compiled, scenario, spot_pool, write_trace

    ticks = [1] * 30 + [0] * 5 + [1] + [0] * 4 + [1] + [0] * 19 + [1] * 200
    pools = [spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": write_trace(tmp_path, "a", ticks, 360.0)},
                       price={"kind": "fixed", "usd_per_h": 0.9}),
             {"instance_type": "p3.2xlarge", "region": "us-east-1", "market": "on-demand",
              "price": {"kind": "fixed", "usd_per_h": 3.06}}]
    runs = {}
    for policy in ("uniform-progress", "cost-aware"):
        doc = scenario(pools, work_h=10.0, provisioning_s=240.0, setup_s=180.0, restore_s=300.0, interval_s=1800.0,
                       deadline={"policy": policy, "deadline_h": 16.0},
                       replay={"start_offset_h": 0.0, "end_policy": "clamp"})
        runs[policy] = simulate_once(compiled(doc), np.random.default_rng(0))
    up, ca = runs["uniform-progress"], runs["cost-aware"]
    assert up.deadline_met and ca.deadline_met
    spot, od = "p3.2xlarge/us-east-1a/spot", "p3.2xlarge/us-east-1/on-demand"
    assert [b.pool for b in ca.bills] == [b.pool for b in up.bills] == [spot, spot, spot, od, spot]
    assert [round(b.start_s / H, 3) for b in ca.bills if b.pool == spot] == [0.067, 3.567, 4.067, 6.067]
    assert ca.cost_usd <= up.cost_usd


def test_a_gang_is_refunded_only_the_reclaimed_node_and_nothing_without_the_rule() -> None:
    """The pool of the free-first-hour test as a 2-node gang (its price the gang's): a short lifetime ended by the
    cloud refunds one node's half of its 1,560 s, the other node's half is billed (780 s of the gang's price);
    with the billing rule off it bills all 1,560 s. Staying 900 s in: the short lifetime's refund share of the
    whole 1,800 s is half, so it bills 900 s - 900 s = 0 beyond the bill so far, not -900 s."""
    res = Residuals(Lengths.of(np.array([0.5, 10.0]) * H), Lengths.of(np.array([H])), 5.25 * H)
    sit = _sit(progress_h=1.0, work_h=31.0, deadline_h=60.0)
    gain = 480 + 34680
    for share, short_bill in ((1.0, 0.0), (0.5, 780.0), (0.0, 1560.0)):
        p = dataclasses.replace(_pool(0, 0.9, res=res, past_sample=False), refund_share=share)
        assert spot_usd_per_progress(sit, p) == pytest.approx(0.9 / H * (short_bill + 35760) / gain)
    staying = dataclasses.replace(_pool(0, 0.9, res=res, age_h=0.25, past_sample=False), refund_share=0.5)
    assert stay_usd_per_progress(sit, staying, 900.0) == pytest.approx(0.9 / H * (0 + 35100) / 2 / ((300 + 34500) / 2))


def test_every_pool_up_but_dearer_than_on_demand_is_not_read_as_no_information() -> None:
    """Both spot pools have capacity, but their lifetimes (0.1 h, a renewal source's law) are shorter than a restart:
    no progress, so on-demand wins. No pool is down, so the no-history rule (idle while ahead) does not apply."""
    short = Residuals(Lengths.of(np.full(50, 0.1 * H)), Lengths.of(np.full(50, H)), 0.1 * H)
    spots = [_pool(i, 0.9, res=short, past_sample=False) for i in (0, 1)]
    od = _pool(2, 3.06, spot=False)
    sit = _sit(now_h=1.0, progress_h=5.0, work_h=10.0, deadline_h=30.0)  # well ahead of 10 x 1 / 30
    assert choose(sit, spots, od).index == 2


def test_a_launch_lost_while_provisioning_pays_no_egress() -> None:
    """Lifetimes of 100 s (lost in the 240 s of provisioning: nothing billed, nothing moved) and 10 h, $1 of egress:
    the egress counts for the one lifetime in two that reaches the instance (job.py moves the checkpoint then)."""
    res = Residuals(Lengths.of(np.array([100.0, 10 * H])), Lengths.of(np.array([H])), 5 * H)
    sit = _sit(progress_h=1.0, work_h=31.0, deadline_h=60.0)
    p = _pool(0, 0.9, res=res, past_sample=False, move_usd=1.0)
    long_bill, long_gain = 10 * H - 240, 10 * H - 240 - 480 - 600  # billed after provisioning; less startup, loss
    want = (0.9 / H * long_bill / 2 + 1.0 * 0.5) / (long_gain / 2)
    assert spot_usd_per_progress(sit, p) == pytest.approx(want)
