"""The plan's expected cost and time split by activity, in the simulator's bucket names.

Scoring keeps each run's split (``RunResult.cost_by_bucket_usd``, ``time_by_bucket_s``: the ``CostBucket``
names of ``spotplan.simulator.result``, migration's egress and transfer time in the ``migration`` bucket);
``mean_breakdown`` averages them over the same runs as the expected cost, so the cost split sums to the plan's
expected cost (each run's split sums to its cost). Costs USD, times hours (time includes the unbilled buckets:
waiting and provisioning, the latter in ``changeover_restore``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from spotplan.simulator.result import CostBucket

BUCKETS: tuple[str, ...] = tuple(b.value for b in CostBucket)  # the order of a run's split


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSplit:
    """What scoring keeps of one run's split: cost and time per bucket (``BUCKETS`` order), egress, transfers."""

    cost_usd: tuple[float, ...]
    time_s: tuple[float, ...]
    egress_usd: float
    migrations: int

    @classmethod
    def of(cls, result: Any) -> RunSplit:
        """The split of a ``RunResult``."""
        return cls(cost_usd=tuple(result.cost_by_bucket_usd[b] for b in BUCKETS),
                   time_s=tuple(result.time_by_bucket_s[b] for b in BUCKETS),
                   egress_usd=result.egress_usd, migrations=result.migrations)


@dataclass(frozen=True, slots=True, kw_only=True)
class Breakdown:
    """Mean per run over the plan's replays: cost and time by bucket, and the migrations behind that bucket."""

    cost_usd: dict[str, float]  # bucket -> USD; sums to the expected cost
    time_h: dict[str, float]  # bucket -> hours (wall-clock, billed or not)
    egress_usd: float  # the part of the migration cost paid for the bytes moved (the rest: billed transfer time)
    migrations: float  # checkpoint transfers between regions started per run
    runs: int

    @property
    def total_usd(self) -> float:
        """The sum of the cost split (the plan's expected cost)."""
        return sum(self.cost_usd.values())

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` ``breakdown`` object."""
        return {"cost_usd": dict(self.cost_usd), "time_h": dict(self.time_h), "egress_usd": self.egress_usd,
                "migrations": self.migrations, "runs": self.runs}


def mean_breakdown(splits: Sequence[RunSplit]) -> Breakdown | None:
    """The mean split over ``splits`` (the runs the expected figures come from); None without runs."""
    if not splits:
        return None
    cost = np.mean(np.array([s.cost_usd for s in splits], dtype=float), axis=0)
    time_h = np.mean(np.array([s.time_s for s in splits], dtype=float), axis=0) / 3600.0
    return Breakdown(cost_usd=dict(zip(BUCKETS, cost.tolist(), strict=True)),
                     time_h=dict(zip(BUCKETS, time_h.tolist(), strict=True)),
                     egress_usd=float(np.mean([s.egress_usd for s in splits])),
                     migrations=float(np.mean([s.migrations for s in splits])), runs=len(splits))
