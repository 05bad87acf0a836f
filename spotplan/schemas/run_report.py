"""The RunReport file: what one ``spotplan run`` invocation did, written at exit next to the checkpoints.

Units are in field names: ``_s`` seconds, ``_bytes`` bytes. ``losses`` holds the training loss of every step from
``losses_from_step`` (1 for a run whose every invocation left its report) to ``end_step``, across resumes: an
invocation takes the losses up to the step it resumed from out of the report the previous one left.
"""

from __future__ import annotations

from pydantic import Field

from spotplan.schemas.base import SchemaModel


class RunReport(SchemaModel):
    """Summary of one runner invocation: steps, checkpoints, restore, exit code and the loss curve."""

    created_utc: str = Field(description="ISO-8601 UTC time the report was written.")
    plan_id: str = Field(description="plan_id of the Plan that was executed.")
    config_hash: str = Field(description="sha256 of the model, optimiser, data and seed settings.")
    device: str = Field(description="cpu, or the CUDA device name.")
    model_size: str = Field(description="Runner size name, or 'plan' when sized from the plan's n_params.")
    n_params: int = Field(gt=0, description="Trainable parameters of the model.")
    state_bytes: int = Field(ge=0, description="Bytes of one checkpoint's tensors (model, optimizer, RNG).")
    seed: int = Field(description="Seed of the weight initialisation and the data order.")
    checkpoint_dir: str = Field(description="Local checkpoint directory.")
    interval_steps: int = Field(ge=1, description="Periodic checkpoint interval used, in steps.")
    async_save: bool = Field(description="Whether saves persisted in the background.")
    start_step: int = Field(ge=0, description="Step the invocation started from (0, or the restored step).")
    end_step: int = Field(ge=0, description="Last completed step.")
    restored_from: str | None = Field(default=None, description="'local', 's3', or None for a fresh start.")
    restore_s: float | None = Field(default=None, ge=0, description="Seconds to find, verify and load the restore.")
    saves: int = Field(ge=0, description="Checkpoints committed by this invocation.")
    save_blocking_s_mean: float | None = Field(default=None, ge=0, description="Mean training stall per save.")
    save_persist_s_mean: float | None = Field(default=None, ge=0, description="Mean write+fsync+commit time.")
    step_time_s_median: float | None = Field(default=None, ge=0, description="Median seconds per training step.")
    last_committed_step: int | None = Field(default=None, description="Newest committed checkpoint at exit.")
    notice_source: str | None = Field(default=None, description="sigterm, sigint or imds when a notice came.")
    exit_code: int = Field(description="0 completed, 75 preempted (notice handled), 2 user error.")
    exit_reason: str = Field(description="Why the run stopped, in words.")
    losses: list[float] = Field(default_factory=list, description="Loss of each step losses_from_step..end_step, "
                                "across resumes (earlier invocations' losses come from the report they left).")
    losses_from_step: int = Field(default=1, ge=1, description="Step of losses[0]: 1 unless an earlier "
                                  "invocation's report was missing or of another configuration.")
