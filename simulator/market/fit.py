"""``spotplan data fit``: fit per-pool spot behaviour from the public data into ``data/fitted/spot_behaviour.json``.

Figures and their sources (paths relative to the shared data folder; every pool names its own in ``source``):
- Price changes (per hour, relative size): ``training_on_a_dime`` describe-spot-price-history, p2/p3, 6 regions,
  2019-12..2020-03, pooled over the zones of a (type, region). Types without history borrow the same type's median
  over regions, else the median over all history pools.
- Spot level vs on-demand: the newest Spot Advisor snapshot's savings ``s`` (region x type, 2025-06-28, after the
  June 2025 cut): ``1 - s/100``. Missing there: the type's median over the catalog regions; else the median over
  all pools. The 2020 history level is kept as ``history_spot_to_on_demand``.
- Up/down-time: AWS 1-node Can't Be Late traces (availability and preemption), per (type, zone) and pooled per
  (type, region); see ``simulator/market/fit_stats.py`` for the censoring-aware mean and the lognormal shape.
- Advisor-band prior for pools without a trace: a band is NOT an MTBF. Reading band p as "a share p of instances
  is reclaimed within 30 days" gives MTBF_naive = 720 h / -ln(1-p) (14,000 h at 5%), while the traces show hours.
  spotplan keeps the bands' *ranking* and takes the *scale* from the traces: k = geometric mean over trace pools
  of MTBF_naive(their band, 2024-02-28 snapshot) / MTBF_trace, and MTBF_prior(band) = MTBF_naive(band) / k.
  Representative p per band: the middle of the spotinfo ranges (2.5, 8.5, 14, 19.5 %); ">20%" is open-ended and
  is taken as 30 % (an assumption, stated in the JSON). Shapes (sigma_log) and down-times of the prior are the
  medians of the trace pools. Pools the advisor does not list get band 4 (the most pessimistic).
- Evidence (recorded, not used for pools): Bamboo node lifetimes (p3, g4dn) and training_on_a_dime preemptions.
Output is deterministic: sorted keys and pools, figures rounded to 6 significant digits, no timestamps.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from spotplan.errors import DataError
from spotplan.simulator.market.catalog import Catalog, load_catalog
from spotplan.simulator.market.catalog_build import ZONE_NAME_BY_ID
from spotplan.simulator.market.fit_evidence import BAMBOO, TOD_EVENTS, bamboo_lifetimes, tod_event_lifetimes
from spotplan.simulator.market.fit_stats import (
    PriceStats,
    RunStats,
    band_rate_per_h,
    pooled_change_rate,
    price_stats,
    run_stats,
    sig,
)
from spotplan.simulator.market.prices import load_price_history
from spotplan.simulator.market.spot_advisor import SpotAdvisor, load_spot_advisor
from spotplan.simulator.market.traces import load_availability_trace, trace_info

HISTORY = "training_on_a_dime/aws_describe_spot_price_history"
TRACES = "cant_be_late_spot_traces"
ADVISOR_NOW = "aws_spot_advisor/spot-advisor-data_2025-06-28.json"
ADVISOR_CAL = "aws_spot_advisor/spot-advisor-data_2024-02-28.json"
BAND_P = {0: 0.025, 1: 0.085, 2: 0.14, 3: 0.195, 4: 0.30}
NO_BAND = 4
AZ_ID_BY_CBL_NAME = {name: az for az, name in ZONE_NAME_BY_ID.items()}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _price_section(shared: Path, cat: Catalog) -> tuple[list[dict[str, Any]], dict[tuple[str, str], list[PriceStats]]]:
    hist = load_price_history(shared / HISTORY)
    rows, by_pool = [], defaultdict(list)
    for k in hist.pools():
        s = price_stats(hist.series(k.instance_type, k.zone, k.product))
        by_pool[(k.instance_type, k.region)].append(s)
        od = cat.instances[k.instance_type].on_demand_usd_per_h.get(k.region) if k.instance_type in cat.instances else None
        rows.append({"instance_type": k.instance_type, "region": k.region, "zone": k.zone, "span_h": sig(s.span_h),
                     "change_points": s.change_points, "changes": s.changes,
                     "mean_usd_per_h": sig(s.mean_usd_per_h), "min_usd_per_h": s.min_usd_per_h,
                     "max_usd_per_h": s.max_usd_per_h,
                     "spot_to_on_demand": sig(s.mean_usd_per_h / od) if od else None})
    return rows, by_pool


def _trace_section(shared: Path) -> tuple[dict[tuple[str, str, str], tuple[RunStats, RunStats, list[str]]], list[dict]]:
    """Single-instance stats per (type, region, zone) from AWS 1-node traces; gang stats of multi-node traces."""
    pools: dict[tuple[str, str, str], tuple[RunStats, RunStats, list[str]]] = {}
    gang = []
    for p in sorted((shared / TRACES).rglob("*.json")):
        info, rel = trace_info(p), str(p.relative_to(shared))
        if info.cloud != "aws" or not info.instance_type:
            continue
        t = load_availability_trace(p)
        if info.nodes > 1:
            up_all, _ = run_stats(t, need=t.capacity)
            gang.append({"file": rel, "instance_type": info.instance_type, "zone": info.zone, "nodes": t.capacity,
                         "kind": info.kind, "all_up_fraction": sig(float(t.up(t.capacity).mean())),
                         "any_up_fraction": sig(float(t.up(1).mean())), "mean_instances": sig(float(t.values.mean())),
                         "all_up_mean_run_h": sig(up_all.mean_s / 3600) if up_all.events else None})
            continue
        region = info.zone[:-1]
        up, down = run_stats(t)
        key = (info.instance_type, region, info.zone)
        if key in pools:
            u0, d0, files = pools[key]
            up, down, files = u0.merge(up), d0.merge(down), [*files, f"{rel} ({info.kind})"]
        else:
            files = [f"{rel} ({info.kind})"]
        pools[key] = (up, down, files)
    return pools, gang


def _avail(up: RunStats, down: RunStats, files: list[str]) -> dict[str, Any]:
    return {"basis": "trace", "mtbf_h": sig(up.mean_s / 3600), "uptime": {"kind": "lognormal", **up.lognormal()},
            "downtime": {"kind": "lognormal", **down.lognormal()},
            "availability": sig(up.time_s / (up.time_s + down.time_s)),
            "interruptions": up.events, "observed_h": sig((up.time_s + down.time_s) / 3600),
            "source_availability": "Can't Be Late traces: " + "; ".join(files)
            + " [mean = time up / interruptions (censoring-aware); lognormal shape from complete runs]"}


def _band_prior(region_trace: dict[tuple[str, str], dict[str, Any]], cal: SpotAdvisor,
                region_stats: dict[tuple[str, str], tuple[RunStats, RunStats]]) -> dict[str, Any]:
    ks, sig_up, sig_down, mean_down = [], [], [], []
    used = []
    for (t, region), a in sorted(region_trace.items()):
        got = cal.get(region, t)
        if got is None:
            continue
        band = got[0].index
        naive_h = 1.0 / band_rate_per_h(BAND_P[band])
        ks.append(math.log(naive_h / a["mtbf_h"]))
        up, down = region_stats[(t, region)]
        sig_up.append(up.sigma_log)
        sig_down.append(down.sigma_log)
        mean_down.append(down.mean_s)
        used.append(f"{t} {region} band {band} trace MTBF {a['mtbf_h']} h")
    k = math.exp(statistics.fmean(ks))
    s_up, s_down, m_down = statistics.median(sig_up), statistics.median(sig_down), statistics.median(mean_down)
    bands = {}
    for b, p in BAND_P.items():
        mtbf_s = 3600.0 / band_rate_per_h(p) / k
        bands[str(b)] = {
            "representative_monthly_share": p, "naive_mtbf_h": sig(1.0 / band_rate_per_h(p)),
            "mtbf_h": sig(mtbf_s / 3600),
            "uptime": {"kind": "lognormal", "mu_log_s": sig(math.log(mtbf_s) - s_up * s_up / 2), "sigma_log": sig(s_up)},
            "downtime": {"kind": "lognormal", "mu_log_s": sig(math.log(m_down) - s_down * s_down / 2),
                         "sigma_log": sig(s_down)},
            "availability": sig(mtbf_s / (mtbf_s + m_down))}
    return {"scale_k": sig(k), "calibration_pools": used, "bands": bands,
            "band_4_assumption": "'>20%' is open-ended; 30 % monthly share assumed (unverified)",
            "method": ("MTBF_prior = (720 h / -ln(1-p_band)) / k, k = geometric mean of naive/trace MTBF over the "
                       f"calibration pools (bands from {ADVISOR_CAL}); sigma_log and mean down-time = medians of "
                       "the region-level trace pools")}


def _region_traces(zone_stats: dict[tuple[str, str, str], tuple[RunStats, RunStats, list[str]]]
                   ) -> tuple[dict[tuple[str, str], tuple[RunStats, RunStats]], dict[tuple[str, str], dict[str, Any]]]:
    """Pool the zone traces of each (type, region)."""
    stats: dict[tuple[str, str], tuple[RunStats, RunStats]] = {}
    files: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (t, region, _z), (up, down, fs) in sorted(zone_stats.items()):
        if (t, region) in stats:
            u0, d0 = stats[(t, region)]
            up, down = u0.merge(up), d0.merge(down)
        stats[(t, region)] = (up, down)
        files[(t, region)].extend(fs)
    return stats, {k: _avail(u, d, files[k]) for k, (u, d) in stats.items()}


class _PoolFitter:
    """Assembles one pool entry from the fitted pieces, with the fallbacks in the module docstring."""

    def __init__(self, cat: Catalog, now: SpotAdvisor, hist_rows: list[dict[str, Any]],
                 hist_pools: dict[tuple[str, str], list[PriceStats]],
                 zone_stats: dict[tuple[str, str, str], tuple[RunStats, RunStats, list[str]]],
                 region_trace: dict[tuple[str, str], dict[str, Any]], prior: dict[str, Any]) -> None:
        self.cat, self.now, self.zone_stats, self.region_trace, self.prior = cat, now, zone_stats, region_trace, prior
        self.change = {k: pooled_change_rate(v) for k, v in hist_pools.items()}
        self.hist_level: dict[tuple[str, str], list[float]] = defaultdict(list)
        for row in hist_rows:
            if row["spot_to_on_demand"] is not None:
                self.hist_level[(row["instance_type"], row["region"])].append(row["spot_to_on_demand"])
        self.levels = {(t, r): self._advisor_level(t, r) for t in cat.instance_types() for r in cat.regions()}

    def _advisor_level(self, t: str, region: str) -> float | None:
        got = self.now.get(region, t)
        return None if got is None else 1 - got[1] / 100

    def level(self, t: str, region: str) -> tuple[float, str]:
        """Spot/on-demand ratio and its source."""
        got = self.now.get(region, t)
        if got is not None:
            return 1 - got[1] / 100, f"{ADVISOR_NOW} savings s={got[1]:g}% -> 1 - s/100"
        same_type = [v for (tt, _r), v in sorted(self.levels.items()) if tt == t and v is not None]
        if same_type:
            return statistics.median(same_type), f"prior: median of {t} over the catalog regions in {ADVISOR_NOW}"
        every = [v for v in self.levels.values() if v is not None]
        return statistics.median(every), f"prior: median over all catalog pools in {ADVISOR_NOW}"

    def price_change(self, t: str, region: str) -> tuple[float, float, str]:
        """(changes per hour, relative std, source)."""
        if (t, region) in self.change:
            return (*self.change[(t, region)], f"{HISTORY}/{region} ({t}, pooled over zones, 2019-12..2020-03)")
        same_type = [c for (tt, _r), c in sorted(self.change.items()) if tt == t]
        pool, why = ((same_type, f"prior: median of {t} over the regions in {HISTORY}") if same_type else
                     (list(self.change.values()), (f"prior: median over all p2/p3 pools in {HISTORY} "
                                                  "(no price history for this type)")))
        return statistics.median(c[0] for c in pool), statistics.median(c[1] for c in pool), why

    def availability(self, t: str, region: str, zone: str) -> dict[str, Any]:
        """Trace fit of the zone, else of the region, else the advisor-band prior."""
        if zone and (t, region, zone) in self.zone_stats:
            return _avail(*self.zone_stats[(t, region, zone)])
        if (t, region) in self.region_trace:
            return dict(self.region_trace[(t, region)])
        adv = self.now.get(region, t)
        b = adv[0].index if adv else NO_BAND
        pb = self.prior["bands"][str(b)]
        return {"basis": "advisor-band prior" if adv else "global prior (band 4)", "mtbf_h": pb["mtbf_h"],
                "uptime": pb["uptime"], "downtime": pb["downtime"], "availability": pb["availability"],
                "source_availability": (f"band {b} of {ADVISOR_NOW} mapped by band_prior" if adv else
                                        f"not listed in {ADVISOR_NOW}: band 4 prior (most pessimistic)")}

    def entry(self, t: str, region: str, zone: str) -> dict[str, Any]:
        """One pool of the output document."""
        lvl, lsrc = self.level(t, region)
        pc, prs, psrc = self.price_change(t, region)
        adv = self.now.get(region, t)
        hl = self.hist_level.get((t, region))
        return {"instance_type": t, "region": region, "zone": zone,
                "az_id": AZ_ID_BY_CBL_NAME.get(zone, "") if zone else "",
                "offered": self.cat.offered(t, region),
                "spot_to_on_demand": sig(lvl), "source_spot_to_on_demand": lsrc,
                "history_spot_to_on_demand": sig(statistics.fmean(hl)) if hl else None,
                "price_changes_per_h": sig(pc), "price_change_rel_std": sig(prs), "source_price_changes": psrc,
                "advisor": ({"band": adv[0].index, "label": adv[0].label, "savings_pct": adv[1],
                             "snapshot": self.now.as_of} if adv else None),
                **self.availability(t, region, zone)}


def _inputs(shared: Path) -> dict[str, str]:
    hist = sorted((shared / HISTORY).rglob("*.json"))
    digest = hashlib.sha256("".join(_sha(p) for p in hist).encode()).hexdigest()[:16]
    return {HISTORY: f"{len(hist)} files, sha256-of-sha256s {digest}",
            **{f: _sha(shared / f) for f in (ADVISOR_NOW, ADVISOR_CAL, TOD_EVENTS, *BAMBOO.values())},
            TRACES: "; ".join(f"{p.relative_to(shared)}={_sha(p)}" for p in sorted((shared / TRACES).rglob("*.json")))}


CAVEATS = [
    ("Zone names are per AWS account: trace zones (Can't Be Late authors' account) and price-history zones "
     "(training_on_a_dime's account) are not joined by name; price figures are region-level."),
    ("Availability traces measure whether a new spot instance could launch, preemption traces whether a running one "
     "survived; both are pooled here as up/down processes (domain.md pitfall 2)."),
    "Price change figures come from 2019-2020 p2/p3 history; spot levels from the 2025-06-28 advisor.",
    "offered=false: the catalog has no on-demand price for the type in that region (AWS may not offer it).",
]


def fit(shared: str | Path) -> dict[str, Any]:
    """The fitted document for the shared data folder ``shared``."""
    shared = Path(shared)
    if not (shared / HISTORY).is_dir() or not (shared / TRACES).is_dir():
        raise DataError(f"expected {HISTORY} and {TRACES} under it (the public data folder)", path=str(shared))
    cat = load_catalog()
    now, cal = load_spot_advisor(shared / ADVISOR_NOW), load_spot_advisor(shared / ADVISOR_CAL)
    hist_rows, hist_pools = _price_section(shared, cat)
    zone_stats, gang = _trace_section(shared)
    region_stats, region_trace = _region_traces(zone_stats)
    prior = _band_prior(region_trace, cal, region_stats)
    fitter = _PoolFitter(cat, now, hist_rows, hist_pools, zone_stats, region_trace, prior)
    pools = [fitter.entry(t, r, "") for t in cat.instance_types() for r in cat.regions()]
    pools += [fitter.entry(t, r, z) for (t, r, z) in sorted(zone_stats) if t in cat.instances and r in cat.regions()]
    # Pre-namespace path kept so the committed fit stays byte-identical across the layout move (see catalog_build).
    return {
        "schema_version": 1,
        "description": "Per-pool spot behaviour fitted by `spotplan data fit` (simulator/fit.py); see its docstring.",
        "inputs": _inputs(shared),
        "caveats": CAVEATS,
        "band_prior": prior,
        "gang": gang,
        "evidence": {"note": ("cross-checks, not used for pools: Bamboo node lifetimes (spot autoscaling groups, "
                              "region not stated) and training_on_a_dime preemption events (us-east-1, 2 days)"),
                     "bamboo": bamboo_lifetimes(shared), "training_on_a_dime_events": tod_event_lifetimes(shared)},
        "price_history": hist_rows,
        "pools": pools,
    }


def write_fit(shared: str | Path, out: str | Path) -> dict[str, Any]:
    """Fit and write the JSON (stable formatting); return the document."""
    doc = fit(shared)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return doc
