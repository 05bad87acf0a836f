"""Wall time of the ``spotplan regress`` suite against one advisor call measured in the same run.

Baseline: ``spotplan.advisor.api.recommend`` on the p4d-7b-full-aws reference request (what one scenario costs). Measured:
the whole committed suite (every scenario at its pinned runs and seed, compared with its baseline; nothing is
written). Prints seconds, the ratio to the baseline, and each scenario's seconds; ``--append`` adds a row to the
"CI regression" section of BENCHMARKS.md. The issue's budget is one minute for the suite on 2 cores.

    .venv/bin/python benchmarks/bench_regress.py [--append]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from report import add_row  # benchmarks/report.py (scripts run from benchmarks/)

from spotplan.regress.engine import build_request, resolve
from spotplan.regress.inputs import shared_data_dir
from spotplan.regress.suite import SuiteOptions, run_suite
from spotplan.schemas.baseline import ReferenceScenario

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ROOT / "data" / "baselines"
SECTION = "## CI regression: the `spotplan regress` suite (`benchmarks/bench_regress.py`)"


def baseline_s() -> float:
    """Seconds of one advisor call on the p4d 7B reference request."""
    from spotplan.advisor.api import recommend

    ref = ReferenceScenario.load(BASELINES / "p4d-7b-full-aws.yaml")
    rs = resolve(ref, baselines_dir=BASELINES, calibration_override=None, shared_dir=shared_data_dir())
    t0 = time.perf_counter()
    recommend(build_request(rs), progress=False)
    return time.perf_counter() - t0


def main() -> None:
    """Measure, print, optionally append to BENCHMARKS.md."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--append", action="store_true", help="append a row to BENCHMARKS.md")
    args = ap.parse_args()
    base = baseline_s()
    result = run_suite(SuiteOptions(baselines_dir=BASELINES))
    for o in result.outcomes:
        print(f"  {o.name:24s} {o.status.value:10s} {o.elapsed_s:6.2f} s")
    c = result.counts
    row = (f"| {datetime.now(UTC):%Y-%m-%d} | vm ({os.cpu_count()} CPU, {platform.python_version()}) | "
           f"{os.getloadavg()[0]:.1f} | {base:.2f} s | {result.elapsed_s:.1f} s | x{result.elapsed_s / base:.1f} | "
           f"{c.get('pass', 0)}/{c.get('skipped', 0)}/{c.get('fail', 0) + c.get('no-baseline', 0)} |")
    print(row)
    if args.append:
        add_row(SECTION, row)


if __name__ == "__main__":
    main()
