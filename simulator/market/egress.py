"""Inter-region checkpoint transfer: egress price (USD per GB) per region pair and the transfer time.

Reads the committed ``data/catalog/egress.json`` (built by ``simulator/market/egress_build.py`` from AWS's
inter-region transfer prices as collected in the SkyNomad artifact; provenance inside the file). Moving data within
one region is free. Lookups are pure; an unknown region raises ``ConfigError`` with a "did you mean".

Transfer time uses one stated bandwidth, ``MIGRATION_BANDWIDTH_GB_PER_S`` (the only place it is set): 0.25 GB/s
(2 Gbit/s) sustained between regions. This is an assumption, not a measurement: a parallel S3 cross-region copy
of large shards typically sustains a few Gbit/s; a single stream sustains less. Change it here and every model
(simulator, reference model, optimum, policies) follows.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from spotplan.errors import ConfigError, DataError, did_you_mean
from spotplan.paths import data_dir

EGRESS_FILE = data_dir() / "catalog" / "egress.json"
MIGRATION_BANDWIDTH_GB_PER_S = 0.25


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, float]]:
    try:
        doc: dict[str, Any] = json.loads(EGRESS_FILE.read_text())
        return {src: {dst: float(v) for dst, v in dsts.items()} for src, dsts in doc["usd_per_gb"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DataError(f"{EGRESS_FILE}: cannot read the egress table ({exc}); rebuild it with egress_build") from exc


def egress_regions() -> tuple[str, ...]:
    """Every region the table prices."""
    t = _table()
    return tuple(sorted(set(t) | {d for dsts in t.values() for d in dsts}))


def egress_usd_per_gb(src_region: str, dst_region: str) -> float:
    """USD per GB to move data from ``src_region`` to ``dst_region``; 0 within one region."""
    if src_region == dst_region:
        return 0.0
    t = _table()
    for region in (src_region, dst_region):
        if region not in t:
            raise ConfigError(
                f"no egress price for region '{region}'; {EGRESS_FILE.name} prices "
                f"{len(t)} AWS regions{did_you_mean(region, t)}"
            )
    if dst_region not in t[src_region]:
        raise ConfigError(f"{EGRESS_FILE.name} has no price from '{src_region}' to '{dst_region}'")
    return t[src_region][dst_region]


def transfer_time_s(size_gb: float) -> float:
    """Seconds to move ``size_gb`` between regions at ``MIGRATION_BANDWIDTH_GB_PER_S``."""
    return size_gb / MIGRATION_BANDWIDTH_GB_PER_S


def region_of_zone(zone: str) -> str:
    """AWS region of an AZ name (``us-east-1c`` -> ``us-east-1``); a name without a zone letter is returned as is."""
    return zone[:-1] if zone and zone[-1].isalpha() and zone[-2:-1].isdigit() else zone
