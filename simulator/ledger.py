"""The ledger of one run: time and cost by activity, lost work, instance bills, and the ``RunResult``.

Each instance's lifetime is billed by ``spotplan.simulator.billing``; its bill is shared over its activities in
proportion to their exact price integral. With a flat price that share is the activity's time, so the split is
taken from the plan's closed-form totals; only a replayed price, or a requested timeline, expands the plan into its
segments. Work past the recovery point at an interruption is lost: its compute time moves to ``LOST``.

A checkpoint transfer (``spotplan.simulator.migration``) is instance time like any other, booked to ``MIGRATION``;
its egress is not part of the instance's bill: it is added on top, to the same activity and to the pool that
pulled the checkpoint, in proportion to the transfer time the instance lived through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spotplan.simulator.billing import FlatPrice, ReplayedPrice, bill_usd
from spotplan.simulator.compile import CompiledPool, CompiledScenario
from spotplan.simulator.migration import Migration
from spotplan.simulator.result import (
    BUCKET_OF,
    Activity,
    BillBlock,
    Bills,
    CostBucket,
    InstanceBill,
    Interval,
    RunResult,
)
from spotplan.simulator.schedule import EPS, Plan, Segment, State

_BUCKET_VALUE = tuple((a, b.value) for a, b in BUCKET_OF.items())


@dataclass(slots=True)
class Counts:
    """Event counts of one run."""

    launches: int = 0
    failed_launches: int = 0
    interruptions: int = 0
    checkpoints: int = 0
    emergency_ok: int = 0
    emergency_failed: int = 0


@dataclass(slots=True)
class Ledger:
    """Accumulates one run's activities and bills; ``keep`` records the timeline."""

    cs: CompiledScenario
    keep: bool
    counts: Counts = field(default_factory=Counts)
    lost_work_s: float = 0.0
    cost_a: dict[Activity, float] = field(default_factory=lambda: dict.fromkeys(Activity, 0.0))
    time_a: dict[Activity, float] = field(default_factory=lambda: dict.fromkeys(Activity, 0.0))
    bills: list[InstanceBill | BillBlock] = field(default_factory=list)
    billed: list[float] = field(default_factory=list)  # billed USD per lifetime, in order (the cost sums)
    billed_pools: list[str] = field(default_factory=list)  # their pool labels
    timeline: list[Interval] = field(default_factory=list)
    egress_usd: float = 0.0  # checkpoint transfers between regions
    egress_by_pool: dict[str, float] = field(default_factory=dict)
    migrations: int = 0

    def unbilled(self, start_s: float, end_s: float, activity: Activity) -> None:
        """Waiting for capacity, or the provisioning of a launch that lost its capacity."""
        if end_s > start_s:
            self.time_a[activity] += end_s - start_s
            if self.keep:
                self.timeline.append(Interval(start_s=start_s, end_s=end_s, activity=activity))

    def close(self, plan: Plan, *, pool: CompiledPool, price: FlatPrice | ReplayedPrice, instance: int,
              launch_s: float, start_s: float, end_s: float, interrupted: bool,
              migration: Migration | None = None) -> State:
        """Settle an instance billed from ``start_s`` that ran ``plan`` (cut at ``end_s``); return its final state."""
        st = plan.state_at(end_s)
        egress_per_s = self._egress(plan, pool.label, migration)
        point = st.recovery
        lost = st.progress - point if interrupted else 0.0
        if lost > EPS:
            self.lost_work_s += lost
        self.counts.checkpoints += st.checkpoints
        raw, billed = bill_usd(price, start_s, end_s, nodes=pool.nodes, spot=pool.spot, interrupted=interrupted,
                               rules=self.cs.billing)
        self.bills.append(InstanceBill(pool=pool.label, start_s=start_s, end_s=end_s, nodes=pool.nodes,
                                       interrupted=interrupted, raw_usd=raw, billed_usd=billed))
        self.billed.append(billed)
        self.billed_pools.append(pool.label)
        scale = billed / raw if raw > 0 else 0.0
        self.time_a[Activity.PROVISIONING] += start_s - launch_s
        if self.keep and start_s > launch_s:
            self.timeline.append(Interval(start_s=launch_s, end_s=start_s, activity=Activity.PROVISIONING,
                                          pool=pool.label, instance=instance))
        if isinstance(price, FlatPrice) and not self.keep:
            times = plan.time_by_activity()
            if lost > EPS:
                wall = lost / plan.rate
                times[Activity.COMPUTE] -= wall
                times[Activity.LOST] = times.get(Activity.LOST, 0.0) + wall
            usd_per_s = price.usd_per_h * pool.nodes / 3600.0 * scale
            for act, t in times.items():
                self.time_a[act] += t
                self.cost_a[act] += usd_per_s * t
            self.cost_a[Activity.MIGRATION] += egress_per_s * times.get(Activity.MIGRATION, 0.0)
            return st
        segs = plan.segments()
        if lost > EPS:
            segs = mark_lost(segs, point, plan.rate)
        starts = np.array([s.start_s for s in segs])
        ends = np.array([s.end_s for s in segs])
        if isinstance(price, FlatPrice):
            costs = (ends - starts) * (price.usd_per_h * pool.nodes / 3600.0 * scale)
        else:
            costs = price.costs_usd(starts, ends) * (pool.nodes * scale)
        for seg, c in zip(segs, costs.tolist(), strict=True):
            if seg.activity is Activity.MIGRATION:
                c += egress_per_s * (seg.end_s - seg.start_s)
            self.time_a[seg.activity] += seg.end_s - seg.start_s
            self.cost_a[seg.activity] += c
            if self.keep:
                self.timeline.append(Interval(start_s=seg.start_s, end_s=seg.end_s, activity=seg.activity,
                                              pool=pool.label, instance=instance, cost_usd=c))
        return st

    def _egress(self, plan: Plan, label: str, migration: Migration | None) -> float:
        """Book the egress of the transfer this instance made (its share if cut); return egress USD per second."""
        moving_s = plan.time_by_activity().get(Activity.MIGRATION, 0.0) if migration is not None else 0.0
        if migration is None or moving_s <= 0:  # the instance ended before the transfer began
            return 0.0
        self.migrations += 1
        usd = migration.usd_per_s * moving_s
        self.egress_usd += usd
        self.egress_by_pool[label] = self.egress_by_pool.get(label, 0.0) + usd
        return migration.usd_per_s

    def result(self, *, finished: bool, makespan_s: float, offset_s: float) -> RunResult:
        """The run's figures; both cost splits sum to the billed total."""
        cs, n = self.cs, self.counts
        cost_by_pool: dict[str, float] = {p.label: 0.0 for p in cs.pools}
        for label, usd in zip(self.billed_pools, self.billed, strict=True):
            cost_by_pool[label] += usd
        for label, usd in self.egress_by_pool.items():
            cost_by_pool[label] += usd
        cost_b = {b.value: 0.0 for b in CostBucket}
        time_b = {b.value: 0.0 for b in CostBucket}
        for act, bucket in _BUCKET_VALUE:
            cost_b[bucket] += self.cost_a[act]
            time_b[bucket] += self.time_a[act]
        timeline = tuple(sorted(self.timeline, key=lambda iv: (iv.start_s, iv.end_s))) if self.keep else ()
        deadline_met = None if cs.deadline_s is None else bool(finished and makespan_s <= cs.deadline_s + EPS)
        return RunResult(
            finished=finished, makespan_s=makespan_s, cost_usd=sum(self.billed) + self.egress_usd,
            cost_by_pool_usd=cost_by_pool, cost_by_bucket_usd=cost_b, time_by_bucket_s=time_b,
            interruptions=n.interruptions, checkpoints=n.checkpoints, emergency_saves=n.emergency_ok,
            emergency_save_failures=n.emergency_failed,
            restarts=max(0, n.launches - 1 - n.failed_launches), failed_launches=n.failed_launches,
            lost_work_s=self.lost_work_s, deadline_met=deadline_met, start_offset_s=offset_s, timeline=timeline,
            bills=Bills(self.bills), egress_usd=self.egress_usd, migrations=self.migrations,
        )


def mark_lost(segs: list[Segment], point: float, rate: float) -> list[Segment]:
    """Compute past progress ``point`` becomes ``LOST`` (a segment that crosses it is split where it does)."""
    out: list[Segment] = []
    for s in segs:
        if s.activity is Activity.COMPUTE and s.p1 > point + EPS:
            if s.p0 >= point - EPS:
                out.append(Segment(s.start_s, s.end_s, Activity.LOST, "", s.p0, s.p1))
            else:
                t = s.start_s + (s.end_s - s.start_s) * (point - s.p0) / (s.p1 - s.p0)
                out.append(Segment(s.start_s, t, Activity.COMPUTE, "", s.p0, point))
                out.append(Segment(t, s.end_s, Activity.LOST, "", point, s.p1))
        else:
            out.append(s)
    return out
