"""The Plan file: what ``spotplan recommend --out`` writes and ``spotplan run`` executes.

Units are in field names: ``_s`` seconds, ``_h`` hours, ``_usd`` dollars, ``_usd_per_h`` dollars per hour.
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from spotplan.schemas.base import SchemaModel, StrictModel

MAX_NODES = 128  # the largest gang spotplan plans (of 8-GPU instances: 1,024 GPUs)

class Market(str, Enum):
    """How a rung of the ladder is bought."""

    SPOT = "spot"
    ON_DEMAND = "on-demand"


class TrainingMode(str, Enum):
    """Full mixed-precision AdamW training, or LoRA adapters over frozen weights."""

    FULL = "full"
    LORA = "lora"


class Pool(StrictModel):
    """One rung of the fallback ladder: an instance type bought in one market in one place."""

    instance_type: str = Field(description="EC2 instance type, e.g. p4d.24xlarge.")
    market: Market = Field(description="spot or on-demand.")
    region: str = Field(description="Cloud region, e.g. us-east-1.")
    zone: str | None = Field(default=None, description="Availability zone name; None for a region-wide rung.")
    az_id: str | None = Field(default=None, description="Availability zone ID (use1-az2) where known.")
    nodes: int = Field(default=1, ge=1, description="Instances of this type that must all be up (gang).")
    price_usd_per_h: float = Field(ge=0, description="Expected price of one instance in USD per hour.")
    throughput_factor: float = Field(
        default=1.0, gt=0, description="Training speed relative to the plan's reference pool (1.0 = same)."
    )
    interruption_source: str = Field(
        default="", description="Where the pool's interruption behaviour came from: trace, fit, advisor-band prior."
    )
    mtbf_h: float | None = Field(
        default=None, gt=0, description="Mean up-time of one instance before an interruption, hours (None: on-demand)."
    )


class Distribution(StrictModel):
    """Summary of a Monte Carlo distribution of one quantity."""

    mean: float
    std: float = 0.0
    p50: float
    p90: float | None = None
    p95: float
    p99: float | None = None
    ci95: tuple[float, float] = Field(description="95% confidence interval of the mean.")


class Expected(StrictModel):
    """What the plan is expected to cost and take, from the simulator's Monte Carlo."""

    cost_usd: Distribution
    makespan_h: Distribution
    deadline_hit_rate: float | None = Field(default=None, ge=0, le=1)
    on_demand_cost_usd: float | None = Field(default=None, ge=0, description="Same job on on-demand only.")
    savings_vs_on_demand: float | None = Field(default=None, description="1 - cost / on-demand cost.")
    runs: int = Field(ge=1, description="Monte Carlo runs behind these figures.")
    seed: int = 0


class Assumption(StrictModel):
    """One input of the plan, with its value and where it came from."""

    name: str
    value: str | float | int | bool | None
    unit: str = ""
    source: str = Field(description="File, measurement, default or formula the value came from.")


class ModelSpec(StrictModel):
    """The training job the plan was made for."""

    model_size: str = Field(description="As given, e.g. '7B'.")
    n_params: int = Field(gt=0)
    mode: TrainingMode = TrainingMode.FULL
    tokens: int = Field(gt=0, description="Training tokens for the whole run.")
    seq_len: int = Field(default=2048, gt=0)
    global_batch_tokens: int = Field(gt=0, description="Tokens per optimizer step across all GPUs.")
    step_time_s: float = Field(gt=0, description="Expected step time on the reference (first) pool.")
    total_steps: int = Field(gt=0)
    checkpoint_bytes: int = Field(ge=0, description="Bytes one full checkpoint writes.")


class NoticeHandling(StrictModel):
    """What the runner does when the cloud announces an interruption."""

    notice_s: float = Field(ge=0, description="Notice length: AWS 120, GCP and Azure 30.")
    emergency_save: bool = Field(description="Try a save at the next step boundary after a notice.")
    emergency_save_fits: bool = Field(description="Whether the expected save time fits inside the notice.")
    imds_poll_s: float = Field(default=5.0, gt=0, description="IMDS instance-action poll period (AWS advises 5 s).")
    detection_lag_s: float = Field(default=5.0, ge=0)


class Plan(SchemaModel):
    """A complete training plan: ladder, checkpointing, notice handling, expectations and provenance."""

    plan_id: str = Field(description="Short hash of the inputs; names the checkpoint namespace.")
    created_utc: str = Field(description="ISO-8601 UTC time the plan was made.")
    model: ModelSpec
    ladder: list[Pool] = Field(min_length=1, description="Ordered fallback ladder; first rung preferred.")
    recovery_strategy: str = Field(description="eager-next-region, failover, or fixed-order.")
    deadline_policy: str = Field(default="none", description="none, greedy, or uniform-progress.")
    deadline_h: float | None = Field(default=None, gt=0)
    checkpoint_interval_s: float = Field(gt=0, description="Compute time between checkpoints.")
    checkpoint_interval_steps: int = Field(ge=1, description="The same interval in optimizer steps.")
    keep_last_k: int = Field(default=3, ge=1)
    async_save: bool = Field(default=True, description="Snapshot to CPU memory, persist in the background.")
    save_blocking_s: float = Field(ge=0, description="Expected blocking part of a save.")
    save_persist_s: float = Field(ge=0, description="Expected background persist time of a save.")
    restore_s: float = Field(ge=0, description="Expected restore time.")
    notice: NoticeHandling
    expected: Expected
    assumptions: list[Assumption] = Field(default_factory=list)
    data_as_of: dict[str, str] = Field(default_factory=dict, description="Data source -> as-of date.")
    inputs_sha256: str = Field(description="sha256 of the canonicalised inputs.")
