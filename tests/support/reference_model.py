"""The step-by-step reference: one SimPy event per activity, kept in the tests to check the closed-form core.

This is the model spotplan shipped before the closed-form core (``spotplan.simulator.model``), with the same rules
made explicit where the old one left them to event order: a kill or notice is processed after everything else at
the same instant (a save, persist or job end at a termination counts); a deadline decision fires at the exact
instant its rule holds (each activity is checked with ``first_crossing`` on its own, linear, piece), and a planned
stop saves only what is new; a pool priced above its max price at the start is blocked. It walks every
checkpoint, so it is slow by design.

Simulation time is float seconds from the job's start. The job is one SimPy process. Each pool has an
availability process (``spotplan.simulator.availability``) that ``interrupt()``s the job when the pool goes down while the
job holds an instance there, and pools with a replayed price history have a price-feed process (a price above the
pool's max price interrupts too). A notice reaches the job ``detection_lag_s`` after it is issued; the job then
runs to the next step boundary and tries an emergency save, which counts only if its snapshot *and* persist end
before termination. Regular saves stall training for ``save_blocking_s``; the background persist must finish
before the checkpoint becomes the recovery point, and at most one save is in flight. Work after the recovery
point is lost at termination. Each instance lifetime is billed by ``spotplan.simulator.billing``.

Migration, step by step: the job keeps the set of regions holding its latest durable checkpoint (a landed save
resets it to the saving instance's region, a completed transfer adds one); a launch in a region outside the set
runs a MIGRATION activity between setup and restore, and its egress accrues with the time that activity ran.
The no-thrash rule of uniform progress: past the leave threshold on on-demand, the job keeps training and waits
on the capacity event for a spot pool with capacity (the safety net can still commit it to on-demand).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np
import simpy

from spotplan.schemas.scenario import DeadlinePolicy
from spotplan.simulator.billing import FlatPrice, ReplayedPrice, bill_usd
from spotplan.simulator.compile import CompiledPool, CompiledScenario
from spotplan.simulator.deadline import Choice, DeadlineState, Trigger, decide, training_triggers
from spotplan.simulator.migration import Migration, migration_for
from spotplan.simulator.model import draw_offset_s
from spotplan.simulator.recovery import candidate_order
from spotplan.simulator.result import BUCKET_OF, Activity, CostBucket, InstanceBill, Interval, RunResult
from spotplan.simulator.schedule import Segment, first_crossing

INF = math.inf
EPS = 1e-6
DONE, SWITCH, ENDED = "done", "switch", "ended"
_COMPUTE, _CHECKPOINT = Activity.COMPUTE, Activity.CHECKPOINT  # module constants: enum attribute access is slow
_BUCKET_VALUE = {a: b.value for a, b in BUCKET_OF.items()}
_SNAPSHOT, _PERSIST_WAIT = "snapshot", "persist_wait"


class Preemption:
    """Interrupt cause: the instance ends at ``term_at_s``; ``warned`` if the job saw a notice first."""

    __slots__ = ("term_at_s", "warned")

    def __init__(self, term_at_s: float, warned: bool) -> None:
        self.term_at_s, self.warned = term_at_s, warned


class _Instance:
    __slots__ = ("ivs", "mig", "n", "notified", "pool", "start_s")

    def __init__(self, n: int, pool: _Pool) -> None:
        self.n, self.pool = n, pool
        self.start_s: float | None = None  # billing start (after provisioning)
        self.notified = False  # a Preemption was (or will be) delivered for this instance
        self.ivs: list[list[Any]] = []  # [start, end, activity, progress0, progress1]
        self.mig: Migration | None = None  # the checkpoint transfer this instance makes


class _Pool:
    __slots__ = ("attached", "cp", "i", "in_notice", "price", "price_blocked", "up")

    def __init__(self, i: int, cp: CompiledPool, price: FlatPrice | ReplayedPrice) -> None:
        self.i, self.cp, self.price = i, cp, price
        self.up = False
        self.in_notice = False
        cap = cp.max_price_usd_per_h
        self.price_blocked = cap is not None and cp.series is not None and price.price_at(0.0) > cap
        self.attached: _Instance | None = None

    @property
    def available(self) -> bool:
        return self.up and not self.in_notice and not self.price_blocked


class _Run:
    """State and processes of one run; ``env`` is passed in, never global."""

    def __init__(self, env: simpy.Environment, cs: CompiledScenario, rng: np.random.Generator,
                 offset_s: float, keep_timeline: bool) -> None:
        self.env, self.cs, self.offset_s, self.keep = env, cs, offset_s, keep_timeline
        self.pools = [_Pool(i, p, p.price(offset_s, cs.wrap)) for i, p in enumerate(cs.pools)]
        self.regions = [p.region for p in cs.pools]
        self._orders: dict[tuple[str | None, bool], list[int]] = {}
        self.spot_idx = [i for i, p in enumerate(cs.pools) if p.spot]
        self.od_idx = next((i for i, p in enumerate(cs.pools) if not p.spot), None)
        self.capacity_evt = env.event()
        self.progress = self.recovery = self.seg_start = 0.0
        self.recovery_at_s = 0.0  # when the recovery point was persisted
        self.pending: tuple[float, float] | None = None  # (progress, persist end) of the save in flight
        self.cur: tuple[str, float, float, Activity] | None = None  # (kind, start, planned end, activity)
        self.inst: _Instance | None = None
        self.preempted_region: str | None = None
        self.committed = False
        self.held: frozenset[str] = frozenset()  # regions holding the latest durable checkpoint
        self.leave_ready = False  # on on-demand past the leave threshold, waiting for spot capacity
        self.egress_usd = 0.0
        self.egress_by_pool: dict[str, float] = {}
        self.migrations = 0
        self.trig: tuple[Trigger | None, Trigger | None] = (None, None)
        self.launches = self.interruptions = self.checkpoints = 0
        self.emergency_ok = self.emergency_fail = self.failed_launches = 0
        self.lost_work_s = 0.0
        self.waits: list[list[Any]] = []
        self.done_ivs: list[list[Any]] = []  # [start, end, activity, cost, pool, instance] when keeping a timeline
        self.cost_a: dict[Activity, float] = dict.fromkeys(Activity, 0.0)
        self.time_a: dict[Activity, float] = dict.fromkeys(Activity, 0.0)
        self.bills: list[InstanceBill] = []
        self.end_s: float | None = None
        for pool, child in zip(self.pools, rng.spawn(len(self.pools)), strict=True):
            env.process(self._availability(pool, child))
            if pool.cp.series is not None:
                env.process(self._price_feed(pool))
        self.proc = env.process(self._job())

    # ---- pool processes -------------------------------------------------------------------------------------
    def _capacity_up(self) -> None:
        evt, self.capacity_evt = self.capacity_evt, self.env.event()
        evt.succeed()

    def _availability(self, pool: _Pool, rng: np.random.Generator) -> Generator[Any, Any, None]:
        env, notice_s = self.env, self.cs.notice_s
        for start, end in pool.cp.availability.periods(rng, self.offset_s):
            if start > env.now:
                yield env.timeout(start - env.now)
            if not pool.up:
                pool.up = True
                self._capacity_up()
            if end == INF:
                return
            if end - notice_s > env.now:
                yield env.timeout(end - notice_s - env.now)
            pool.in_notice = True
            if pool.attached is not None:
                self._warn(pool, pool.attached, end)
            if end > env.now:
                yield env.timeout(end - env.now)
            pool.in_notice = False
            pool.up = False  # set back at once by the next period if the outage has zero length
            self._kill(pool, end)

    def _price_feed(self, pool: _Pool) -> Generator[Any, Any, None]:
        env, cap = self.env, pool.cp.max_price_usd_per_h
        for t, price in pool.price.changes(0.0):
            if t > env.now:
                yield env.timeout(t - env.now)
            if cap is None:
                continue
            over = price > cap
            if over and not pool.price_blocked:
                pool.price_blocked = True
                inst = pool.attached
                if inst is not None and not inst.notified:
                    term = env.now + self.cs.notice_s
                    self._warn(pool, inst, term)
                    env.process(self._kill_later(pool, inst, term))
            elif not over and pool.price_blocked:
                pool.price_blocked = False
                self._capacity_up()

    def _kill_later(self, pool: _Pool, inst: _Instance, term: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(term - self.env.now)
        if pool.attached is inst:
            self._kill(pool, term)

    def _kill(self, pool: _Pool, term: float) -> None:
        """Termination without a seen notice: interrupt the job holding an instance here (after the instant)."""
        inst = pool.attached
        if inst is not None and not inst.notified:
            self.env.process(self._late(pool, inst, Preemption(term, warned=False)))

    def _late(self, pool: _Pool, inst: _Instance, pre: Preemption) -> Generator[Any, Any, None]:
        yield self.env.timeout(0)  # whatever else happens at this instant happens first
        if pool.attached is inst and not inst.notified:
            inst.notified = True
            self.proc.interrupt(pre)

    def _warn(self, pool: _Pool, inst: _Instance, term: float) -> None:
        """Deliver a notice after the detection lag if the job can still act on it."""
        cs = self.cs
        if not cs.emergency_save or inst.notified or self.env.now + cs.detection_lag_s >= term:
            return  # the job never reacts in time: a plain kill at termination
        self.env.process(self._deliver(pool, inst, term))

    def _deliver(self, pool: _Pool, inst: _Instance, term: float) -> Generator[Any, Any, None]:
        yield self.env.timeout(self.cs.detection_lag_s)
        yield self.env.timeout(0)
        if pool.attached is inst and not inst.notified:
            inst.notified = True
            self.proc.interrupt(Preemption(term, warned=True))

    # ---- bookkeeping ----------------------------------------------------------------------------------------
    def _commit(self, at_s: float) -> None:
        if self.pending is not None and self.pending[1] <= at_s + EPS:
            if self.pending[0] >= self.recovery:
                self._landed(self.pending[0])
                self.recovery, self.recovery_at_s = self.pending[0], self.pending[1]
            self.pending = None

    def _rate(self) -> float:
        assert self.inst is not None
        return self.inst.pool.cp.throughput

    def _act(self, kind: str, activity: Activity, dur_s: float) -> Generator[Any, Any, None]:
        """A timed activity on the current instance, recorded when it ends (or by ``_close`` if interrupted)."""
        if dur_s <= 0:
            return
        env = self.env
        start = env.now
        self.cur = (kind, start, start + dur_s, activity)
        yield env.timeout(dur_s)
        self.cur = None
        self._record(start, env.now, activity, kind)

    def _record(self, start: float, end: float, activity: Activity, kind: str = "") -> None:
        assert self.inst is not None
        if end <= start:
            return
        if activity is _COMPUTE:
            p0 = self.progress
            self.progress = p0 + (end - start) * self._rate()
            self.inst.ivs.append([start, end, activity, p0, self.progress])
        elif end > start:
            self.inst.ivs.append([start, end, activity, 0.0, 0.0])

    def _close(self) -> str:
        """Record the interrupted activity up to now; return its kind."""
        if self.cur is None:
            return ""
        kind, start, _planned_end, activity = self.cur
        self.cur = None
        self._record(start, self.env.now, activity, kind)
        return kind

    def _save(self) -> Generator[Any, Any, None]:
        """A regular save: wait for the persist in flight, snapshot (blocking), start the background persist."""
        env = self.env
        if self.pending is not None and self.pending[1] > env.now:
            yield from self._act(_PERSIST_WAIT, Activity.CHECKPOINT, self.pending[1] - env.now)
        self._commit(env.now)
        yield from self._act(_SNAPSHOT, Activity.CHECKPOINT, self.cs.save_blocking_s)
        self._start_persist(self.progress)

    def _start_persist(self, progress: float) -> None:
        self.checkpoints += 1
        self.pending = (progress, self.env.now + self.cs.persist_s)
        self._commit(self.env.now)

    def _drain(self) -> Generator[Any, Any, None]:
        """Wait until the save in flight is persisted (before a planned stop)."""
        if self.pending is not None and self.pending[1] > self.env.now:
            yield from self._act(_PERSIST_WAIT, Activity.CHECKPOINT, self.pending[1] - self.env.now)
        self._commit(self.env.now)

    # ---- the job --------------------------------------------------------------------------------------------
    def _job(self) -> Generator[Any, Any, None]:
        while True:
            idx, until = self._choose()
            if idx is None:
                # A policy look-again time must move the clock, or a threshold met exactly would spin here.
                yield from self._wait(max(until, self.env.now + 1e-3))
                continue
            outcome = yield from self._run_on(self.pools[idx])
            if outcome == DONE:
                self.end_s = self.env.now
                return
            if self.recovery >= self.cs.work_s - EPS:  # the final checkpoint persisted before the interruption
                self.end_s = self.recovery_at_s
                return

    def _deadline_state(self, on_demand_now: bool) -> DeadlineState:
        cs = self.cs
        assert cs.deadline_s is not None and self.od_idx is not None
        od = cs.pools[self.od_idx].throughput
        duty = cs.interval_s / (cs.interval_s + cs.save_blocking_s * od)
        return DeadlineState(
            now_s=self.env.now, progress_s=self.progress, work_s=cs.work_s, deadline_s=cs.deadline_s,
            changeover_s=cs.changeover_s, od_rate=od * duty, on_demand_now=on_demand_now,
            spot_available=any(self.pools[i].available for i in self.spot_idx), committed=self.committed,
        )

    def _choose(self) -> tuple[int | None, float]:
        """(rung to launch, or None and the time to look again)."""
        cs = self.cs
        if cs.deadline_policy is DeadlinePolicy.NONE:
            return self._first_up(False), INF
        d = decide(cs.deadline_policy, self._deadline_state(False))
        self.committed = self.committed or d.commit
        if d.choice is Choice.ON_DEMAND:
            return self.od_idx, INF
        if d.choice is Choice.SPOT:
            idx = self._first_up(True)
            if idx is not None:
                return idx, INF
        return None, d.next_check_s

    def _first_up(self, spot_only: bool) -> int | None:
        """First rung with capacity in the recovery strategy's order (orders cached per preempted region)."""
        key = (self.preempted_region, spot_only)
        order = self._orders.get(key)
        if order is None:
            allowed = self.spot_idx if spot_only else None
            order = self._orders[key] = candidate_order(self.cs.recovery, self.regions, self.preempted_region, allowed)
        pools = self.pools
        for i in order:
            if pools[i].available:
                return i
        return None

    def _wait(self, until_s: float) -> Generator[Any, Any, None]:
        env = self.env
        start = env.now
        evt = self.capacity_evt
        if until_s < INF:
            yield evt | env.timeout(max(0.0, until_s - env.now))
        else:
            yield evt
        if evt.triggered and env.now < until_s:  # align to the launch-retry grid
            gap = self.cs.retry_gap_s
            t = start + math.ceil((env.now - start) / gap - 1e-9) * gap
            if t > env.now:
                yield env.timeout(min(t, until_s) - env.now)
        if env.now > start:
            self.waits.append([start, env.now, Activity.WAITING])

    def _run_on(self, pool: _Pool) -> Generator[Any, Any, str]:
        env, cs = self.env, self.cs
        self.launches += 1
        inst = self.inst = _Instance(self.launches, pool)
        pool.attached = inst
        self.leave_ready = False
        try:
            yield from self._act("", Activity.PROVISIONING, cs.provisioning_s)
            inst.start_s = env.now
            yield from self._act("", Activity.SETUP, cs.setup_s)
            self.progress = self.seg_start = self.recovery
            inst.mig = migration_for(self.held, pool.cp.region, recovery=self.recovery,
                                     checkpoint_bytes=cs.checkpoint_bytes, egress=cs.egress_usd_per_gb)
            if inst.mig is not None:
                self.migrations += 1
                yield from self._act("", Activity.MIGRATION, inst.mig.time_s)
                self.held = self.held | {pool.cp.region}
            if self.recovery > 0:
                yield from self._act("", Activity.RESTORE, cs.restore_s)
            return (yield from self._train())
        except simpy.Interrupt as irq:
            pre = irq.cause
            assert isinstance(pre, Preemption)
            yield from self._preempted(pre)
            return ENDED

    def _triggers(self) -> tuple[Trigger | None, Trigger | None]:
        cs = self.cs
        if cs.deadline_policy is DeadlinePolicy.NONE:
            return None, None
        assert self.inst is not None and cs.deadline_s is not None
        return training_triggers(cs.deadline_policy, on_demand=not self.inst.pool.cp.spot, committed=self.committed,
                                 work_s=cs.work_s, deadline_s=cs.deadline_s, changeover_s=cs.changeover_s,
                                 od_rate=cs.od_rate)

    def _piece(self, kind: str, activity: Activity, dur_s: float) -> Generator[Any, Any, bool]:
        """One activity, cut short when the switch rule fires inside it; True if it did."""
        if self.leave_ready:
            return (yield from self._piece_ready(kind, activity, self.env.now + dur_s))
        env = self.env
        now = env.now
        end = now + dur_s
        fire = INF
        switch, commit = self.trig
        if switch is not None or commit is not None:
            slope = self._rate() if activity is _COMPUTE else 0.0
            seg = (Segment(now, max(end, now + 1e-12), activity, kind, self.progress,
                           self.progress + slope * dur_s),)
            ts = INF if switch is None else first_crossing(seg, self._rate(), switch.a, switch.b, switch.below, now)
            tc = INF if commit is None else first_crossing(seg, self._rate(), commit.a, commit.b, commit.below, now)
            if tc < INF and tc <= ts:
                self.committed, self.trig = True, (None, None)
            else:
                fire = ts
        stop = min(end, fire)
        if dur_s > 0 and stop > now:
            self.cur = (kind, now, end, activity)
            yield env.timeout(stop - now)
            self.cur = None
            self._record(now, env.now, activity, kind)
        fired = fire < end or (fire == end == now)
        if fired and not self._rate_spot() and not self._spot_available():  # no-thrash: stay on on-demand
            self.leave_ready, self.trig = True, (None, self.trig[1])
            return (yield from self._piece_ready(kind, activity, end))
        return fired

    def _rate_spot(self) -> bool:
        assert self.inst is not None
        return self.inst.pool.cp.spot

    def _spot_available(self) -> bool:
        return any(self.pools[i].available for i in self.spot_idx)

    def _piece_ready(self, kind: str, activity: Activity, end: float) -> Generator[Any, Any, bool]:
        """The rest of a piece on on-demand past the leave threshold: True at the first spot capacity event with a
        spot pool available; the safety net may commit the job first (then the piece just runs to its end)."""
        env = self.env
        while env.now < end:
            now = env.now
            _, commit = self.trig
            tc = INF
            if commit is not None:
                slope = self._rate() if activity is _COMPUTE else 0.0
                seg = (Segment(now, end, activity, kind, self.progress, self.progress + slope * (end - now)),)
                tc = first_crossing(seg, self._rate(), commit.a, commit.b, commit.below, now)
            evt = self.capacity_evt
            self.cur = (kind, now, end, activity)
            if self.leave_ready:
                yield evt | env.timeout(min(end, tc) - now)
            else:
                yield env.timeout(end - now)
            self.cur = None
            self._record(now, env.now, activity, kind)
            if self.leave_ready and evt.triggered and self._spot_available():
                return True
            if self.leave_ready and tc <= env.now:
                self.committed, self.leave_ready, self.trig = True, False, (None, None)
        return False

    def _stop(self, kind: str, planned_end: float) -> Generator[Any, Any, None]:
        """A planned stop: finish a snapshot under way, save what is new, drain, release the instance."""
        if kind == _SNAPSHOT:
            yield from self._act(_SNAPSHOT, _CHECKPOINT, planned_end - self.env.now)
            self._start_persist(self.progress)
        last = self.pending[0] if self.pending is not None else self.recovery
        if self.progress > last + EPS:
            yield from self._save()
        yield from self._drain()
        self._terminate(interrupted=False)

    def _train(self) -> Generator[Any, Any, str]:
        env, cs = self.env, self.cs
        assert self.inst is not None
        rate = self._rate()
        self.trig = self._triggers()
        while True:
            if cs.work_s - self.progress <= EPS:
                if cs.final_save and self.progress > self.recovery + EPS and (
                        self.pending is None or self.pending[0] < self.progress - EPS):
                    yield from self._save()
                yield from self._drain()
                self._terminate(interrupted=False)
                return DONE
            boundary = min(self.seg_start + cs.interval_s, cs.work_s)
            if (yield from self._piece("", _COMPUTE, (boundary - self.progress) / rate)):
                yield from self._stop("", env.now)
                return SWITCH
            if self.progress >= boundary - EPS:
                self.progress = boundary
                if boundary < cs.work_s - EPS:
                    waiting = self.pending is not None and self.pending[1] > env.now
                    if waiting and (yield from self._piece(_PERSIST_WAIT, _CHECKPOINT, self.pending[1] - env.now)):
                        yield from self._stop(_PERSIST_WAIT, env.now)
                        return SWITCH
                    self._commit(env.now)
                    planned = env.now + cs.save_blocking_s
                    if (yield from self._piece(_SNAPSHOT, _CHECKPOINT, cs.save_blocking_s)):
                        yield from self._stop(_SNAPSHOT, planned)
                        return SWITCH
                    self._start_persist(self.progress)
                    self.seg_start = self.progress

    # ---- interruptions --------------------------------------------------------------------------------------
    def _preempted(self, pre: Preemption) -> Generator[Any, Any, None]:
        env = self.env
        inst = self.inst
        assert inst is not None
        kind = self._close()
        self.preempted_region = inst.pool.cp.region
        if inst.start_s is None:  # lost the capacity while provisioning: nothing ran, nothing billed
            self.failed_launches += 1
            inst.pool.attached = None
            self.waits.extend(inst.ivs)  # provisioning time, unbilled
            self.inst = None
            return
        self.interruptions += 1
        if pre.warned:
            yield from self._emergency(kind, pre.term_at_s)
            self._commit(env.now)
            if self.recovery >= self.cs.work_s - EPS:  # finished during the notice: stop the instance now
                self._terminate(interrupted=False)
                return
            if env.now < pre.term_at_s:
                yield from self._act("", Activity.NOTICE_IDLE, pre.term_at_s - env.now)
        self._terminate(interrupted=True)

    def _emergency(self, kind: str, term: float) -> Generator[Any, Any, None]:
        """React to a notice: finish a snapshot in progress, run to the step boundary, save if it fits."""
        env, cs = self.env, self.cs
        assert self.inst is not None
        if kind == _SNAPSHOT:  # the snapshot under way completes, then persists in the background
            done = self._last_start() + cs.save_blocking_s
            if done > term:
                yield from self._act("", Activity.CHECKPOINT, term - env.now)
                return
            yield from self._act("", Activity.CHECKPOINT, done - env.now)
            self._start_persist(self.progress)
        best = self.pending[0] if self.pending is not None and self.pending[1] <= term else self.recovery
        if self.progress <= best + EPS:
            if self.pending is not None and env.now < self.pending[1] <= term:  # let the save in flight land
                yield from self._act("", Activity.CHECKPOINT, self.pending[1] - env.now)
                self._commit(env.now)
            return
        if cs.step_time_s and kind == "" and self.inst.ivs and self.inst.ivs[-1][2] is Activity.COMPUTE:
            step = cs.step_time_s
            boundary = math.ceil(self.progress / step - 1e-9) * step
            dt = min((boundary - self.progress) / self._rate(), term - env.now)
            if dt > 0:
                yield from self._act("", Activity.COMPUTE, dt)
        if self.pending is not None and self.pending[1] > env.now:
            yield from self._act("", Activity.EMERGENCY_SAVE, min(self.pending[1], term) - env.now)
            self._commit(env.now)
        finish = env.now + cs.save_blocking_s + cs.persist_s
        if finish > term + EPS:
            self.emergency_fail += 1
            yield from self._act("", Activity.EMERGENCY_SAVE, term - env.now)
            return
        yield from self._act("", Activity.EMERGENCY_SAVE, finish - env.now)
        self.pending = None
        self._landed(self.progress)
        self.recovery, self.recovery_at_s = self.progress, env.now
        self.emergency_ok += 1

    def _landed(self, progress: float) -> None:
        """A save of ``progress`` became durable in the current instance's region."""
        assert self.inst is not None
        region = self.inst.pool.cp.region
        self.held = frozenset((region,)) if progress > self.recovery else self.held | {region}

    def _last_start(self) -> float:
        assert self.inst is not None
        return self.inst.ivs[-1][0] if self.inst.ivs else self.env.now

    def _terminate(self, *, interrupted: bool) -> None:
        """End the current instance: settle the recovery point, reclassify lost compute, bill the lifetime."""
        env = self.env
        inst = self.inst
        assert inst is not None and inst.start_s is not None
        now = env.now
        if interrupted:
            self._commit(now)
            self.pending = None
            lost = self.progress - self.recovery
            if lost > EPS:
                self.lost_work_s += lost
                self._mark_lost(inst, self.recovery)
            self.progress = self.recovery
        pool = inst.pool
        raw, billed = bill_usd(pool.price, inst.start_s, now, nodes=pool.cp.nodes, spot=pool.cp.spot,
                               interrupted=interrupted, rules=self.cs.billing)
        self.bills.append(InstanceBill(pool=pool.cp.label, start_s=inst.start_s, end_s=now, nodes=pool.cp.nodes,
                                       interrupted=interrupted, raw_usd=raw, billed_usd=billed))
        self._attribute(inst, raw, billed)
        pool.attached = None
        self.inst = None

    def _mark_lost(self, inst: _Instance, point: float) -> None:
        out: list[list[Any]] = []
        for iv in inst.ivs:
            if iv[2] is Activity.COMPUTE and iv[4] > point + EPS:
                if iv[3] >= point - EPS:
                    iv[2] = Activity.LOST
                else:  # split at the time progress passed the recovery point
                    t = iv[0] + (iv[1] - iv[0]) * (point - iv[3]) / (iv[4] - iv[3])
                    out.append([iv[0], t, Activity.COMPUTE, iv[3], point])
                    iv[0], iv[3], iv[2] = t, point, Activity.LOST
            out.append(iv)
        inst.ivs = out

    def _attribute(self, inst: _Instance, raw: float, billed: float) -> None:
        """Share the instance's bill over its billed intervals, in proportion to their exact price integral."""
        assert inst.start_s is not None
        price, nodes = inst.pool.price, inst.pool.cp.nodes
        scale = billed / raw if raw > 0 else 0.0
        flat = isinstance(price, FlatPrice)
        rate = price.price_at(0.0) * nodes / 3600.0 if flat else 0.0
        start = inst.start_s - EPS
        cost_a, time_a, keep = self.cost_a, self.time_a, self.keep
        label = inst.pool.cp.label
        for iv in inst.ivs:
            a, b, act = iv[0], iv[1], iv[2]
            if a < start:  # provisioning: not billed
                cost = 0.0
            else:
                cost = (rate * (b - a) if flat else nodes * price.cost_usd(a, b)) * scale
            if act is Activity.MIGRATION and inst.mig is not None:  # egress for the bytes moved, on top of the bill
                egress = inst.mig.usd_per_s * (b - a)
                cost += egress
                self.egress_usd += egress
                self.egress_by_pool[label] = self.egress_by_pool.get(label, 0.0) + egress
            cost_a[act] += cost
            time_a[act] += b - a
            if keep:
                self.done_ivs.append([a, b, act, cost, label, inst.n])

    # ---- result ---------------------------------------------------------------------------------------------
    def result(self) -> RunResult:
        """Assemble the RunResult (after ``env.run``)."""
        env, cs = self.env, self.cs
        finished = self.end_s is not None
        if not finished and self.inst is not None and self.inst.start_s is not None:
            # horizon reached: stop the instance in hand (billed, nothing more)
            self._close()
            self._terminate(interrupted=False)
        makespan = self.end_s if self.end_s is not None else env.now
        cost_by_pool: dict[str, float] = {p.label: 0.0 for p in cs.pools}
        for bill in self.bills:
            cost_by_pool[bill.pool] += bill.billed_usd
        for label, usd in self.egress_by_pool.items():
            cost_by_pool[label] += usd
        for w in self.waits:  # unbilled: waiting for capacity, provisioning of failed launches
            self.time_a[w[2]] += w[1] - w[0]
        cost_b = {b.value: 0.0 for b in CostBucket}
        time_b = {b.value: 0.0 for b in CostBucket}
        for act, bucket in _BUCKET_VALUE.items():
            cost_b[bucket] += self.cost_a[act]
            time_b[bucket] += self.time_a[act]
        timeline: list[Interval] = []
        if self.keep:
            timeline = [Interval(start_s=iv[0], end_s=iv[1], activity=iv[2], pool=iv[4], instance=iv[5],
                                 cost_usd=iv[3]) for iv in self.done_ivs]
            timeline += [Interval(start_s=w[0], end_s=w[1], activity=w[2]) for w in self.waits]
        if self.keep:
            timeline.sort(key=lambda iv: (iv.start_s, iv.end_s))
        total = sum(b.billed_usd for b in self.bills) + self.egress_usd
        deadline_met = None if cs.deadline_s is None else bool(finished and makespan <= cs.deadline_s + EPS)
        return RunResult(
            finished=finished, makespan_s=makespan, cost_usd=total, cost_by_pool_usd=cost_by_pool,
            cost_by_bucket_usd=cost_b, time_by_bucket_s=time_b, interruptions=self.interruptions,
            checkpoints=self.checkpoints, emergency_saves=self.emergency_ok,
            emergency_save_failures=self.emergency_fail, restarts=max(0, self.launches - 1 - self.failed_launches),
            failed_launches=self.failed_launches, lost_work_s=self.lost_work_s, deadline_met=deadline_met,
            start_offset_s=self.offset_s, timeline=tuple(timeline), bills=tuple(self.bills),
            egress_usd=self.egress_usd, migrations=self.migrations,
        )


def simulate_once(cs: CompiledScenario, rng: np.random.Generator, start_offset_s: float | None = None,
                  *, keep_timeline: bool = True, env: simpy.Environment | None = None) -> RunResult:
    """One SimPy run of the compiled scenario; the offset is drawn from ``rng`` when not given.

    ``env`` lets a benchmark pass a fresh environment it inspects afterwards; by default a new one is made.
    """
    offset = draw_offset_s(cs, rng) if start_offset_s is None else start_offset_s
    env = simpy.Environment() if env is None else env
    run = _Run(env, cs, rng, offset, keep_timeline)
    env.run(until=run.proc | env.timeout(cs.max_sim_s))
    return run.result()
