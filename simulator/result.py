"""Immutable records of one simulated run: the timeline of state intervals and the cost breakdowns.

Times are simulation seconds from the job's start (``_s``); costs are USD. A run's cost is split by pool label
and by activity bucket (``CostBucket``); both splits sum to ``cost_usd``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

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


class CostBucket(str, Enum):
    """The issue's cost categories; every activity maps to one."""

    USEFUL_COMPUTE = "useful_compute"
    CHECKPOINT_STALL = "checkpoint_stall"
    LOST_WORK = "lost_work"
    CHANGEOVER_RESTORE = "changeover_restore"
    WAITING = "waiting"


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
    bills: tuple[InstanceBill, ...] = field(repr=False)

    @property
    def makespan_h(self) -> float:
        """Makespan in hours."""
        return self.makespan_s / 3600.0

    def timeline_frame(self) -> pd.DataFrame:
        """The timeline as a DataFrame (start_s, end_s, activity, pool, instance, cost_usd)."""
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
