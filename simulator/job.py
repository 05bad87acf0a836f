"""The job process: choose a rung, launch, train in closed form, stop or react to a notice, recover.

One SimPy process per run. It sleeps from one instant that can change its course to the next: the end of a
provisioning, the first preemption event of the instance it holds (a notice it sees, or a termination), a
deadline decision's switch instant (computed in closed form by ``spotplan.simulator.schedule``), the end of its
plan on the instance, and, while it waits for capacity, the next capacity event aligned to the launch-retry grid.
Between those instants nothing is simulated: the plan says where the job is.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import simpy

from spotplan.schemas.scenario import DeadlinePolicy
from spotplan.simulator import cost_aware
from spotplan.simulator.compile import CompiledScenario
from spotplan.simulator.deadline import Choice, DeadlineState, decide, safety_net, training_triggers
from spotplan.simulator.ledger import Ledger
from spotplan.simulator.migration import Migration, held_after, migration_for
from spotplan.simulator.pools import PoolClock
from spotplan.simulator.reaction import notice_segments, stop_segments
from spotplan.simulator.result import Activity
from spotplan.simulator.schedule import (
    EPS,
    INF,
    Plan,
    SaveCosts,
    Segment,
    first_crossing,
    training_plan,
    training_window,
)
from spotplan.simulator.skip import FastForward

LOOK_AGAIN_MIN_S = 1e-3
SKIP_AGAIN_MIN_STEPS = 8  # a fast-forward that covered fewer decisions stopped near the end: not tried again  # a policy look-again time must move the clock, or a threshold met exactly would spin


class Job:
    """State of the job between instances, and the instance it holds (for settling at the horizon)."""

    def __init__(self, env: simpy.Environment, cs: CompiledScenario, clocks: list[PoolClock],
                 ledger: Ledger, fast_forward: FastForward | None = None) -> None:
        self.env, self.cs, self.clocks, self.ledger = env, cs, clocks, ledger
        self.costs = SaveCosts(interval=cs.interval_s, snapshot_s=cs.save_blocking_s, persist_s=cs.persist_s,
                               final_save=cs.final_save)
        self.recovery = self.recovery_at_s = 0.0
        self.preempted_region: str | None = None
        self.held: frozenset[str] = frozenset()  # regions holding the latest durable checkpoint
        self.committed = False  # the deadline safety net fired: on-demand to the end
        self.safety_at = INF  # on spot: when the safety net stops the instance in hand
        self.end_s: float | None = None
        self.best_rate = max(p.throughput for p in cs.pools)
        # plan, rung, instance, launch, billing start, the checkpoint transfer it makes
        self.live: tuple[Plan, int, int, float, float, Migration | None] | None = None
        self.ff = fast_forward  # walks the middle of a long run without events (dropped once near the end)
        self.proc = env.process(self._run())

    # ---- between instances ------------------------------------------------------------------------------
    def _run(self) -> Generator[Any, Any, None]:
        cs = self.cs
        just_skipped = False
        while True:
            if self.env.now + (cs.work_s - self.recovery) / self.best_rate > cs.max_sim_s:
                return  # cannot finish by the horizon even at full speed from here: the run is cut now
            if self.ff is not None and self.recovery > 0 and not just_skipped:
                just_skipped = True
                moved = yield from self._skip()
                if moved:
                    continue
            just_skipped = False
            idx, until = self._choose()
            if idx is None:
                yield from self._wait(max(until, self.env.now + LOOK_AGAIN_MIN_S))
                continue
            done = yield from self._instance(idx)
            if done:
                self.end_s = self.env.now
                return
            if self.recovery >= cs.work_s - EPS:  # the final checkpoint was durable before the instance ended
                self.end_s = self.recovery_at_s
                return

    def _skip(self) -> Generator[Any, Any, bool]:
        """Fast-forward from this decision (``spotplan.simulator.skip``); True when it moved the job."""
        assert self.ff is not None
        now = self.env.now
        ho = self.ff.run(now, self.preempted_region, self.recovery, self.recovery_at_s, self.clocks, self.ledger,
                         held=self.held)
        if ho.steps < SKIP_AGAIN_MIN_STEPS:
            self.ff = None  # near the end of the run: the event path takes the rest
        if not ho.steps:
            return False
        self.recovery, self.recovery_at_s, self.preempted_region = ho.recovery, ho.recovery_at_s, ho.region
        self.held = ho.held
        if ho.t_s > now:
            delay = ho.t_s - now
            yield self.env.timeout(delay)
        return True

    def _deadline_state(self) -> DeadlineState:
        cs = self.cs
        assert cs.deadline_s is not None
        now = self.env.now
        return DeadlineState(
            now_s=now, progress_s=self.recovery, work_s=cs.work_s, deadline_s=cs.deadline_s,
            changeover_s=cs.changeover_s, od_rate=cs.od_rate, on_demand_now=False,
            spot_available=any(self.clocks[i].available_at(now, cs.notice_s) for i in cs.spot_rungs),
            committed=self.committed,
        )

    def _choose(self) -> tuple[int | None, float]:
        """(rung to launch, or None and the time to look again)."""
        cs = self.cs
        if cs.deadline_policy is DeadlinePolicy.NONE:
            return self._first_up(False), INF
        if cs.deadline_policy is DeadlinePolicy.COST_AWARE:
            return self._choose_cost_aware()
        d = decide(cs.deadline_policy, self._deadline_state())
        self.committed = self.committed or d.commit
        if d.choice is Choice.ON_DEMAND:
            return cs.od_rung, INF
        if d.choice is Choice.SPOT:
            idx = self._first_up(True)
            if idx is not None:
                return idx, INF
        return None, d.next_check_s

    def _choose_cost_aware(self) -> tuple[int | None, float]:
        """The cost-aware policy's pick (``spotplan.simulator.cost_aware``), behind the common safety net."""
        cs, now = self.cs, self.env.now
        if self.committed or safety_net(self._deadline_state()):
            self.committed = True
            return cs.od_rung, INF
        spots, od = cost_aware.pool_views(cs, self.clocks, now, self.held, self.recovery)
        pick = cost_aware.choose(cost_aware.situation(cs, now, self.recovery), spots, od)
        return pick.index, pick.next_check_s

    def _move_ok(self, now: float, idx: int) -> bool:
        """Cost-aware on spot at a capacity event: is another pool worth a planned stop and a restart?"""
        cs = self.cs
        assert self.live is not None
        progress = self.live[0].state_at(now).progress
        here = frozenset((self.clocks[idx].cp.region,))  # the stop saves here first
        spots, od = cost_aware.pool_views(cs, self.clocks, now, here, progress)
        return cost_aware.move_from_spot(cost_aware.situation(cs, now, progress), spots, od, idx,
                                         billed_s=now - self.live[4]) is not None

    def _leave_ok(self, now: float) -> bool:
        """On on-demand past the policy's leave point: go now? (Uniform progress: if spot has capacity.)"""
        cs = self.cs
        if cs.deadline_policy is not DeadlinePolicy.COST_AWARE:
            return self._spot_up(now)
        assert self.live is not None
        progress = self.live[0].state_at(now).progress
        spots, od = cost_aware.pool_views(cs, self.clocks, now, self.held, self.recovery)
        return cost_aware.leave_on_demand(cost_aware.situation(cs, now, progress), spots, od) is not None

    def _first_up(self, spot_only: bool) -> int | None:
        """First rung with capacity in the recovery strategy's order."""
        now, notice = self.env.now, self.cs.notice_s
        for i in self.cs.rung_orders[(self.preempted_region, spot_only)]:
            if self.clocks[i].available_at(now, notice):
                return i
        return None

    def _wait(self, until_s: float) -> Generator[Any, Any, None]:
        """Sleep to the next capacity event, aligned to the retry grid, or to ``until_s``; unbilled."""
        env = self.env
        start = env.now
        wake = min(c.next_capacity_s(start) for c in self.clocks)
        target = until_s
        if wake < until_s:
            gap = self.cs.retry_gap_s
            aligned = start + math.ceil((wake - start) / gap - 1e-9) * gap
            target = min(until_s, max(wake, aligned))
        if target == INF:
            yield env.event()  # nothing will ever come back: the run ends at the horizon
        yield env.timeout(target - start)
        self.ledger.unbilled(start, env.now, Activity.WAITING)

    # ---- one instance -----------------------------------------------------------------------------------
    def _instance(self, idx: int) -> Generator[Any, Any, bool]:
        """Run on rung ``idx`` until the instance ends; True when the job finished on it."""
        env, cs, ledger = self.env, self.cs, self.ledger
        clock = self.clocks[idx]
        cp = clock.cp
        ledger.counts.launches += 1
        n = ledger.counts.launches
        launch = env.now
        fate = clock.fate(launch, cs)
        if fate.at_s < launch + cs.provisioning_s:  # lost the capacity while provisioning: nothing billed
            yield env.timeout(fate.at_s - launch)
            ledger.counts.failed_launches += 1
            ledger.unbilled(launch, env.now, Activity.PROVISIONING)
            self.preempted_region = cp.region
            return False
        if cs.provisioning_s > 0:
            yield env.timeout(cs.provisioning_s)
        start = env.now
        mig = migration_for(self.held, cp.region, recovery=self.recovery, checkpoint_bytes=cs.checkpoint_bytes,
                            egress=cs.egress_usd_per_gb)
        plan = training_plan(t0_s=start, recovery=self.recovery, recovery_at_s=self.recovery_at_s, work=cs.work_s,
                             rate=cp.throughput, costs=self.costs, setup_s=cs.setup_s, restore_s=cs.restore_s,
                             until_s=fate.at_s, migrate_s=mig.time_s if mig else 0.0)
        switch_at = self._switch_at(plan, not cp.spot, start)
        stopping = False
        while True:
            self.live = (plan, idx, n, launch, start, mig)
            t = min(plan.end_s, switch_at, fate.at_s)
            yield env.timeout(t - env.now)
            now = env.now
            if plan.end_s <= min(switch_at, fate.at_s):  # ties: the job's own end comes first
                self._settle(plan, interrupted=False)
                return not stopping
            if switch_at <= fate.at_s and cp.spot and not stopping and switch_at < self.safety_at and \
                    not self._move_ok(now, idx):
                nxt = min(self.clocks[i].next_capacity_s(now) for i in cs.spot_rungs)
                switch_at = min(self.safety_at, nxt)
                continue
            if switch_at <= fate.at_s and not cp.spot and not stopping and not self._leave_ok(now):
                switch_at = self._stay_on_demand(plan, now)  # no spot to go to: stay (deadline.py, hysteresis)
                continue
            if switch_at <= fate.at_s:  # a deadline decision: save what is new, drain, release the instance
                plan = plan.cut(now).then(stop_segments(plan.state_at(now), snapshot_s=cs.save_blocking_s,
                                                        persist_s=cs.persist_s))
                switch_at, stopping = INF, True
                continue
            break
        ledger.counts.interruptions += 1
        self.preempted_region = cp.region
        if not fate.warned:
            self._settle(plan.cut(now), interrupted=True)
            return False
        plan, end, finished = self._react(plan, now, fate.term_s, cp.throughput)
        self.live = (plan, idx, n, launch, start, mig)
        yield env.timeout(end - now)
        self._settle(plan, interrupted=not finished)
        return False

    def _react(self, plan: Plan, now: float, term_s: float, rate: float) -> tuple[Plan, float, bool]:
        """``plan`` cut at a notice seen ``now`` and followed by the reaction (``reaction.notice_segments``), idle
        to the termination at ``term_s``: (plan, when the instance ends, whether the job finished)."""
        cs, counts = self.cs, self.ledger.counts
        out = notice_segments(plan.state_at(now), term_s=term_s, snapshot_s=cs.save_blocking_s,
                              persist_s=cs.persist_s, step_s=cs.step_time_s, rate=rate)
        counts.emergency_ok += out.emergency_ok
        counts.emergency_failed += out.emergency_failed
        plan = plan.cut(now).then(out.segments)
        end = max(now, plan.end_s)
        finished = plan.state_at(end).recovery >= cs.work_s - EPS  # done during the notice: stop at once
        if not finished and end < term_s:
            plan = plan.then([Segment(end, term_s, Activity.NOTICE_IDLE)])
            end = term_s
        return plan, end, finished

    def _spot_up(self, now: float) -> bool:
        """Some spot rung has capacity now."""
        return any(self.clocks[i].available_at(now, self.cs.notice_s) for i in self.cs.spot_rungs)

    def _stay_on_demand(self, plan: Plan, now: float) -> float:
        """Past the leave threshold with no spot capacity: leave at the next spot capacity event, unless the
        safety net fires first (then on-demand for good)."""
        cs = self.cs
        nxt = min((self.clocks[i].next_capacity_s(now) for i in cs.spot_rungs), default=INF)
        assert cs.deadline_s is not None
        _, commit = training_triggers(cs.deadline_policy, on_demand=True, committed=self.committed,
                                      work_s=cs.work_s, deadline_s=cs.deadline_s, changeover_s=cs.changeover_s,
                                      od_rate=cs.od_rate)
        window = training_window(plan)
        if commit is not None and window and first_crossing(window, plan.rate, commit.a, commit.b, commit.below,
                                                            now) <= nxt:
            self.committed = True
            return INF
        return nxt

    def _switch_at(self, plan: Plan, on_demand: bool, from_s: float) -> float:
        """When the deadline policy stops this instance (INF if it never does while training)."""
        cs = self.cs
        if cs.deadline_policy is DeadlinePolicy.NONE:
            return INF
        assert cs.deadline_s is not None
        switch, commit = training_triggers(cs.deadline_policy, on_demand=on_demand, committed=self.committed,
                                           work_s=cs.work_s, deadline_s=cs.deadline_s,
                                           changeover_s=cs.changeover_s, od_rate=cs.od_rate)
        window = training_window(plan)
        if not window or (switch is None and commit is None):
            return INF
        t0 = max(window[0].start_s, from_s)
        if cs.deadline_policy is DeadlinePolicy.COST_AWARE and on_demand:
            return self._stay_on_demand(plan, t0)  # priced at each spot capacity event from the training start
        at = INF if switch is None else first_crossing(window, plan.rate, switch.a, switch.b, switch.below, t0)
        if commit is not None and first_crossing(window, plan.rate, commit.a, commit.b, commit.below, t0) <= at:
            self.committed = True  # the safety net fires first: on-demand for good (nothing reads it before then)
            return INF
        self.safety_at = at
        if cs.deadline_policy is DeadlinePolicy.COST_AWARE and not on_demand and t0 < at:
            return t0  # then at each spot capacity event: a cheaper pool may be worth the move
        return at

    def _settle(self, plan: Plan, *, interrupted: bool) -> None:
        """Bill and book the instance in hand; carry its recovery point to the next one."""
        assert self.live is not None
        _, idx, n, launch, start, mig = self.live
        clock = self.clocks[idx]
        end = self.env.now
        st = self.ledger.close(plan, pool=clock.cp, price=clock.price, instance=n, launch_s=launch, start_s=start,
                               end_s=end, interrupted=interrupted, migration=mig)
        # a transfer cut by a notice or a termination leaves no copy (1 us: the segment's float length)
        moved = mig is not None and plan.time_by_activity().get(Activity.MIGRATION, 0.0) >= mig.time_s - 1e-6
        self.held = held_after(self.held, clock.cp.region, saved=st.recovery > self.recovery, moved=moved)
        self.recovery, self.recovery_at_s = st.recovery, st.recovery_at_s
        self.live = None

    def settle_at_horizon(self) -> None:
        """The horizon reached: stop the instance in hand (billed, nothing more)."""
        if self.end_s is None and self.live is not None:
            self._settle(self.live[0].cut(self.env.now), interrupted=False)
