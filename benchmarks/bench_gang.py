"""Benchmark: gangs of 1 to 128 nodes under both gang policies, cost per run against market events.

A 70B-style job (48 h of work on the full gang, 30-minute interval, 30 s blocking save, 120 s restore, 300 s
setup, 240 s provisioning, 2-minute notice with emergency saves) on one spot pool of p5.48xlarge (8 GPUs each,
$30/h per node, fixed) whose instances fail independently (exponential, MTBF 24.49 h per instance, Can't Be Late's
2-exp alive-time scale as in ``bench_simulator.py``; mean outage 1 h), with N = 1, 4, 16, 64, 128 nodes, for
``job.gang: wait`` (the classic gang: any node lost stops it; the fast-forward applies) and ``elastic``
(``min_nodes`` = ceil(N/2)); then N = 16 and 128 on correlated reclaims (``gang_model: common-shock``, the fit of
``data/fitted/gang_correlation.json`` over the same per-instance process). Same run, CPU time (``time.process_time``), seeded runs: per run the SimPy events,
the lifetimes (launches and width periods), the interruptions (market events the job met), CPU ms, and the
ratio to the same-run baseline (N = 1, wait). The run horizon is 30 days (a hopeless gang is cut there).

    .venv/bin/python benchmarks/bench_gang.py [--runs 8] [--models independent common-shock] [--append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

import simpy
from report import add_row, machine_label

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spotplan.schemas import Scenario
from spotplan.simulator.compile import compile_scenario
from spotplan.simulator.model import simulate_once
from spotplan.simulator.montecarlo import run_rng

NODES = (1, 4, 16, 64, 128)
MODELS = ("independent", "common-shock")
SHOCK_NODES = (16, 128)  # gang sizes measured on correlated reclaims
SECTION = "## Gang policies at scale"


def scenario(nodes: int, gang: str, model: str = "independent") -> Scenario:
    """The benchmark's job on ``nodes`` p5.48xlarge spot nodes (fixed price, exponential failures, ``model``)."""
    return Scenario.from_dict({
        "name": f"70B-style x{nodes} {gang} {model}",
        "job": {"work_h": 48.0, "nodes": nodes, "gang": gang},
        "checkpoint": {"save_blocking_s": 30.0, "restore_s": 120.0,
                       "interval": {"policy": "fixed", "interval_s": 1800.0}},
        "notice": {"notice_s": 120.0, "emergency_save": True, "detection_lag_s": 5.0},
        "changeover": {"provisioning_s": 240.0, "setup_s": 300.0},
        "pools": [{"instance_type": "p5.48xlarge", "region": "us-east-1", "zone": "us-east-1a",
                   "price": {"kind": "fixed", "usd_per_h": 30.0},
                   "availability": {"kind": "exponential", "mtbf_h": 24.49, "downtime_h": 1.0,
                                    "gang_model": model}}],
    })


def measure(nodes: int, gang: str, runs: int, model: str = "independent") -> dict[str, float]:
    """Per-run means over ``runs`` seeded runs."""
    cs = compile_scenario(scenario(nodes, gang, model))
    ev = lives = irq = fin = 0
    spans, costs = [], []
    t0 = time.process_time()
    for i in range(runs):
        env = simpy.Environment()
        r = simulate_once(cs, run_rng(11, i), keep_timeline=False, env=env)
        ev += next(env._eid)
        lives += r.restarts + 1 + r.failed_launches
        irq += r.interruptions
        fin += r.finished
        spans.append(r.makespan_s / 3600)
        costs.append(r.cost_usd)
    ms = (time.process_time() - t0) / runs * 1e3
    return {"events": ev / runs, "lifetimes": lives / runs, "interruptions": irq / runs, "ms": ms,
            "finished": fin / runs, "makespan_h": statistics.median(spans), "cost": statistics.median(costs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--append", action="store_true", help="append the rows to BENCHMARKS.md")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                    help="availability.gang_model values to measure (the baseline is always N=1, wait, independent)")
    args = ap.parse_args()
    machine, today = machine_label(), dt.date.today()
    base = measure(1, "wait", args.runs)
    for model, nodes, gang in ((m, n, g) for m in args.models for n in NODES for g in ("wait", "elastic")):
        if model != "independent" and nodes not in SHOCK_NODES:
            continue
        m = base if (model, nodes, gang) == ("independent", 1, "wait") else measure(nodes, gang, args.runs, model)
        policy = gang if model == "independent" else f"{gang}, {model}"
        per_k = m["ms"] / max(1.0, m["interruptions"]) * 1e3
        row = (f"| {today} | {machine} | {nodes} | {policy} | {m['finished']:.0%} | {m['makespan_h']:,.1f} h | "
               f"${m['cost']:,.0f} | {m['interruptions']:,.0f} | {m['lifetimes']:,.0f} | {m['events']:,.0f} | "
               f"{m['ms']:,.1f} ms | {per_k:,.0f} us | x{m['ms'] / base['ms']:.1f} |")
        print(row, flush=True)
        if args.append:
            add_row(SECTION, row)

if __name__ == "__main__":
    main()
