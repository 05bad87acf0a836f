"""The job of a gang read through its count process: elastic (it continues at reduced width when spot takes
some of its nodes), or waiting for the full gang on correlated reclaims (``gang_model: common-shock``: a
``GangClock`` whose ``min_nodes`` is all the nodes, so it never shrinks or widens).

On an elastic pool (``job.gang: elastic``, a ``gang.GangClock``) a launch gets width k = the nodes up and not under
notice (at most ``nodes``; at least ``min_nodes``, else the pool is down for the job). The gang trains at
``cp.throughput * counts.width_factor(k)`` and is billed for its k nodes. The rules, in the terms of the
simulator's plan (``spotplan.simulator.schedule``):

- **A node lost** (the count drops below k): the node's notice, when the job sees it, allows the emergency save as
  for any interruption; at the node's termination the gang restarts from the last durable checkpoint. If at least
  ``min_nodes`` are still usable it restarts *in place* at the new width: the survivors are running and set up, so
  no provisioning and no setup, only the restore (``restore_s``). Otherwise the job is preempted on that pool as
  usual (the ladder's recovery order, waits, a fresh launch with provisioning and setup).
- **Nodes back** (the count rises above k): the joiners are provisioned in the background (``provisioning_s``,
  unbilled as every provisioning in the model); the gang widens at the first regular checkpoint that ends after
  they are ready, if they are still there: it stops as for a planned stop (``reaction.stop_segments``: the
  checkpoint just taken persists), then restarts at the new width with setup (the joiners' ``setup_s``, which the
  gang waits for) and the restore.
- A fresh launch in another region pulls the checkpoint as any restart does (``spotplan.simulator.migration``);
  a width change stays in the region and moves nothing.
- Every width change is a restart (counted in ``restarts``); a node loss is an interruption (``interruptions``).
- Billing: each width period is one bill of k nodes; the 60 s minimum applies per period. A period launched
  afresh is billed as the wait model bills a gang (AWS's first-hour refund of the one instance the cloud
  reclaimed when it ends the period within the hour, ``billing.bill_usd``), so one node, or
  ``min_nodes = nodes``, bills exactly as ``wait``. A period restarted in place gets no refund: its survivors
  were not interrupted by the cloud, and the node that was is not tracked apart (an upper bound of at most one
  node-hour per loss).

Not modelled yet (the Scenario schema refuses them): elastic gangs under a deadline policy, and with a max price.
Times are simulation seconds.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import replace
from typing import Any

import simpy

from spotplan.simulator.compile import CompiledScenario
from spotplan.simulator.counts import width_factor
from spotplan.simulator.gang import GangClock
from spotplan.simulator.job import Job
from spotplan.simulator.ledger import Ledger
from spotplan.simulator.migration import held_after, migration_for
from spotplan.simulator.pools import PoolClock
from spotplan.simulator.reaction import stop_segments
from spotplan.simulator.result import Activity
from spotplan.simulator.schedule import EPS, INF, Cycles, Plan, training_plan

SHRINK, GROW = "shrink", "grow"


def next_save_end_s(plan: Plan, t_s: float) -> float:
    """End of the first regular snapshot of ``plan`` that ends at or after ``t_s`` (inf if none)."""
    for piece in plan.pieces:
        if isinstance(piece, Cycles) and piece.count and piece.end_s >= t_s - EPS:
            j = piece.saves_by(t_s)
            while j >= 1 and piece.compute_start_s(j) >= t_s - EPS:  # the save ending exactly at t_s counts
                j -= 1
            return piece.compute_start_s(j + 1)
    return INF


class ElasticJob(Job):
    """``Job`` with elastic gang rungs: width changes in place, rejoin at checkpoints (see the module docstring)."""

    def __init__(self, env: simpy.Environment, cs: CompiledScenario, clocks: list[PoolClock],
                 ledger: Ledger) -> None:
        self.hold: tuple[int, str] | None = None  # (rung, shrink|grow): the gang restarts in place on that rung
        self.width: int | None = None  # width of the gang in hand (None: the instance in hand is not elastic)
        self.fresh = False  # the gang in hand was launched afresh (not restarted in place by a width change)
        super().__init__(env, cs, clocks, ledger, None)

    def _first_up(self, spot_only: bool) -> int | None:
        """The rung held by a width change while it still has capacity, else the usual order."""
        if self.hold is not None and self.clocks[self.hold[0]].available_at(self.env.now, self.cs.notice_s):
            return self.hold[0]
        self.hold = None
        return super()._first_up(spot_only)

    def _instance(self, idx: int) -> Generator[Any, Any, bool]:
        clock = self.clocks[idx]
        if not isinstance(clock, GangClock):
            self.hold = None
            return (yield from super()._instance(idx))
        return (yield from self._gang(idx, clock))

    def _gang(self, idx: int, clock: GangClock) -> Generator[Any, Any, bool]:
        env, cs, ledger, cp = self.env, self.cs, self.ledger, clock.cp
        kind = self.hold[1] if self.hold is not None and self.hold[0] == idx else ""
        self.hold = None
        ledger.counts.launches += 1
        n = ledger.counts.launches
        launch = env.now
        width = min(cp.nodes, clock.width_at(launch, cs.notice_s))
        fate = clock.fate_until(launch, clock.count.first_change(launch, below=width), cs)
        prov = 0.0 if kind else cs.provisioning_s
        if fate.at_s < launch + prov:  # lost the capacity while provisioning: nothing billed
            yield env.timeout(fate.at_s - launch)
            ledger.counts.failed_launches += 1
            ledger.unbilled(launch, env.now, Activity.PROVISIONING)
            self.preempted_region = cp.region
            return False
        if prov > 0:
            yield env.timeout(prov)
        start = env.now
        mig = None if kind else migration_for(self.held, cp.region, recovery=self.recovery,
                                              checkpoint_bytes=cs.checkpoint_bytes, egress=cs.egress_usd_per_gb)
        plan = training_plan(t0_s=start, recovery=self.recovery, recovery_at_s=self.recovery_at_s, work=cs.work_s,
                             rate=cp.throughput * width_factor(width, cp.nodes, cp.dp_efficiency_per_doubling),
                             costs=self.costs, setup_s=0.0 if kind == SHRINK else cs.setup_s,
                             restore_s=cs.restore_s, until_s=fate.at_s, migrate_s=mig.time_s if mig else 0.0)
        grow_at = self._grow_at(clock, plan, width, start, fate.at_s)
        self.width, self.fresh = width, not kind
        self.live = (plan, idx, n, launch, start, mig)
        yield env.timeout(min(plan.end_s, grow_at, fate.at_s) - env.now)
        now = env.now
        if plan.end_s <= min(grow_at, fate.at_s):  # ties: the job's own end comes first
            self._settle(plan, interrupted=False)
            return True
        if grow_at <= fate.at_s:  # nodes back: let the checkpoint just taken persist, then restart wider
            plan = plan.cut(now).then(stop_segments(plan.state_at(now), snapshot_s=cs.save_blocking_s,
                                                    persist_s=cs.persist_s))
            self.live = (plan, idx, n, launch, start, mig)
            if plan.end_s <= fate.at_s:
                yield env.timeout(max(0.0, plan.end_s - now))
                self._settle(plan, interrupted=False)
                self.hold = (idx, GROW)
                return False
            yield env.timeout(fate.at_s - now)  # a node is lost while the checkpoint persists
            now = env.now
        return (yield from self._lost(plan, idx, clock, fate, now))

    def _lost(self, plan: Plan, idx: int, clock: GangClock, fate: Any, now: float) -> Generator[Any, Any, bool]:
        """A node is lost (its notice seen at ``now``, or its termination): react, settle, hold or give up."""
        env, cs, ledger, cp = self.env, self.cs, self.ledger, clock.cp
        live = self.live
        assert live is not None
        ledger.counts.interruptions += 1
        self.preempted_region = cp.region
        if not fate.warned:
            self._settle(plan.cut(now), interrupted=True)
        else:
            plan, end, finished = self._react(plan, now, fate.term_s, plan.rate)
            self.live = (plan, *live[1:])
            yield env.timeout(end - now)
            self._settle(plan, interrupted=not finished)
        if clock.width_at(env.now, cs.notice_s) >= clock.min_nodes:
            self.hold = (idx, SHRINK)
        return False

    def _grow_at(self, clock: GangClock, plan: Plan, width: int, start: float, until: float) -> float:
        """When the gang stops to widen: the first checkpoint after joiners are ready that still finds them."""
        cs, nodes = self.cs, clock.cp.nodes
        t = start
        while width < nodes:
            rise = clock.count.first_change(t, at_least=width + 1, until_s=until)
            at = next_save_end_s(plan, rise + cs.provisioning_s) if rise < until else INF
            if at >= until:
                return INF
            if clock.count.usable(at, cs.notice_s) > width:
                return at
            t = at
        return INF

    def _settle(self, plan: Plan, *, interrupted: bool) -> None:
        """Bill a gang of ``width`` nodes (the first-hour refund only when launched afresh); others as usual."""
        if self.width is None:
            super()._settle(plan, interrupted=interrupted)
            return
        assert self.live is not None
        _, idx, n, launch, start, mig = self.live
        clock = self.clocks[idx]
        pool = replace(clock.cp, nodes=self.width, spot=clock.cp.spot and self.fresh)  # spot=False: no refund
        st = self.ledger.close(plan, pool=pool, price=clock.price, instance=n, launch_s=launch, start_s=start,
                               end_s=self.env.now, interrupted=interrupted, migration=mig)
        moved = mig is not None and plan.time_by_activity().get(Activity.MIGRATION, 0.0) >= mig.time_s - 1e-6
        self.held = held_after(self.held, clock.cp.region, saved=st.recovery > self.recovery, moved=moved)
        self.recovery, self.recovery_at_s = st.recovery, st.recovery_at_s
        self.live, self.width = None, None
