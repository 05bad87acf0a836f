"""Build ``data/catalog/instances.json`` from the public data in ``shared/data`` (run rarely, output committed).

Prices are on-demand USD per hour, Linux, shared tenancy. Every price carries its as-of date, its source file,
how it was obtained (``quoted`` from a file, or ``derived`` by a stated rule) and its side of the June 2025 AWS
price cut on P4/P5 (``after``, ``before`` or ``not-affected``). Rules, in order:

1. us-east-1: the newest Karpenter generated price file (``karpenter_ondemand/...csv``), quoted.
2. Other regions: the SkyPilot catalog snapshot (``skypilot_catalog/aws_vms_gpu_subset_v7.csv``), taken before the
   cut. For types whose us-east-1 price fell in June 2025 (Karpenter history), the regional pre-cut price is scaled
   by the us-east-1 after/before ratio (derived; the pre-cut figure is kept in ``before_cut_usd_per_h``).
3. us-east-2 / us-west-2 prices missing from the snapshot (g6, g6e, p2): the us-east-1 price, because every type the
   snapshot prices in all three US regions has identical prices there (checked here), and only where the Spot
   Advisor 2025-06-28 snapshot lists the type in that region. EU gaps stay empty: EU prices differ.

Usage: ``python -m spotplan.simulator.market.catalog_build --shared-data ../shared/data --out data/catalog/instances.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

REGIONS = ("us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "eu-west-2")
US_PARITY_REGIONS = ("us-east-2", "us-west-2")
KARPENTER = "karpenter_ondemand/karpenter_initial_ondemand_prices_us-east-1_gpu_history.csv"
SKYPILOT = "skypilot_catalog/aws_vms_gpu_subset_v7.csv"
ADVISOR = "aws_spot_advisor/spot-advisor-data_2025-06-28.json"
ZONE_NAMES = "skynomad/v100_spot_price_archive_summary.csv"
SKYPILOT_AS_OF = "2024-12..2025-06 (snapshot time not recorded; before the June 2025 cut, see SOURCES.md section 10)"

# (instance type, GPU model, GPUs per instance): AWS instance-type pages, typed as facts.
INSTANCES: tuple[tuple[str, str, int], ...] = (
    ("p2.xlarge", "K80", 1), ("p2.8xlarge", "K80", 8), ("p2.16xlarge", "K80", 16),
    ("p3.2xlarge", "V100", 1), ("p3.8xlarge", "V100", 4), ("p3.16xlarge", "V100", 8),
    ("p3dn.24xlarge", "V100-32GB", 8),
    ("p4d.24xlarge", "A100", 8), ("p4de.24xlarge", "A100-80GB", 8),
    ("p5.48xlarge", "H100", 8), ("p5en.48xlarge", "H200", 8),
    ("g4dn.xlarge", "T4", 1), ("g4dn.12xlarge", "T4", 4),
    ("g5.xlarge", "A10G", 1), ("g5.12xlarge", "A10G", 4), ("g5.48xlarge", "A10G", 8),
    ("g6.xlarge", "L4", 1), ("g6.12xlarge", "L4", 4), ("g6.48xlarge", "L4", 8),
    ("g6e.xlarge", "L40S", 1), ("g6e.12xlarge", "L40S", 4), ("g6e.48xlarge", "L40S", 8),
)
# Names of us-east-1 zones in the Can't Be Late / SkyNomad authors' AWS account (names are per account), from
# matching price maxima between their per-name traces and the AZ-ID archive (SOURCES.md section 4).
ZONE_NAME_BY_ID = {"use1-az2": "us-east-1a", "use1-az6": "us-east-1c", "use1-az1": "us-east-1d",
                   "use1-az5": "us-east-1f"}


def _karpenter(shared: Path) -> tuple[dict[str, dict[str, str]], set[str], dict[str, float]]:
    """Newest us-east-1 row per type; types cut in June 2025; after/before ratio per cut type."""
    rows = list(csv.DictReader((shared / KARPENTER).open(encoding="utf-8")))
    by_type: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_type[r["instance_type"]].append(r)
    latest, cut, ratio = {}, set(), {}
    for t, rs in by_type.items():
        rs.sort(key=lambda r: (r["generated_at"], r["commit_date"]))
        latest[t] = rs[-1]
        before = [float(r["ondemand_usd_per_hour"]) for r in rs if r["generated_at"] < "2025-06-01"]
        after = [float(r["ondemand_usd_per_hour"]) for r in rs if r["generated_at"] >= "2025-07-01"]
        if before and after and after[0] < before[-1]:
            cut.add(t)
            ratio[t] = after[0] / before[-1]
    return latest, cut, ratio


def _skypilot(shared: Path) -> tuple[dict[tuple[str, str], float], dict[str, list[str]], dict[str, dict[str, list[str]]]]:
    """Regional on-demand prices, the AZ IDs listed per region, and per type the AZ IDs offering it."""
    prices: dict[tuple[str, str], float] = {}
    zones: dict[str, set[str]] = defaultdict(set)
    by_type: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in csv.DictReader((shared / SKYPILOT).open(encoding="utf-8")):
        if r["Region"] in REGIONS:
            zones[r["Region"]].add(r["AvailabilityZone"])
            by_type[r["InstanceType"]][r["Region"]].add(r["AvailabilityZone"])
            if r["Price"]:
                prices[(r["InstanceType"], r["Region"])] = float(r["Price"])
    type_zones = {t: {reg: sorted(z) for reg, z in sorted(regs.items())} for t, regs in by_type.items()}
    return prices, {k: sorted(v) for k, v in zones.items()}, type_zones


def _us_parity(sky: dict[tuple[str, str], float]) -> tuple[int, int]:
    """(types priced in all three US regions, of which identical): the evidence for rule 3."""
    types = {t for t, _ in sky}
    full = [t for t in types if all((t, r) in sky for r in ("us-east-1", *US_PARITY_REGIONS))]
    same = [t for t in full if len({sky[(t, r)] for r in ("us-east-1", *US_PARITY_REGIONS)}) == 1]
    return len(full), len(same)


def _prices_for(t: str, ctx: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """All regional price entries for one type, by the rules in the module docstring."""
    k = ctx["karpenter"][t]
    cut = t in ctx["cut"]
    side = "after" if cut else "not-affected"
    use1 = float(k["ondemand_usd_per_hour"])
    out: dict[str, dict[str, Any]] = {"us-east-1": {
        "usd_per_h": use1, "as_of": k["generated_at"][:10], "june_2025_cut": side, "method": "quoted",
        "source": f"{KARPENTER} (karpenter commit {k['karpenter_commit']}, generated_at {k['generated_at']})"}}
    for region in REGIONS[1:]:
        sky = ctx["sky"].get((t, region))
        if sky is not None and cut:
            out[region] = {
                "usd_per_h": round(sky * ctx["ratio"][t], 5), "as_of": k["generated_at"][:10],
                "june_2025_cut": "after", "before_cut_usd_per_h": sky, "method": (
                    f"derived: {SKYPILOT} pre-cut price {sky} x us-east-1 cut ratio {ctx['ratio'][t]:.6f} "
                    f"from {KARPENTER}"), "source": f"{SKYPILOT}; {KARPENTER}"}
        elif sky is not None:
            out[region] = {"usd_per_h": sky, "as_of": SKYPILOT_AS_OF, "june_2025_cut": side,
                           "method": "quoted", "source": SKYPILOT}
        elif region in US_PARITY_REGIONS and t in ctx["advisor"].get(region, {}).get("Linux", {}):
            out[region] = {"usd_per_h": use1, "as_of": k["generated_at"][:10], "june_2025_cut": side,
                           "method": (f"derived: us-east-1 price; {ctx['parity'][1]} of {ctx['parity'][0]} types "
                                      f"priced in us-east-1/2 and us-west-2 by {SKYPILOT} are equal there; "
                                      f"offered per {ADVISOR}"), "source": f"{KARPENTER}; {ADVISOR}"}
    return out


def build(shared: Path) -> dict[str, Any]:
    """The catalog document, deterministic for the same inputs."""
    karpenter, cut, ratio = _karpenter(shared)
    sky, zone_ids, type_zones = _skypilot(shared)
    advisor = json.loads((shared / ADVISOR).read_text(encoding="utf-8"))
    ctx = {"karpenter": karpenter, "cut": cut, "ratio": ratio, "sky": sky, "advisor": advisor["spot_advisor"],
           "parity": _us_parity(sky)}
    instances = {}
    for t, gpu, n in INSTANCES:
        hw = advisor["instance_types"][t]
        instances[t] = {"family": t.split(".")[0], "gpu_model": gpu, "gpu_count": n, "vcpus": int(hw["cores"]),
                        "mem_gib": float(hw["ram_gb"]), "hardware_source": f"{ADVISOR} instance_types (cores, ram_gb)",
                        "on_demand": _prices_for(t, ctx), "zone_ids": type_zones.get(t, {})}
    zones = {r: [[ZONE_NAME_BY_ID.get(z, ""), z] for z in zone_ids.get(r, [])] for r in REGIONS}
    # The description keeps the builder's pre-namespace path so the committed catalog (and the inputs hash of
    # every plan made from it) stays byte-identical across the layout move; the next data refresh updates it.
    return {
        "schema_version": 1,
        "description": ("spotplan instance catalog: hardware facts and on-demand USD/h per region with as-of, "
                        "source, method and side of the June 2025 P4/P5 price cut. Built by simulator/catalog_build.py."),
        "june_2025_cut": {"types": sorted(cut & {t for t, _, _ in INSTANCES}),
                          "us_east_1_ratio": {t: round(ratio[t], 6) for t in sorted(ratio)},
                          "first_seen": "2025-06-23 (Karpenter); 2025-06-05 (aws_gpu_price_tracker, p5.48xlarge)"},
        "regions": list(REGIONS),
        "zones": zones,
        "zones_note": (f"AZ IDs per region from {SKYPILOT}. Names are per AWS account; the names given are those of "
                       f"the Can't Be Late/SkyNomad authors' account ({ZONE_NAMES}); empty where unknown. "
                       f"instances[t].zone_ids: the AZ IDs {SKYPILOT} lists for that type (absent: not in the "
                       "snapshot, e.g. g6/g6e/p2, so every zone of the region is assumed)."),
        "instances": instances,
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: write the catalog JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared-data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "data/catalog/instances.json")
    args = ap.parse_args(argv)
    args.out.write_text(json.dumps(build(args.shared_data), indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
