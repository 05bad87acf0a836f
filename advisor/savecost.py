"""Checkpoint save/restore times and notice feasibility.

Times are seconds, sizes bytes, bandwidths bytes per second, per node: every node writes its own
shard of a sharded checkpoint in parallel, so a node's share is ``checkpoint_bytes / nodes``.
A ``Calibration`` file measured by ``spotplan calibrate`` replaces the stated default bandwidths.
"""

from __future__ import annotations

from dataclasses import dataclass

from spotplan.errors import ConfigError
from spotplan.schemas.calibration import Calibration

DEFAULT_PERSIST_BYTES_PER_S = 1.0e9
PERSIST_SOURCE = (
    "spotplan default 1 GB/s per node to durable storage; the PyTorch/IBM async-checkpoint blog's 7B "
    "synchronous save took 148.8 s (pytorch.org/blog/reducing-checkpointing-times), ~0.6-1 GB/s"
)
DEFAULT_SNAPSHOT_BYTES_PER_S = 1.0e10
SNAPSHOT_SOURCE = (
    "spotplan default 10 GB/s per node GPU->pinned CPU copy (PCIe 4.0 x16 is ~25 GB/s per GPU; same blog: "
    "7B async-save stall 6.3 s)"
)
NOTICE_S = {"aws": 120.0, "gcp": 30.0, "azure": 30.0}
NOTICE_SOURCE = "AWS 2-minute spot notice; GCP Spot VMs 30 s; Azure Preempt >= 30 s (reference §3.1)"
DETECTION_LAG_S = 5.0  # AWS advises polling IMDS instance-action every 5 s
# Young's and Daly's formulas divide by the blocking save time; a save the model takes as instant is floored here.
MIN_BLOCKING_S = 1e-3


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveCosts:
    """Per-node save and restore times for one checkpoint."""

    bytes_per_node: int
    snapshot_s: float  # blocking copy to CPU memory
    persist_s: float  # background write + commit
    restore_s: float
    source: str
    extrapolated: bool = False

    @property
    def blocking_s(self) -> float:
        """The training stall of one save as the interval formulas take it (δ): the snapshot, floored at
        ``MIN_BLOCKING_S``."""
        return max(self.snapshot_s, MIN_BLOCKING_S)

    @property
    def sync_save_s(self) -> float:
        """A save done on the training thread: snapshot then persist."""
        return self.snapshot_s + self.persist_s


def save_costs(
    checkpoint_bytes: int,
    nodes: int,
    *,
    calibration: Calibration | None = None,
    persist_bytes_per_s: float | None = None,
) -> SaveCosts:
    """Save/restore times from a calibration, a ``--save-bandwidth``, or the stated defaults."""
    per_node = max(1, checkpoint_bytes // max(1, nodes))
    if calibration is not None:
        pred = calibration.predict(per_node)
        return SaveCosts(
            bytes_per_node=per_node,
            snapshot_s=float(pred["snapshot_s"]),
            persist_s=float(pred["persist_s"]),
            restore_s=float(pred["restore_s"]),
            source=f"calibration measured on {calibration.machine.device} ({calibration.created_utc})",
            extrapolated=bool(pred["extrapolated"]),
        )
    if persist_bytes_per_s is not None and not persist_bytes_per_s > 0:
        raise ConfigError(f"--save-bandwidth {persist_bytes_per_s} must be > 0 bytes/s, e.g. 1GB/s")
    bw = persist_bytes_per_s or DEFAULT_PERSIST_BYTES_PER_S
    src = "--save-bandwidth" if persist_bytes_per_s else PERSIST_SOURCE
    return SaveCosts(
        bytes_per_node=per_node,
        snapshot_s=per_node / DEFAULT_SNAPSHOT_BYTES_PER_S,
        persist_s=per_node / bw,
        restore_s=per_node / bw,  # reading back is assumed as fast as writing
        source=src,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeCheck:
    """Does an emergency save fit one cloud's notice window?"""

    cloud: str
    notice_s: float
    expected_need_s: float  # detection lag + half a step + snapshot + persist
    worst_need_s: float  # detection lag + a full step + snapshot + persist

    @property
    def fits(self) -> bool:
        """Expected case fits: a notice arriving mid-step still leaves time to save."""
        return self.expected_need_s <= self.notice_s

    @property
    def always_fits(self) -> bool:
        """Worst case fits: even a notice right after a step boundary leaves time."""
        return self.worst_need_s <= self.notice_s


def notice_checks(costs: SaveCosts, step_time_s: float, notice_s: float | None = None) -> list[NoticeCheck]:
    """Emergency-save feasibility for AWS, GCP and Azure (or one overridden notice length)."""
    clouds = {"override": notice_s} if notice_s is not None else NOTICE_S
    save = costs.snapshot_s + costs.persist_s
    return [
        NoticeCheck(
            cloud=cloud,
            notice_s=n,
            expected_need_s=DETECTION_LAG_S + step_time_s / 2 + save,
            worst_need_s=DETECTION_LAG_S + step_time_s + save,
        )
        for cloud, n in clouds.items()
    ]


def parse_bandwidth(text: str) -> float:
    """Parse ``1e9``, ``500MB/s``, ``2GB/s`` or ``1.5GiB/s`` into bytes per second."""
    units = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}
    t = text.strip().upper().removesuffix("/S").strip()
    num = t.rstrip("KMGIB")
    unit = t[len(num) :].strip()
    try:
        value = float(num) * units[unit]
    except (ValueError, KeyError):
        raise ConfigError(
            f"--save-bandwidth {text!r} is not a bandwidth; use bytes/s like 1e9, 500MB/s or 2GB/s"
        ) from None
    if not value > 0:
        raise ConfigError(f"--save-bandwidth {text!r} must be > 0")
    return value
