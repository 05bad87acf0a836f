"""A small hand-built availability trace for dashboard tests (synthetic, not measured: the data folder embeds no
trace, and tests must run without the public data).

One p3.2xlarge zone (us-east-2b) over three days at a 10-minute tick, in SkyNomad's timestamped CSV layout, with
up and down spells of uneven lengths so that the windows differ; and a tick-price file for it in the layout of
SkyNomad's ``v100_spot_prices.json`` ({trace stem: [USD/h per tick]}).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

TRACE_NAME = "us-east-2b_v100_1.csv"
TICK_S = 600
DAYS = 3
SPELLS_H = (5, 2, 7, 1, 3, 4, 9, 2, 6, 3)  # alternating up / down spell lengths, repeated
START = datetime(2023, 2, 15, tzinfo=UTC)


def availability() -> list[int]:
    """Instances obtainable at each tick (0 or 1)."""
    ticks = DAYS * 86_400 // TICK_S
    out: list[int] = []
    k = 0
    while len(out) < ticks:
        out += [1 - k % 2] * (SPELLS_H[k % len(SPELLS_H)] * 3600 // TICK_S)
        k += 1
    return out[:ticks]


def trace_csv() -> bytes:
    """The trace as a timestamped CSV (``date,availability``)."""
    rows = ["date,availability"] + [f"{(START + timedelta(seconds=i * TICK_S)):%Y-%m-%d %H:%M:%S},{v}"
                                    for i, v in enumerate(availability())]
    return ("\n".join(rows) + "\n").encode()


def tick_prices_json() -> bytes:
    """Per-tick spot prices of the trace: 0.90 to 1.05 USD/h, stepping every 5 hours."""
    n = len(availability())
    return json.dumps({Path(TRACE_NAME).stem: [round(0.9 + 0.05 * ((i // 30) % 4), 2) for i in range(n)]}).encode()


def write_trace(folder: Path) -> Path:
    """Write the trace CSV into ``folder``; return its path."""
    path = folder / TRACE_NAME
    path.write_bytes(trace_csv())
    return path
