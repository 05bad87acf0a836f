"""The Calibration file: measured save and restore costs, written by ``spotplan calibrate``.

Each fitted cost follows ``time_s = overhead_s + bytes / bandwidth_bytes_per_s``. Predictions beyond the
largest measured size are extrapolations and are reported as such.
"""

from __future__ import annotations

from pydantic import Field

from spotplan.schemas.base import SchemaModel, StrictModel


class LinearCostFit(StrictModel):
    """time_s = overhead_s + bytes / bandwidth_bytes_per_s, fitted by least squares."""

    overhead_s: float = Field(ge=0)
    bandwidth_bytes_per_s: float = Field(gt=0)
    r2: float | None = None

    def seconds(self, n_bytes: float) -> float:
        """Predicted time for a state of ``n_bytes``."""
        return self.overhead_s + n_bytes / self.bandwidth_bytes_per_s


class CalibrationPoint(StrictModel):
    """Median timings measured for one state size after warm-up."""

    state_bytes: int = Field(gt=0)
    snapshot_s: float = Field(ge=0, description="Blocking copy of the state into (pinned) CPU memory.")
    persist_s: float = Field(ge=0, description="Background write, fsync and manifest commit.")
    restore_s: float = Field(ge=0, description="Verified load back into the training state.")
    sync_save_s: float | None = Field(default=None, ge=0, description="Snapshot and persist on one thread.")
    repeats: int = Field(default=1, ge=1)


class MachineInfo(StrictModel):
    """Where the calibration was measured."""

    platform: str
    cpu: str = ""
    cpu_count: int = Field(default=1, ge=1)
    device: str = Field(description="cpu, or the CUDA device name.")
    disk: str = Field(default="", description="Filesystem and device backing the checkpoint directory.")
    torch_version: str = ""
    world_size: int = Field(default=1, ge=1, description="Processes that saved together (torchrun ranks).")
    backend: str = Field(default="", description="gloo or nccl under torchrun; empty for one process.")


class Calibration(SchemaModel):
    """Measured checkpoint costs that replace the advisor's default bandwidth assumptions."""

    created_utc: str
    machine: MachineInfo
    checkpoint_dir: str = ""
    points: list[CalibrationPoint] = Field(min_length=1)
    snapshot: LinearCostFit
    persist: LinearCostFit
    restore: LinearCostFit

    @property
    def max_measured_bytes(self) -> int:
        """Largest state size actually measured; beyond it predictions are extrapolated."""
        return max(p.state_bytes for p in self.points)

    def predict(self, n_bytes: float) -> dict[str, float | bool]:
        """Predicted snapshot, persist and restore seconds for ``n_bytes``, flagged when extrapolated."""
        return {
            "snapshot_s": self.snapshot.seconds(n_bytes),
            "persist_s": self.persist.seconds(n_bytes),
            "restore_s": self.restore.seconds(n_bytes),
            "extrapolated": n_bytes > self.max_measured_bytes,
        }
