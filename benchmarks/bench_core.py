"""Benchmark: the closed-form simulator core against the step-by-step reference, and ``recommend`` wall times.

Measured in one process, same run, CPU time (``time.process_time``):

1. Events per run and time per run against job length (24 h to 2,000 h) at a fixed 30-minute interval, on the
   scenario of ``bench_simulator.py`` (two exponential spot zones, M = 24.49 h, an on-demand last rung, 2-minute
   notice with emergency saves), then on its two spot zones alone (interrupted for the whole job): the core's
   cost follows the market events, the reference's the checkpoints.
2. The 7B plan's scenario (``spotplan recommend --model-size 7B``, whole job): events per run, core vs reference.
3. The per-event rate against a bare SimPy ``env.timeout(1)`` loop: overall (events / CPU time of whole runs,
   per-run set-up included) and marginal (the slope of CPU time against events across the spot-only lengths).
   Measured twice: for the event path alone (``fast_forward=False``: every decision a SimPy event, the figure
   the issue's target was set on), and for the default core, whose fast-forward (``spotplan.simulator.skip``)
   walks the middle of a run without SimPy events; there the unit is an instance launch (a lifetime or a launch
   that lost its capacity), the market event it handles.
4. ``recommend`` for 7B, 13B and 70B on the embedded data (48 replays, seed 0), with the node count searched (up
   to 128 nodes), then 70B fixed at 128 nodes (``--nodes 128``) and 70B with ``--deadline 720h``: median in-process
   wall time of 3 (``Recommendation.timing_s['wall_s']``, the node scan's share in brackets), plus the median of 3
   wall times of the CLI (``spotplan recommend``, interpreter start and imports included).

    .venv/bin/python benchmarks/bench_core.py [--runs 40] [--append] [--recommend-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import simpy
from bench_simulator import SCENARIO, bare_timeout_rate
from report import add_row, machine_label

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spotplan.advisor.api import recommend
from spotplan.advisor.request import RecommendRequest
from spotplan.schemas import Scenario
from spotplan.simulator.compile import compile_scenario
from spotplan.simulator.model import simulate_once
from spotplan.simulator.montecarlo import run_rng
from tests.support import reference_model

LENGTHS_H = (24, 100, 500, 2000)


def _per_run(cs, sim, runs: int, **kw) -> tuple[float, float, float, float, float]:
    """(events per run, CPU ms per run, checkpoints per run, interruptions per run, launches per run)."""
    events, ckpt, irq, launches = 0, 0, 0, 0
    t0 = time.process_time()
    for i in range(runs):
        env = simpy.Environment()
        r = sim(cs, run_rng(7, i), keep_timeline=False, env=env, **kw)
        events += next(env._eid)
        ckpt += r.checkpoints
        irq += r.interruptions
        launches += r.restarts + 1 + r.failed_launches
    ms = (time.process_time() - t0) / runs * 1e3
    return events / runs, ms, ckpt / runs, irq / runs, launches / runs


def _rate(pts: list[tuple[float, float]]) -> tuple[float, float]:
    """(overall, marginal) units per CPU second from (units per run, ms per run) points."""
    overall = sum(p[0] for p in pts) / (sum(p[1] for p in pts) / 1e3)
    slope_ms = float(np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)[0])  # ms per extra unit
    return overall, (1e3 / slope_ms if slope_ms > 0 else float("inf"))


def _scenario(work_h: float, spot_only: bool):
    doc = {**SCENARIO, "job": {"work_h": work_h}}
    if spot_only:  # interruptions keep coming for the whole job: events grow with hours, not with checkpoints
        doc["pools"] = SCENARIO["pools"][:2]
    doc["checkpoint"] = {**SCENARIO["checkpoint"], "interval": {"policy": "fixed", "interval_s": 1800}}
    return compile_scenario(Scenario.from_dict(doc))


RECOMMEND_CASES: tuple[tuple[str, dict[str, float], tuple[str, ...]], ...] = (
    ("7B", {}, ()), ("13B", {}, ()), ("70B", {}, ()),
    ("70B --nodes 128", {"nodes": 128}, ("--nodes", "128")),
    ("70B --deadline 720h", {"deadline_h": 720.0}, ("--deadline", "720h")),
)


def _recommend_rows(today: dt.date, machine: str) -> list[str]:
    """Section 4: in-process (node scan in brackets) and CLI medians of 3 per request."""
    rows = []
    for label, kwargs, flags in RECOMMEND_CASES:
        size = label.split()[0]
        timings = [recommend(RecommendRequest(model_size=size, **kwargs)).timing_s for _ in range(3)]  # type: ignore[arg-type]
        walls = [t["wall_s"] for t in timings]
        scans = [t.get("node_scan_s", 0.0) for t in timings]
        clis = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([str(REPO / ".venv/bin/spotplan"), "recommend", "--model-size", size, *flags], check=True,
                           capture_output=True, timeout=1800)
            clis.append(time.perf_counter() - t0)
        how = "node count fixed" if "nodes" in kwargs else "node count searched"
        rows.append(f"| {today} | {machine} | {label}, 48 replays, {how} | "
                    f"{statistics.median(walls):.2f} s ({statistics.median(scans):.2f} s scan) | "
                    f"{statistics.median(clis):.2f} s |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--append", action="store_true", help="append the rows to BENCHMARKS.md")
    ap.add_argument("--recommend-only", action="store_true", help="only section 4 (recommend wall times)")
    args = ap.parse_args()
    machine = machine_label()
    today = dt.date.today()
    if args.recommend_only:
        rec_rows = _recommend_rows(today, machine)
        for r in rec_rows:
            print(r)
            if args.append:
                add_row("## Simulator core: recommend wall time", r)
        return
    bare = bare_timeout_rate()
    rows, pts_event, pts_ff = [], [], []
    for spot_only in (False, True):
        for h in LENGTHS_H:
            cs = _scenario(h, spot_only)
            ev, ms, ck, irq, launches = _per_run(cs, simulate_once, args.runs)
            rev, rms, _, _, _ = _per_run(cs, reference_model.simulate_once, max(4, args.runs // 4))
            if spot_only:
                pts_ff.append((launches, ms))
                eev, ems, _, _, _ = _per_run(cs, simulate_once, args.runs, fast_forward=False)
                pts_event.append((eev, ems))
            rows.append(f"| {today} | {machine} | {h} h, 30 min interval{', spot only' if spot_only else ''} | "
                        f"{ck:.0f} | {irq:.1f} | {ev:.0f} | {ms:.2f} ms | {rev:.0f} | {rms:.2f} ms | "
                        f"x{rev / ev:.0f} fewer events, x{rms / ms:.1f} faster |")
    rate_rows = []
    for label, pts in (("event path (`fast_forward=False`), SimPy events", pts_event),
                       ("default (fast-forward), instance launches", pts_ff)):
        overall, marginal = _rate(pts)
        rate_rows.append(f"| {today} | {machine} | {label} | {bare / 1e6:.2f} M ev/s | {overall / 1e6:.3f} M/s "
                         f"(x{overall / bare:.3f}) | {marginal / 1e6:.3f} M/s (x{marginal / bare:.3f}) |")
    rec7 = recommend(RecommendRequest(model_size="7B"))
    cs7 = compile_scenario(rec7.scenario)
    ev7, ms7, ck7, irq7, _ = _per_run(cs7, simulate_once, 20)
    rev7, rms7, _, _, _ = _per_run(cs7, reference_model.simulate_once, 5)
    plan_row = (f"| {today} | {machine} | 7B plan, {cs7.work_s / 3600:.0f} h, {cs7.interval_s / 60:.1f} min interval | "
                f"{ck7:.0f} | {irq7:.1f} | {ev7:.0f} | {ms7:.2f} ms | {rev7:.0f} | {rms7:.2f} ms | "
                f"x{rev7 / ev7:.0f} fewer events, x{rms7 / ms7:.1f} faster |")
    rec_rows = _recommend_rows(today, machine)
    for r in rows + [plan_row]:
        print(r)
    for r in rate_rows:
        print(r)
    for r in rec_rows:
        print(r)
    if args.append:
        for r in rows + [plan_row]:
            add_row("## Simulator core: events and time per run", r)
        for r in rate_rows:
            add_row("## Simulator core: per-event rate", r)
        for r in rec_rows:
            add_row("## Simulator core: recommend wall time", r)


if __name__ == "__main__":
    main()
