"""Benchmark: deadline policies against the offline optimum on the public 2-month p3.2xlarge trace, three regions.

Issue 13's target. Replays SkyNomad's timestamped copy of Can't Be Late's aws-02-15-2023 availability trace (the
same 20,158 ticks, ~195 s apart, 2023-02-15 -> 2023-04-02) with its per-tick p3.2xlarge spot prices, for three
zones in three regions (us-east-1c, us-east-2b, us-west-2a) and an on-demand rung in us-east-1 at the catalog's
$3.06/h; a 40 h job with a 1.5x (60 h) deadline, a 0.2 h restart (240 s provisioning + 180 s setup + 300 s
restore), a 50 GB checkpoint (egress between regions from data/catalog/egress.json, transfer at the model's
bandwidth), 30 s blocking saves at Daly's interval, AWS's 120 s notice with emergency saves. Every window that
tiles the trace at the deadline's length is replayed with each deadline policy the simulator has and solved
offline (``spotplan.simulator.optimum``, the same replay known in advance). Same-run baseline: the optimum;
"on-demand" is the cost of running on-demand throughout; "free first hours" is what AWS's rule refunded a policy's
interrupted spot instances. The cost-aware policy learns each pool's lifetimes only from the trace before each
decision (``spotplan.simulator.residual``), so window k has k windows of past. Needs the public data folder.

    .venv/bin/python benchmarks/bench_multiregion.py [--windows N] [--markdown]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spotplan.paths import shared_data_dir
from spotplan.schemas.scenario import DeadlinePolicy, Scenario
from spotplan.simulator.model import simulate_once
from spotplan.simulator.optimum import solve
from spotplan.simulator.optimum_replay import optimum_for_replay, problem_for_replay
from spotplan.simulator.trace_scenario import (
    compile_on_traces,
    load_traces,
    tiling_offsets_s,
    trace_pool_specs,
)

ZONES = ("us-east-1c", "us-east-2b", "us-west-2a")
WORK_H, DEADLINE_H = 40.0, 60.0


def scenario(policy: DeadlinePolicy, traces: list, interval_s: float | None = None) -> Scenario:
    """The benchmark's scenario under one deadline policy (Daly's interval, or a fixed ``interval_s``)."""
    pools = trace_pool_specs(traces) + [{"instance_type": "p3.2xlarge", "region": "us-east-1", "market": "on-demand",
                                         "price": {"kind": "catalog"}}]
    return Scenario.model_validate({
        "schema_version": 1, "name": f"multiregion-{policy.value}", "job": {"work_h": WORK_H},
        "checkpoint": {"save_blocking_s": 30, "persist_background_s": 60, "restore_s": 300,
                       "checkpoint_bytes": 50_000_000_000,
                       "interval": ({"policy": "daly"} if interval_s is None
                                    else {"policy": "fixed", "interval_s": interval_s})},
        "notice": {"notice_s": 120, "emergency_save": True, "detection_lag_s": 5},
        "changeover": {"provisioning_s": 240, "setup_s": 180},
        "ladder": {"recovery": "eager-next-region"},
        "deadline": {"policy": policy.value, "deadline_h": DEADLINE_H},
        "replay": {"end_policy": "clamp"},
        "pools": pools,
    })


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--windows", type=int, default=0, help="only the first N windows (0 = all)")
    ap.add_argument("--markdown", action="store_true", help="print the per-window table as Markdown")
    ap.add_argument("--interval-s", type=float, default=None,
                    help="a fixed checkpoint interval instead of Daly's (whose MTBF is the whole trace's: the same "
                         "for every policy and the optimum, but known only in hindsight); checks the figures' "
                         "sensitivity to it")
    args = ap.parse_args()
    data = shared_data_dir()
    if data is None:
        print("needs the public data folder (SPOTPLAN_SHARED_DATA or ../shared/data)", file=sys.stderr)
        return 2
    sky = data / "skynomad"
    paths = [sky / "aws_v100_availability_2023-02-15" / f"{z}_v100_1.csv" for z in ZONES]
    traces = load_traces(paths, tick_prices=sky / "v100_spot_prices.json")
    policies = [p for p in DeadlinePolicy if p is not DeadlinePolicy.NONE]
    compiled = {p: compile_on_traces(scenario(p, traces, args.interval_s), traces) for p in policies}
    span = min(t.trace.duration_s for t in traces)
    offsets = tiling_offsets_s(span, DEADLINE_H * 3600.0)
    if args.windows:
        offsets = offsets[:args.windows]
    cs0 = compiled[policies[0]]
    od = cs0.pools[cs0.od_rung]
    od_usd = (cs0.work_s / cs0.od_rate + cs0.setup_s) * od.flat_usd_per_h / 3600.0
    rows, t_opt, t_sim = [], 0.0, 0.0
    for w, off in enumerate(offsets):
        t0 = time.perf_counter()
        opt = optimum_for_replay(cs0, off).cost_usd
        t_opt += time.perf_counter() - t0
        row = {"w": w, "start_h": off / 3600.0, "opt": opt}
        for p in policies:
            t0 = time.perf_counter()
            r = simulate_once(compiled[p], np.random.default_rng(0), off, keep_timeline=False)
            t_sim += time.perf_counter() - t0
            free = sum(b.raw_usd - b.billed_usd for b in r.bills if b.interrupted and b.raw_usd > b.billed_usd)
            row[p.value] = (r.cost_usd, r.deadline_met, getattr(r, "egress_usd", 0.0), r.makespan_h, free)
        rows.append(row)
    _print(rows, policies, od_usd, args.markdown)
    # Context, not a bound on the simulator (which applies the rule): the optimum if a spot instance interrupted
    # in its first hour were billed like any other (published optima, e.g. SkyNomad's, bill every hour).
    nofree = [solve(dataclasses.replace(problem_for_replay(cs0, off), first_hour_free=False)).cost_usd
              for off in offsets]
    print(f"optimum without AWS's free first hour: mean ${np.mean(nofree):.2f} (policies' mean ratio against it: "
          + ", ".join(f"{p.value} {np.mean([r[p.value][0] / o for r, o in zip(rows, nofree, strict=True)]):.3f}x"
                      for p in policies) + ")")
    print(f"\n{len(rows)} windows of {DEADLINE_H:g} h; optimum {t_opt:.1f} s, simulations {t_sim:.1f} s; "
          f"on-demand throughout ${od_usd:.2f} per window")
    return 0


def _print(rows: list[dict], policies: list[DeadlinePolicy], od_usd: float, markdown: bool) -> None:
    names = [p.value for p in policies]
    head = ["window", "start h", "optimum $"] + [f"{n} $ (x opt, egress $, met)" for n in names]
    sep = " | " if markdown else "  "
    print(("| " if markdown else "") + sep.join(head) + (" |" if markdown else ""))
    if markdown:
        print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        cells = [str(r["w"]), f"{r['start_h']:.0f}", f"{r['opt']:.2f}"]
        for n in names:
            c, met, eg, _, _ = r[n]
            cells.append(f"{c:.2f} ({c / r['opt']:.3f}x, {eg:.2f}, {'yes' if met else 'NO'})")
        print(("| " if markdown else "") + sep.join(cells) + (" |" if markdown else ""))
    print()
    for n in names:
        ratios = [r[n][0] / r["opt"] for r in rows if math.isfinite(r["opt"]) and r["opt"] > 0]
        met = sum(bool(r[n][1]) for r in rows)
        mean_cost = float(np.mean([r[n][0] for r in rows]))
        mean_opt = float(np.mean([r["opt"] for r in rows]))
        print(f"{n}: mean cost ${mean_cost:.2f} vs optimum ${mean_opt:.2f}: mean ratio {np.mean(ratios):.3f}x "
              f"(ratio of means {mean_cost / mean_opt:.3f}x, worst {max(ratios):.3f}x), deadline met {met}/{len(rows)}"
              f", mean egress ${np.mean([r[n][2] for r in rows]):.2f}, mean free first hours "
              f"${np.mean([r[n][4] for r in rows]):.2f}; on-demand throughout ${od_usd:.2f} "
              f"({od_usd / mean_opt:.3f}x)")


if __name__ == "__main__":
    raise SystemExit(main())
