"""Benchmark: wall time of `spotplan recommend --model-size 7B` (defaults) and the share spent in SimPy.

Runs ``spotplan.advisor.api.recommend`` in-process (after one warm-up call that loads the catalog and fit), repeats it,
and reports the median wall time, the median time inside the SimPy Monte Carlo, and their ratio. A second
figure times the bare CLI subprocess (import + run) once, as a user sees it.

    .venv/bin/python benchmarks/bench_recommend.py [--repeats 3] [--append]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from report import add_row  # benchmarks/report.py (scripts run from benchmarks/)

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    """Measure and print (optionally append) the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--append", action="store_true", help="add the row to this benchmark's BENCHMARKS.md table")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from spotplan.advisor.api import recommend
    from spotplan.advisor.request import RecommendRequest

    req = RecommendRequest(model_size="7B")
    recommend(req)  # warm-up: catalog, fit and imports are cached after this
    walls, simpy, cpus = [], [], []
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        rec = recommend(req)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)  # less sensitive than wall time to other jobs on a shared VM
        simpy.append(rec.timing_s["simpy_s"])
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "spotplan.cli", "recommend", "--model-size", "7B", "--json"], cwd=ROOT,
                   check=True, capture_output=True)
    cli_s = time.perf_counter() - t0
    wall, sim, cpu = statistics.median(walls), statistics.median(simpy), statistics.median(cpus)
    load = os.getloadavg()[0]
    line = (f"| {datetime.now(UTC):%Y-%m-%d} | {platform.machine()}, {os.cpu_count()} cores, load {load:.1f} | "
            f"{wall:.2f} s | {cpu:.2f} s | {sim:.2f} s | {sim / wall:.0%} | {cli_s:.2f} s | runs={req.runs}, "
            f"SimPy configurations={int(rec.timing_s['simpy_configs'])} |")
    print("recommend --model-size 7B (in-process, median of", args.repeats, "after warm-up)")
    print(f"  wall {wall:.2f} s (CPU {cpu:.2f} s); SimPy {sim:.2f} s = {sim / wall:.0%} of wall; "
          f"CLI subprocess {cli_s:.2f} s")
    print(line)
    if args.append:
        add_row("## Advisor:", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
