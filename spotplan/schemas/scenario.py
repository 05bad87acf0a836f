"""The Scenario file: a training job, its checkpointing, and the pools it may run on, for ``spotplan simulate``.

Units are in field names: ``_s`` seconds, ``_h`` hours, ``_usd_per_h`` dollars per hour. Paths in a scenario
may use ``${SPOTPLAN_SHARED_DATA}`` (the public data folder) and are otherwise relative to the scenario file.
The simulator (``spotplan.simulator.compile``) turns a Scenario into runtime objects; the advisor writes Scenarios so a
recommended plan can be replayed.
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field, model_validator

from spotplan.schemas.base import SchemaModel, StrictModel
from spotplan.schemas.plan import Market


class IntervalPolicy(str, Enum):
    """How the checkpoint interval is chosen."""

    FIXED = "fixed"
    STEPS = "steps"
    YOUNG = "young"
    DALY = "daly"


class PriceKind(str, Enum):
    """Where a pool's price comes from."""

    HISTORY = "history"
    CATALOG = "catalog"
    FITTED = "fitted"
    FIXED = "fixed"


class AvailabilityKind(str, Enum):
    """Where a pool's availability (and so its interruptions) comes from."""

    ALWAYS = "always"
    TRACE = "trace"
    FITTED = "fitted"
    EXPONENTIAL = "exponential"
    ADVISOR_PRIOR = "advisor-prior"


class GangModel(str, Enum):
    """How a renewal pool's nodes are reclaimed together (``spotplan.simulator.counts``)."""

    INDEPENDENT = "independent"
    COMMON_SHOCK = "common-shock"


class RecoveryStrategy(str, Enum):
    """Which rung to try after an interruption (SkyPilot's names where they exist)."""

    EAGER_NEXT_REGION = "eager-next-region"
    FAILOVER = "failover"
    FIXED_ORDER = "fixed-order"


class DeadlinePolicy(str, Enum):
    """Spot/on-demand switching under a deadline (Can't Be Late, NSDI '24)."""

    NONE = "none"
    GREEDY = "greedy"
    UNIFORM_PROGRESS = "uniform-progress"
    COST_AWARE = "cost-aware"  # prices pools, migration, remaining lifetimes and slack (simulator/cost_aware.py)


class EndPolicy(str, Enum):
    """What a replayed history does when a run outlives it."""

    WRAP = "wrap"
    CLAMP = "clamp"


class GangPolicy(str, Enum):
    """What a multi-node job does when spot takes some of its nodes (``spotplan.simulator.gang``)."""

    WAIT = "wait"
    ELASTIC = "elastic"


