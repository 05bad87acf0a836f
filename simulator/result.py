"""Immutable records of one simulated run: the timeline of state intervals and the cost breakdowns.

Times are simulation seconds from the job's start (``_s``); costs are USD. A run's cost is split by pool label
and by activity bucket (``CostBucket``); both splits sum to ``cost_usd``, which is the instance bills plus the
egress of checkpoint migrations (booked to the pool that pulled the checkpoint and to the ``migration`` bucket).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    import pandas as pd


class Activity(str, Enum):
    """What the job was doing during a timeline interval."""

    WAITING = "waiting"  # no rung had capacity (or the deadline policy chose to idle); nothing billed
    PROVISIONING = "provisioning"  # launch request to running instance; not billed
    SETUP = "setup"  # image, environment, data on the new instance
    RESTORE = "restore"  # checkpoint download and load
    COMPUTE = "compute"  # training whose progress survived
    LOST = "lost"  # training whose progress was lost to an interruption
    CHECKPOINT = "checkpoint"  # blocking snapshot, or stalled on the previous background persist
    EMERGENCY_SAVE = "emergency_save"  # save after a notice (stall on persist, snapshot, persist)
    NOTICE_IDLE = "notice_idle"  # between the end of the reaction to a notice and termination
    MIGRATION = "migration"  # moving the latest checkpoint from another region (transfer time, plus its egress)


class CostBucket(str, Enum):
    """The issue's cost categories; every activity maps to one."""

    USEFUL_COMPUTE = "useful_compute"
    CHECKPOINT_STALL = "checkpoint_stall"
    LOST_WORK = "lost_work"
    CHANGEOVER_RESTORE = "changeover_restore"
    WAITING = "waiting"
    MIGRATION = "migration"


BUCKET_OF: dict[Activity, CostBucket] = {
    Activity.WAITING: CostBucket.WAITING,
    Activity.PROVISIONING: CostBucket.CHANGEOVER_RESTORE,
    Activity.SETUP: CostBucket.CHANGEOVER_RESTORE,
    Activity.RESTORE: CostBucket.CHANGEOVER_RESTORE,
    Activity.COMPUTE: CostBucket.USEFUL_COMPUTE,
    Activity.LOST: CostBucket.LOST_WORK,
    Activity.CHECKPOINT: CostBucket.CHECKPOINT_STALL,
    Activity.EMERGENCY_SAVE: CostBucket.CHECKPOINT_STALL,
    Activity.NOTICE_IDLE: CostBucket.LOST_WORK,
    Activity.MIGRATION: CostBucket.MIGRATION,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Interval:
    """One state interval of the timeline. ``cost_usd`` is this interval's share of its instance's bill."""

    start_s: float
    end_s: float
    activity: Activity
    pool: str = ""  # pool label; "" while waiting
    instance: int = -1  # launch number within the run; -1 while waiting
    cost_usd: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceBill:
    """One instance lifetime and what it was billed."""

    pool: str
    start_s: float
    end_s: float
    nodes: int
    interrupted: bool  # ended by the cloud (True) or by the job (False)
    raw_usd: float  # exact integral of the step price over the lifetime
    billed_usd: float  # after the minimum, rounding and first-hour rules


@dataclass(frozen=True, slots=True)
class BillBlock:
    """Bills of consecutive interrupted lifetimes in columns (what the fast-forward books at once)."""

    pools: list[str]
    starts_s: list[float]
    ends_s: list[float]
    nodes: list[int]
    raw_usd: list[float]
    billed_usd: list[float]

    def bills(self) -> list[InstanceBill]:
        """The rows as ``InstanceBill`` records."""
        return [InstanceBill(pool=p, start_s=a, end_s=b, nodes=n, interrupted=True, raw_usd=r, billed_usd=c)
                for p, a, b, n, r, c in zip(self.pools, self.starts_s, self.ends_s, self.nodes, self.raw_usd,
                                            self.billed_usd, strict=True)]


class Bills(Sequence[InstanceBill]):
    """A run's instance bills in order; blocks booked by the fast-forward become ``InstanceBill`` records only
    when read (a long run has thousands of lifetimes and the advisor reads none of them)."""

    __slots__ = ("_parts", "_rows")

    def __init__(self, parts: Sequence[InstanceBill | BillBlock] = ()) -> None:
        self._parts = tuple(parts)
        self._rows: tuple[InstanceBill, ...] | None = None

    def _all(self) -> tuple[InstanceBill, ...]:
        if self._rows is None:
            rows: list[InstanceBill] = []
            for part in self._parts:
                if isinstance(part, BillBlock):
                    rows += part.bills()
                else:
                    rows.append(part)
            self._rows = tuple(rows)
        return self._rows

    def __len__(self) -> int:
        return len(self._all())

    @overload
    def __getitem__(self, i: int) -> InstanceBill: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[InstanceBill, ...]: ...

    def __getitem__(self, i: int | slice) -> InstanceBill | tuple[InstanceBill, ...]:
        return self._all()[i]

    def __iter__(self) -> Iterator[InstanceBill]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Bills):
            return self._all() == other._all()
        if isinstance(other, tuple):
            return self._all() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return f"Bills({len(self)} lifetimes)"

    def __getstate__(self) -> tuple[InstanceBill | BillBlock, ...]:
        return self._parts

    def __setstate__(self, state: tuple[InstanceBill | BillBlock, ...]) -> None:
        self._parts, self._rows = state, None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """Outcome of one simulated run."""

    finished: bool
    makespan_s: float
    cost_usd: float
    cost_by_pool_usd: dict[str, float]
    cost_by_bucket_usd: dict[str, float]
    time_by_bucket_s: dict[str, float]
    interruptions: int
    checkpoints: int
    emergency_saves: int  # emergency saves that persisted before termination
    emergency_save_failures: int
    restarts: int  # launches after the first
    failed_launches: int  # launches that lost their capacity before the instance ran
    lost_work_s: float  # reference compute seconds lost to interruptions
    deadline_met: bool | None
    start_offset_s: float
    timeline: tuple[Interval, ...] = field(repr=False)
    bills: Sequence[InstanceBill] = field(repr=False)  # a ``Bills`` from the model, a tuple from the reference
    egress_usd: float = 0.0  # checkpoint transfer between regions (in cost_usd and the migration bucket, not a bill)
    migrations: int = 0  # checkpoint transfers started (a restart in a region without the latest checkpoint)

    @property
    def makespan_h(self) -> float:
        """Makespan in hours."""
        return self.makespan_s / 3600.0

    def timeline_frame(self) -> pd.DataFrame:
        """The timeline as a DataFrame (start_s, end_s, activity, pool, instance, cost_usd)."""
        import pandas as pd  # only the dashboard and exports need tables: kept off the recommend path

        return pd.DataFrame(
            [
                {
                    "start_s": iv.start_s, "end_s": iv.end_s, "activity": iv.activity.value,
                    "bucket": BUCKET_OF[iv.activity].value, "pool": iv.pool, "instance": iv.instance,
                    "cost_usd": iv.cost_usd,
                }
                for iv in self.timeline
            ],
            columns=["start_s", "end_s", "activity", "bucket", "pool", "instance", "cost_usd"],
        )
