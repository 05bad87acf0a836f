"""Benchmark: loading the 270 real describe-spot-price-history files vs a bare ``json.load`` of the same files.

Baseline (same run): read and ``json.load`` every file, nothing else. Measured: ``load_price_history`` on the
folder (parse, validate every record, normalise, de-duplicate, sort, warnings) and building one ``PriceSeries``
per pool. Reports medians of ``--repeats`` runs and the ratios, with date and machine.

    .venv/bin/python benchmarks/bench_prices_load.py [--shared-data ../shared/data] [--repeats 5] [--append]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from report import add_row  # benchmarks/report.py (scripts run from benchmarks/)

ROOT = Path(__file__).resolve().parents[1]
HISTORY = "training_on_a_dime/aws_describe_spot_price_history"


def _time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    """Measure and print (optionally append) the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--append", action="store_true", help="add the row to this benchmark's BENCHMARKS.md table")
    args = ap.parse_args()
    from spotplan.simulator.market.prices import load_price_history

    folder = args.shared_data / HISTORY
    files = sorted(folder.rglob("*.json"))

    def baseline() -> None:
        for f in files:
            json.loads(f.read_text())

    def series_all() -> None:
        h = load_price_history(folder)
        for k in h.pools():
            h.series(k.instance_type, k.zone, k.product)

    load_price_history(folder)  # warm-up: imports, page cache
    base = _time(baseline, args.repeats)
    load = _time(lambda: load_price_history(folder), args.repeats)
    full = _time(series_all, args.repeats)
    line = (f"| {datetime.now(UTC):%Y-%m-%d} | {platform.node()} ({os.cpu_count()} CPU, {platform.python_version()}) "
            f"| {len(files)} files | json.load {base * 1e3:.0f} ms | load_price_history {load * 1e3:.0f} ms "
            f"(x{load / base:.1f}) | + series for every pool {full * 1e3:.0f} ms (x{full / base:.1f}) |")
    print(line)
    if args.append:
        add_row("## Data layer:", line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
