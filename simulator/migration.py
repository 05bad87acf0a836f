"""Checkpoint migration: where the latest durable checkpoint lives, and what moving it to a new region costs.

A job restarting in a region that holds no copy of its latest durable checkpoint first pulls it from the region
that does (the cheapest source when several do): egress of ``checkpoint_gb x USD/GB`` for that region pair
(``spotplan.simulator.market.egress``; free within a region) and ``checkpoint_gb / MIGRATION_BANDWIDTH_GB_PER_S``
seconds on the new instance, billed like any other restart time, between setup and restore. Egress is paid for
the bytes moved: a transfer cut by a preemption pays its share and leaves no copy.

Where the checkpoint lives (a set of regions, since a transfer copies):
- a save that lands (regular, final or emergency) lands in the region of the instance that took it: the set
  becomes that region alone (older copies elsewhere are of an older step);
- a completed transfer adds the new region; a cut one changes nothing;
- before the first save there is nothing to move.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from spotplan.errors import ConfigError
from spotplan.simulator.market.egress import egress_usd_per_gb, transfer_time_s

BYTES_PER_GB = 1e9  # decimal GB, the unit of the egress table's USD/GB


@dataclass(frozen=True, slots=True)
class Migration:
    """One checkpoint transfer: seconds on the new instance, USD of egress, and the region it is pulled from."""

    time_s: float
    usd: float
    src_region: str

    @property
    def usd_per_s(self) -> float:
        """Egress accrues with the bytes moved, at a constant rate over the transfer."""
        return self.usd / self.time_s if self.time_s > 0 else 0.0


def egress_table(regions: Iterable[str], checkpoint_bytes: int, where: str) -> dict[tuple[str, str], float]:
    """USD/GB for every ordered pair of the ladder's regions; empty when nothing would move (one region, no bytes)."""
    rs = sorted(set(regions))
    if checkpoint_bytes <= 0 or len(rs) < 2:
        return {}
    try:
        return {(a, b): egress_usd_per_gb(a, b) for a in rs for b in rs}
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}; set checkpoint.checkpoint_bytes to 0 to leave migration out") from None


def migration_for(held: frozenset[str], dst_region: str, *, recovery: float, checkpoint_bytes: int,
                  egress: dict[tuple[str, str], float]) -> Migration | None:
    """The transfer a restart in ``dst_region`` needs, or None (nothing saved yet, a copy is there, nothing to move)."""
    if recovery <= 0 or not held or dst_region in held or not egress:
        return None
    gb = checkpoint_bytes / BYTES_PER_GB
    src = min(sorted(held), key=lambda r: egress[(r, dst_region)])
    return Migration(time_s=transfer_time_s(gb), usd=gb * egress[(src, dst_region)], src_region=src)


def held_after(held: frozenset[str], region: str, *, saved: bool, moved: bool) -> frozenset[str]:
    """Where the latest checkpoint lives after an instance in ``region``: it saved, it completed a transfer, or not."""
    if saved:
        return frozenset((region,))
    if moved:
        return held | {region}
    return held
