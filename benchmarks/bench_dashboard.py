"""Dashboard responsiveness: how long the page takes to redraw after a what-if slider moves.

Drives ``dashboard/app.py`` headless with Streamlit's AppTest (script run plus figure building; the browser's
plotly.js drawing is not included: the browser test records that in ``artifacts/screenshots/timings.json``).
Baseline, measured in the same run: the full advisor, ``spotplan.advisor.api.recommend``, for the same inputs, which is what
the page would cost if every slider move re-planned with SimPy. Prints a Markdown row for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_dashboard.py
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MULTIPLIERS = (1.25, 1.5, 1.75, 2.0, 2.5)


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    from streamlit.testing.v1 import AppTest

    from spotplan.advisor.api import recommend
    from spotplan.advisor.request import RecommendRequest

    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=600)
    first_s = _timed(at.run)
    misses = [_timed(at.slider(key="interruption_multiplier").set_value(m).run) for m in MULTIPLIERS]
    hits = [_timed(at.slider(key="interruption_multiplier").set_value(m).run) for m in MULTIPLIERS]
    if at.exception:
        print(at.exception[0].value, file=sys.stderr)
        return 1
    full = [_timed(lambda m=m: recommend(RecommendRequest(model_size="7B", interruption_multiplier=m)))
            for m in MULTIPLIERS[:2]]
    miss, hit, base = statistics.median(misses), statistics.median(hits), statistics.median(full)
    machine = f"vm ({os.cpu_count()} CPU, {platform.python_version()})"
    print("| date | machine | input | baseline: full advisor | first render | slider move (new value) "
          "| slider move (cached) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {datetime.now(UTC):%Y-%m-%d} | {machine} | 7B full, defaults, 48 runs | {base:.2f} s "
          f"| {first_s:.2f} s | {miss:.3f} s (x{miss / base:.3f}) | {hit:.3f} s (x{hit / base:.3f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
