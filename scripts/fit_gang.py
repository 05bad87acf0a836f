"""Fit the common-shock gang model to the Can't Be Late multi-node traces and check k-of-N up-times.

Writes ``data/fitted/gang_correlation.json`` from the shared data (``SPOTPLAN_SHARED_DATA`` or ../shared/data):
per zone of the 16-node (availability) and 4-node (preemption) p3.2xlarge traces, the zone process and partial
shocks (``spotplan.simulator.market.gang_fit``), and the k-of-N up-time distributions of the trace replayed
directly against two models sampled at the trace's tick (``spotplan.simulator.gang_check``): N independent
instances with the zone's single-node fit (``data/fitted/spot_behaviour.json``, what the gang model assumed) and
the fitted common shock. Deterministic (fixed seeds, 6 significant digits, sorted keys).

    .venv/bin/python scripts/fit_gang.py [--ticks 200000] [--out data/fitted/gang_correlation.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from spotplan.paths import data_dir, shared_data_dir
from spotplan.simulator.counts import CommonShock, CountProcess
from spotplan.simulator.gang_check import RunSummary, compare, independent_counts, sample_counts, shock_counts
from spotplan.simulator.market.fit_stats import sig
from spotplan.simulator.market.fitted import load_fitted
from spotplan.simulator.market.gang_fit import Lognormal, PartialShocks, fit_zone, partial_shocks
from spotplan.simulator.market.traces import load_availability_trace, trace_info

SETS = ("cant_be_late_spot_traces/availability/16-node/aws-08-27-2023",
        "cant_be_late_spot_traces/preemption/4-node/aws-08-03-2023")
KS_BY_NODES = {16: (16, 8, 4, 1), 4: (4, 2, 1)}
TOLERANCE = {"ks_max": 0.35, "mean_rel_max": 0.40,
             "note": "the fitted model's k-of-N up-times on the 16-node traces, checked by "
                     "tests/simulator/test_gang_traces.py; independence must do worse (larger KS) at k < N"}
SEED = 20230827


def _lognormal(x: Lognormal) -> dict[str, Any]:
    return {"mu_log_s": sig(x.mu_log_s), "sigma_log": sig(x.sigma_log), "complete_runs": x.n,
            "mean_h": sig(x.mean_s / 3600)}


def _shocks(p: PartialShocks) -> dict[str, Any]:
    return {"drops": p.drops, "zone_drops": p.zone_drops, "zone_share": sig(p.zone_share),
            "rate_per_h": sig(p.rate_per_s * 3600), "fraction": sig(p.fraction),
            "down_mean_h": sig(p.down_mean_s / 3600), "zone_up_h": sig(p.zone_up_s / 3600)}


def _rows(rows: list[RunSummary]) -> dict[str, Any]:
    return {str(r.k): {"runs": r.runs, "mean_h": sig(r.mean_h), "median_h": sig(r.median_h),
                       **({"ks": sig(r.ks)} if r.ks is not None else {})} for r in rows}


def fit_file(path: Path, rel: str, ticks: int, seed: int, pooled: PartialShocks) -> dict[str, Any]:
    """One trace: its fit and the k-of-N comparison."""
    info = trace_info(path)
    trace = load_availability_trace(path)
    nodes = info.nodes
    own = partial_shocks(trace, nodes)
    fit = fit_zone(trace, own)
    region = info.zone[:-1]
    beh = load_fitted().pool(info.instance_type, region, info.zone)
    models = {
        "independent": independent_counts(beh.sample_uptime_s, beh.sample_downtime_s, nodes, trace.gap_s, ticks,
                                          np.random.default_rng(seed)),
        "common_shock": shock_counts(fit, nodes, trace.gap_s, ticks, np.random.default_rng(seed + 1)),
        "split_single_node": sample_counts(CountProcess(nodes, CommonShock.split(
            beh.sample_uptime_s, beh.sample_downtime_s, beh.mtbf_h * 3600.0, zone_share=pooled.zone_share,
            fraction=pooled.fraction, down_mean_s=pooled.down_mean_s).chunks(nodes, 1.0, np.random.default_rng(seed + 2))),
            trace.gap_s, ticks),
    }
    res = compare(trace, models, KS_BY_NODES[nodes])
    return {
        "file": rel, "sha256_16": hashlib.sha256(path.read_bytes()).hexdigest()[:16], "zone": info.zone,
        "instance_type": info.instance_type, "nodes": nodes, "gap_s": trace.gap_s, "ticks": int(trace.values.size),
        "zone_up": _lognormal(fit.zone_up), "zone_down": _lognormal(fit.zone_down), "partial_shocks": _shocks(own),
        "independent_from": f"spot_behaviour.json pool {info.instance_type}/{beh.zone or beh.region} ({beh.basis})",
        "k_of_n_up_h": {name: _rows(rows) for name, rows in res.items()},
    }


def build(shared: Path, ticks: int) -> dict[str, Any]:
    """The whole document."""
    files = [(i, j, d, p) for i, d in enumerate(SETS) for j, p in enumerate(sorted((shared / d).glob("*.json")))]
    pooled: dict[int, PartialShocks] = {}
    for _, _, _, p in files:
        n = trace_info(p).nodes
        own = partial_shocks(load_availability_trace(p), n)
        pooled[n] = pooled[n] + own if n in pooled else own
    zones = [fit_file(p, f"{d}/{p.name}", ticks, SEED + 10 * (10 * i + j), pooled[16]) for i, j, d, p in files]
    return {
        "schema_version": 1,
        "description": "Correlated spot reclaims in multi-node gangs (common-shock model), fitted by "
                       "scripts/fit_gang.py; method in spotplan.simulator.market.gang_fit, check in "
                       "spotplan.simulator.gang_check.",
        "method": {
            "zone_process": "lognormal zone-up (c > 0) and zone-down (c = 0) periods: median of the complete runs, "
                            "censoring-aware mean (time in state / runs that ended)",
            "partial_shocks": "Poisson drops that leave the zone up, rate per zone-up hour; each takes the mean "
                              "share of the gang those drops took; nodes back after an exponential time (node-hours "
                              "missing while the zone is up / nodes lost)",
            "zone_share": "share of one node's reclaims that are zone-wide: (zone drops / zone-up hours) / (that + "
                          "nodes lost in partial drops / node-up hours); the simulator's gang_model 'common-shock' "
                          "splits a renewal pool's single-node reclaim rate by it (pooled 16-node figures)",
            "check": "k-of-N complete up-runs of the trace replayed directly vs each model sampled at the trace's "
                     f"tick over {ticks} ticks; KS = two-sample Kolmogorov-Smirnov distance to the trace",
            "models": "independent: N instances, each the zone's single-node fit (what the gang model assumed); "
                      "common_shock: this fit (the trace's own zone process and partial shocks); "
                      "split_single_node: what the simulator's gang_model 'common-shock' does with a fitted pool, "
                      "the zone's single-node fit split by the pooled 16-node zone_share, fraction and down mean",
        },
        "sources": "Can't Be Late traces (skypilot-org/spot-traces 221da1a, see shared data SOURCES.md section 1)",
        "tolerance": TOLERANCE,
        "pooled_partial_shocks": {str(n): _shocks(p) for n, p in sorted(pooled.items())},
        "zones": zones,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ticks", type=int, default=200_000, help="model ticks sampled per zone and model")
    ap.add_argument("--out", type=Path, default=data_dir() / "fitted" / "gang_correlation.json")
    args = ap.parse_args(argv)
    shared = shared_data_dir()
    if shared is None:
        print("shared data not found: set SPOTPLAN_SHARED_DATA", file=sys.stderr)
        return 2
    doc = build(shared, args.ticks)
    args.out.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