class JobSpec(StrictModel):
    """The training job: how much work, and how many nodes must be up together."""

    work_h: float | None = Field(
        default=None, gt=0, description="Total compute in hours on the reference pool (throughput factor 1.0)."
    )
    steps: int | None = Field(default=None, gt=0, description="Total optimizer steps (with step_time_s).")
    step_time_s: float | None = Field(
        default=None, gt=0, description="Seconds per step on the reference pool; saves happen at step boundaries."
    )
    nodes: int = Field(default=1, ge=1, description="Instances per pool that must all be up (gang scheduling).")
    gang: GangPolicy = Field(
        default=GangPolicy.WAIT,
        description="wait: the gang runs only with all nodes up (a lost node stops it until all are back); "
                    "elastic: it continues at reduced width down to min_nodes, restarting from the last checkpoint "
                    "at each width change, and nodes that come back rejoin at the next checkpoint.",
    )
    min_nodes: int | None = Field(
        default=None, ge=1,
        description="elastic: the narrowest width the job runs at (at least the nodes that hold the model); "
                    "default ceil(nodes / 2).",
    )
    dp_efficiency_per_doubling: float = Field(
        default=1.0, gt=0, le=1,
        description="elastic: data-parallel efficiency per doubling of nodes; width k runs at "
                    "(k / nodes) * eff^(log2 k - log2 nodes) of the full gang's throughput (1.0: linear).",
    )

    @model_validator(mode="after")
    def _work_given_once(self) -> JobSpec:
        if self.work_h is None and (self.steps is None or self.step_time_s is None):
            raise ValueError("give work_h, or steps together with step_time_s")
        if self.work_h is not None and self.steps is not None:
            raise ValueError("give work_h or steps, not both")
        if self.min_nodes is not None and self.min_nodes > self.nodes:
            raise ValueError(f"min_nodes={self.min_nodes} is above nodes={self.nodes}; give at most nodes")
        return self

    @property
    def min_width(self) -> int:
        """The narrowest width the job runs at: all nodes when waiting, else ``min_nodes`` or ceil(nodes / 2)."""
        if self.gang is GangPolicy.WAIT:
            return self.nodes
        return self.min_nodes if self.min_nodes is not None else max(1, -(-self.nodes // 2))

    @property
    def work_s(self) -> float:
        """Total reference compute in seconds."""
        if self.work_h is not None:
            return self.work_h * 3600.0
        assert self.steps is not None and self.step_time_s is not None
        return self.steps * self.step_time_s


class IntervalSpec(StrictModel):
    """How often to checkpoint (compute time between the start of two saves)."""

    policy: IntervalPolicy = Field(default=IntervalPolicy.DALY, description="fixed, steps, young or daly.")
    interval_s: float | None = Field(default=None, gt=0, description="Compute seconds between saves (fixed).")
    every_steps: int | None = Field(default=None, ge=1, description="Steps between saves (steps; needs step_time_s).")
    mtbf_h: float | None = Field(
        default=None, gt=0,
        description="M for young/daly; default: the first spot rung's mean up-time (gang-adjusted).",
    )

    @model_validator(mode="after")
    def _needs(self) -> IntervalSpec:
        if self.policy is IntervalPolicy.FIXED and self.interval_s is None:
            raise ValueError("policy 'fixed' needs interval_s")
        if self.policy is IntervalPolicy.STEPS and self.every_steps is None:
            raise ValueError("policy 'steps' needs every_steps")
        return self


class CheckpointSpec(StrictModel):
    """Saving and restoring: the blocking snapshot, the background persist, the restore, and retention."""

    save_blocking_s: float = Field(ge=0, description="Training stalls this long per save (snapshot or sync save).")
    persist_background_s: float = Field(
        default=0.0, ge=0,
        description="Background write after the snapshot; a checkpoint is a recovery point only once it finishes.",
    )
    restore_s: float = Field(default=0.0, ge=0, description="Download and load of a checkpoint on a new instance.")
    keep_last: int = Field(default=2, ge=1, description="Persisted checkpoints kept (older ones are deleted).")
    checkpoint_bytes: int = Field(default=0, ge=0, description="Size of one checkpoint (reported storage).")
    final_save: bool = Field(default=True, description="Save the final model; the job ends once it is persisted.")
    interval: IntervalSpec = Field(default_factory=IntervalSpec, description="The checkpoint interval policy.")


class NoticeSpec(StrictModel):
    """Interruption handling: notice length, emergency save and detection lag."""

    notice_s: float = Field(default=120.0, ge=0, description="Warning before termination: AWS 120, GCP/Azure 30.")
    emergency_save: bool = Field(
        default=True, description="Save at the next step boundary after a notice; counts only if persisted in time."
    )
    detection_lag_s: float = Field(default=5.0, ge=0, description="Delay before the job sees the notice (IMDS poll).")


class ChangeoverSpec(StrictModel):
    """Getting a new instance going. Provisioning is not billed; setup and restore are."""

    provisioning_s: float = Field(default=240.0, ge=0, description="Launch request to a running instance.")
    setup_s: float = Field(default=300.0, ge=0, description="Image, environment and data setup on a new instance.")
    retry_gap_s: float = Field(
        default=60.0, gt=0, description="When no rung has capacity, retry on this grid (SkyPilot: 60 s)."
    )


class PriceSource(StrictModel):
    """Where a pool's price comes from."""

    kind: PriceKind = Field(description="history, catalog, fitted or fixed.")
    path: str | None = Field(default=None, description="describe-spot-price-history file or folder (history).")
    usd_per_h: float | None = Field(default=None, ge=0, description="Price of one instance (fixed).")

    @model_validator(mode="after")
    def _needs(self) -> PriceSource:
        if self.kind is PriceKind.HISTORY and not self.path:
            raise ValueError("price kind 'history' needs path")
        if self.kind is PriceKind.FIXED and self.usd_per_h is None:
            raise ValueError("price kind 'fixed' needs usd_per_h")
        return self


class AvailabilitySource(StrictModel):
    """Where a pool's availability comes from; a running instance is interrupted when its pool goes down."""

    kind: AvailabilityKind = Field(description="always, trace, fitted, exponential or advisor-prior.")
    path: str | None = Field(default=None, description="Can't Be Late JSON trace (trace).")
    mtbf_h: float | None = Field(default=None, gt=0, description="Mean up-time of one instance (exponential).")
    downtime_h: float = Field(
        default=0.0, ge=0, description="Mean time the pool stays unavailable after an interruption (exponential)."
    )
    rate_multiplier: float = Field(
        default=1.0, gt=0, description="What-if: scale the interruption rate (divides sampled up-times)."
    )
    gang_model: GangModel = Field(
        default=GangModel.INDEPENDENT,
        description="Multi-node gangs on exponential/fitted/advisor-prior sources: independent nodes (wait: the "
                    "gang's up time is the shortest of its nodes' lifetimes), or common-shock: zone-wide reclaims "
                    "plus partial shocks fitted to the Can't Be Late multi-node traces "
                    "(data/fitted/gang_correlation.json).",
    )

    @model_validator(mode="after")
    def _needs(self) -> AvailabilitySource:
        if self.kind is AvailabilityKind.TRACE and not self.path:
            raise ValueError("availability kind 'trace' needs path")
        if self.kind is AvailabilityKind.EXPONENTIAL and self.mtbf_h is None:
            raise ValueError("availability kind 'exponential' needs mtbf_h")
        if self.gang_model is GangModel.COMMON_SHOCK and self.kind in (AvailabilityKind.ALWAYS, AvailabilityKind.TRACE):
            raise ValueError(f"gang_model 'common-shock' applies to renewal sources (exponential, fitted, "
                             f"advisor-prior), not '{self.kind.value}' (a trace already counts the nodes)")
        return self


class PoolSpec(StrictModel):
    """One rung of the fallback ladder."""

    name: str | None = Field(default=None, description="Label for reports; default type/zone/market.")
    instance_type: str = Field(description="Instance type, e.g. p3.2xlarge.")
    region: str = Field(description="Region, e.g. us-east-1.")
    zone: str | None = Field(default=None, description="Availability zone name (us-east-1a); None = region-wide.")
    market: Market = Field(default=Market.SPOT, description="spot or on-demand.")
    throughput_factor: float = Field(default=1.0, gt=0, description="Speed relative to the reference pool.")
    price: PriceSource = Field(description="Where the price comes from.")
    availability: AvailabilitySource = Field(
        default_factory=lambda: AvailabilitySource(kind=AvailabilityKind.ALWAYS),
        description="Where availability comes from (on-demand: always).",
    )
    max_price_usd_per_h: float | None = Field(
        default=None, gt=0, description="Optional spot max price: replayed prices above it interrupt the instance."
    )

    @property
    def label(self) -> str:
        """Readable name used in results."""
        return self.name or f"{self.instance_type}/{self.zone or self.region}/{self.market.value}"


class LadderSpec(StrictModel):
    """Fallback order and recovery strategy across the pools.

    Without a deadline policy the job stays on a rung until it is preempted (Can't Be Late's exploitation rule),
    so a job that falls back to an on-demand last rung finishes there, as with SkyPilot's ``any_of`` fallback.
    When no rung has capacity the job retries on ``changeover.retry_gap_s``.
    """

    recovery: RecoveryStrategy = Field(
        default=RecoveryStrategy.EAGER_NEXT_REGION,
        description="eager-next-region (SkyPilot default), failover (same region first) or fixed-order.",
    )


class DeadlineSpec(StrictModel):
    """Optional deadline and the spot/on-demand policy that tries to meet it."""

    policy: DeadlinePolicy = Field(default=DeadlinePolicy.NONE, description="none, greedy or uniform-progress.")
    deadline_h: float | None = Field(default=None, gt=0, description="Hours from the start to finish the job.")

    @model_validator(mode="after")
    def _needs(self) -> DeadlineSpec:
        if self.policy is not DeadlinePolicy.NONE and self.deadline_h is None:
            raise ValueError(f"deadline policy '{self.policy.value}' needs deadline_h")
        return self


class BillingSpec(StrictModel):
    """Billing rules, each a flag with AWS's real default."""

    per_second: bool = Field(default=True, description="Per-second billing (False: whole hours, rounded up).")
    minimum_s: float = Field(default=60.0, ge=0, description="Minimum billed time per instance start.")
    first_hour_free_on_interruption: bool = Field(
        default=True, description="AWS: a spot instance AWS interrupts within its first hour is not charged (Linux)."
    )


class ReplaySpec(StrictModel):
    """How Monte Carlo runs are placed on replayed histories."""

    start_offset_h: float | None = Field(
        default=None, ge=0, description="Fixed start offset into the histories; None = uniform random per run."
    )
    end_policy: EndPolicy = Field(
        default=EndPolicy.WRAP, description="wrap: continue from the history's start; clamp: hold the last value."
    )


class Scenario(SchemaModel):
    """A job, its checkpointing and its fallback ladder: everything ``spotplan simulate`` needs."""

    name: str = Field(default="scenario", description="Short name shown in reports.")
    description: str = Field(default="", description="Free text.")
    job: JobSpec = Field(description="The training job.")
    checkpoint: CheckpointSpec = Field(description="Save and restore times and the interval policy.")
    notice: NoticeSpec = Field(default_factory=NoticeSpec, description="Interruption notice handling.")
    changeover: ChangeoverSpec = Field(default_factory=ChangeoverSpec, description="Provisioning and setup.")
    pools: list[PoolSpec] = Field(min_length=1, description="The ladder, preferred rung first.")
    ladder: LadderSpec = Field(default_factory=LadderSpec, description="Recovery strategy.")
    deadline: DeadlineSpec = Field(default_factory=DeadlineSpec, description="Deadline and its policy.")
    billing: BillingSpec = Field(default_factory=BillingSpec, description="Billing rules.")
    replay: ReplaySpec = Field(default_factory=ReplaySpec, description="Replay start and end-of-history policy.")

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        markets = [p.market for p in self.pools]
        if Market.ON_DEMAND in markets:
            first_od = markets.index(Market.ON_DEMAND)
            if Market.SPOT in markets[first_od:]:
                raise ValueError("on-demand rungs must come after every spot rung (on-demand is the last resort)")
        if self.deadline.policy is not DeadlinePolicy.NONE and (
                Market.ON_DEMAND not in markets or Market.SPOT not in markets):
                raise ValueError(
                    f"deadline policy '{self.deadline.policy.value}' needs spot rungs and an on-demand last rung"
                )
        shock = any(p.availability.gang_model is GangModel.COMMON_SHOCK for p in self.pools)
        if self.job.gang is GangPolicy.ELASTIC or shock:  # what spotplan.simulator.gang_job does not model yet
            what = "job.gang 'elastic'" if self.job.gang is GangPolicy.ELASTIC else "gang_model 'common-shock'"
            if self.deadline.policy is not DeadlinePolicy.NONE:
                raise ValueError(f"{what} with deadline.policy '{self.deadline.policy.value}' is not "
                                 "modelled; use deadline.policy 'none', or job.gang 'wait' with independent nodes")
            if any(p.max_price_usd_per_h is not None for p in self.pools):
                raise ValueError(f"{what} with a pool max_price_usd_per_h is not modelled; drop "
                                 "max_price_usd_per_h, or use job.gang 'wait' with independent nodes")
        interval = self.checkpoint.interval
        if interval.policy is IntervalPolicy.STEPS and self.job.step_time_s is None:
            raise ValueError("checkpoint.interval policy 'steps' needs job.step_time_s")
        labels = [p.label for p in self.pools]
        dupes = {x for x in labels if labels.count(x) > 1}
        if dupes:
            raise ValueError(f"pool labels must be unique; repeated: {sorted(dupes)} (set 'name')")
        return self
