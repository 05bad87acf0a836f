"""Build ``data/catalog/egress.json`` from AWS's inter-region transfer prices in ``shared/data`` (run rarely, committed).

Source: ``skynomad/aws_egress_pricing.csv`` (``from_region,to_region,price_usd_per_gb``), copied from the SkyNomad
artifact (``github.com/andylizf/skynomad-artifact`` commit ``62b9aaa1942e30c40cb9f6f5d7d03d6823d1d1f7``,
Apache-2.0; see ``shared/data/SOURCES.md`` section 4). Values are kept unchanged (USD per GB moved from the source
region to the destination region); the derivation only reshapes the rows into ``{src: {dst: usd_per_gb}}``, checks
that no pair appears twice with two prices and that no row prices a region to itself (intra-region transfer is free
and is not stored: the loader answers 0 for it).

Usage: ``python -m spotplan.simulator.market.egress_build --shared-data ../shared/data --out data/catalog/egress.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

SOURCE = "skynomad/aws_egress_pricing.csv"
ORIGIN = "github.com/andylizf/skynomad-artifact @ 62b9aaa1942e30c40cb9f6f5d7d03d6823d1d1f7"
LICENSE = "Apache-2.0"


def pairs_from_rows(rows: list[dict[str, str]]) -> dict[str, dict[str, float]]:
    """``{src: {dst: usd_per_gb}}`` from CSV rows; ValueError on a self pair or a pair priced twice differently."""
    table: dict[str, dict[str, float]] = {}
    for row in rows:
        src, dst, usd = row["from_region"].strip(), row["to_region"].strip(), float(row["price_usd_per_gb"])
        if src == dst:
            raise ValueError(f"{SOURCE}: row prices {src} to itself; intra-region transfer is free by rule")
        if usd < 0:
            raise ValueError(f"{SOURCE}: {src}->{dst} price_usd_per_gb={usd} is negative")
        seen = table.setdefault(src, {}).get(dst)
        if seen is not None and seen != usd:
            raise ValueError(f"{SOURCE}: {src}->{dst} priced twice ({seen} and {usd})")
        table[src][dst] = usd
    return {src: dict(sorted(dsts.items())) for src, dsts in sorted(table.items())}


def build(shared: Path) -> dict[str, Any]:
    """The JSON document: provenance plus the pair table."""
    with (shared / SOURCE).open(newline="") as f:
        pairs = pairs_from_rows(list(csv.DictReader(f)))
    regions = sorted(set(pairs) | {d for dsts in pairs.values() for d in dsts})
    return {
        "schema_version": 1,
        "description": (
            "AWS inter-region data transfer price, USD per GB, from the source region to the destination region. "
            "Intra-region transfer is free and not listed. Built by simulator/market/egress_build.py."
        ),
        "provenance": {
            "source_file": f"shared/data/{SOURCE}",
            "origin": ORIGIN,
            "license": LICENSE,
            "as_of": "2025-2026 (AWS list prices as collected by the SkyNomad authors; collection date not recorded)",
            "derivation": "rows reshaped into {src: {dst: usd_per_gb}}; values unchanged; no self pairs in the source",
        },
        "regions": regions,
        "usd_per_gb": pairs,
    }


def main() -> None:
    """CLI entry: write the table."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared-data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.write_text(json.dumps(build(args.shared_data), indent=1) + "\n")


if __name__ == "__main__":
    main()
