"""Timestamped availability series (CSV) and per-tick spot prices aligned with a trace's ticks.

CSV: a header with a time column (``date``, ``time``, ``timestamp``; ISO-8601, UTC when no zone is given, as in
SkyNomad's ``aws_v100_availability_2023-02-15/<zone>_v100_1.csv``) and an availability column (``availability``,
``available``, ``count``: instances obtainable at that time), optionally a price column (``price``,
``spot_price``, ``price_usd_per_h``: USD/h at that time). Rows must be in time order and roughly evenly spaced:
the tick is the median spacing, and a spacing over ``MAX_JITTER`` times it is refused (a hole in the series
would otherwise be replayed as capacity). Tick prices: a JSON object ``{"<trace stem>": [usd_per_h, ...]}``
(SkyNomad's ``v100_spot_prices.json``), aligned index by index with the trace of that stem.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from spotplan.errors import DataError
from spotplan.simulator.market.price_formats import as_float, read_text
from spotplan.simulator.market.series import AvailabilityTrace, PriceSeries

TIME_COLUMNS = ("date", "time", "timestamp", "ts_utc")
VALUE_COLUMNS = ("availability", "available", "count", "num_available")
PRICE_COLUMNS = ("price", "spot_price", "price_usd_per_h", "spot_usd_per_h")
MAX_JITTER = 2.0  # a spacing above twice the median tick is a hole in the series


def _column(header: list[str], names: tuple[str, ...], source: str, *, required: bool) -> int | None:
    low = [h.strip().lower() for h in header]
    for n in names:
        if n in low:
            return low.index(n)
    if required:
        raise DataError(f"header {header!r} has none of {list(names)}; expected a timestamped availability CSV",
                        path=source, field="header")
    return None


def _epoch_s(value: str, source: str, row: int, field: str) -> float:
    try:
        dt = datetime.fromisoformat(value.strip())
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError, OSError):
        raise DataError(f"{value[:40]!r}; expected an ISO-8601 time", path=source, record=row, field=field) from None


def _number(value: str, source: str, row: int, field: str, *, integer: bool) -> float:
    try:
        f: float | None = float(value)
    except ValueError:
        f = None
    f = as_float(f)  # nan and inf are refused
    if f is None or f < 0 or (integer and f != int(f)):
        want = "an integer count >= 0" if integer else "a price >= 0 USD/h"
        raise DataError(f"{value[:40]!r}; expected {want}", path=source, record=row, field=field)
    return f


def _tick_s(times: np.ndarray, source: str) -> float:
    if times.size < 2:
        raise DataError(f"{times.size} row(s); expected at least 2 to know the tick", path=source)
    gaps = np.diff(times)
    bad = np.flatnonzero(gaps <= 0)
    if bad.size:
        raise DataError(f"time does not increase at row {int(bad[0]) + 1}; expected rows in time order",
                        path=source, record=int(bad[0]) + 1, field="time")
    tick = float(np.median(gaps))
    hole = np.flatnonzero(gaps > MAX_JITTER * tick)
    if hole.size:
        i = int(hole[0])
        raise DataError(f"{gaps[i]:.0f} s between rows {i} and {i + 1}, over {MAX_JITTER:g}x the {tick:.0f} s tick; "
                        "expected an evenly spaced series (split it at the hole)", path=source, record=i + 1)
    return tick


def load_timestamped_trace(path: str | Path, *, instance_type: str = "", zone: str = "",
                           capacity: int | None = None) -> AvailabilityTrace:
    """Read a timestamped CSV series; ``start_s`` is the first row's epoch seconds, the tick its median spacing."""
    p = Path(path)
    source = str(p)
    try:
        rows = list(csv.reader(io.StringIO(read_text(p))))
    except csv.Error as exc:
        raise DataError(f"not a readable CSV ({str(exc)[:60]}); expected a timestamped availability CSV",
                        path=source) from None
    if not rows:
        raise DataError("empty file; expected a header and timestamped rows", path=source)
    header, body = rows[0], [r for r in rows[1:] if r]
    ti = _column(header, TIME_COLUMNS, source, required=True)
    vi = _column(header, VALUE_COLUMNS, source, required=True)
    pi = _column(header, PRICE_COLUMNS, source, required=False)
    assert ti is not None and vi is not None
    times, values, prices = [], [], []
    for n, r in enumerate(body, start=1):
        if len(r) <= max(ti, vi, pi or 0):
            raise DataError(f"{len(r)} field(s); expected {len(header)}", path=source, record=n)
        times.append(_epoch_s(r[ti], source, n, header[ti]))
        values.append(_number(r[vi], source, n, header[vi], integer=True))
        if pi is not None:
            prices.append(_number(r[pi], source, n, header[pi], integer=False))
    t = np.asarray(times)
    tick = _tick_s(t, source)
    v = np.asarray(values, dtype=np.int64)
    cap = capacity if capacity is not None else max(1, int(v.max()))
    return AvailabilityTrace(gap_s=tick, values=v, start_s=float(t[0]), capacity=cap,
                             prices_usd_per_h=np.asarray(prices) if pi is not None else None,
                             instance_type=instance_type, zone=zone, source=source)


def load_tick_prices(path: str | Path) -> dict[str, np.ndarray]:
    """Read ``{"<trace stem>": [usd_per_h, ...]}``; every list non-empty, every price a number >= 0."""
    p = Path(path)
    source = str(p)
    try:
        doc: Any = json.loads(read_text(p))
    except (RecursionError, ValueError) as exc:
        raise DataError(f"not valid JSON ({str(exc)[:60]}); expected {{trace stem: [USD/h per tick]}}",
                        path=source) from None
    if not isinstance(doc, dict) or not doc:
        raise DataError("expected a non-empty JSON object {trace stem: [USD/h per tick]}", path=source)
    out = {}
    for key, seq in doc.items():
        if not isinstance(seq, list) or not seq:
            raise DataError(f"{type(seq).__name__}; expected a non-empty list of prices", path=source, field=key)
        for i, x in enumerate(seq):
            f = as_float(x)
            if f is None or f < 0:
                raise DataError(f"{x!r}; expected a price >= 0 USD/h", path=source, field=key, record=i)
        out[str(key)] = np.asarray(seq, dtype=float)
    return out


def with_tick_prices(trace: AvailabilityTrace, prices: dict[str, np.ndarray], source: str) -> AvailabilityTrace:
    """The trace with the per-tick prices of its file stem from a tick-price file."""
    stem = Path(trace.source).stem
    if stem not in prices:
        raise DataError(f"has no prices for trace '{stem}'; it prices {sorted(prices)[:6]}", path=source, field=stem)
    pr = prices[stem]
    if pr.size != trace.values.size:
        raise DataError(f"{pr.size} prices for {trace.values.size} ticks of {trace.source}; expected one per tick",
                        path=source, field=stem)
    return AvailabilityTrace(gap_s=trace.gap_s, values=trace.values, start_s=trace.start_s, capacity=trace.capacity,
                             prices_usd_per_h=pr, instance_type=trace.instance_type, zone=trace.zone,
                             source=trace.source)


def tick_price_series(trace: AvailabilityTrace, *, region: str = "") -> PriceSeries:
    """The trace's per-tick prices as a step function from its start (each price holds for one tick)."""
    if trace.prices_usd_per_h is None:
        raise DataError("carries no per-tick prices; expected a price column, 'prices' or a tick-price file",
                        path=trace.source)
    n = trace.values.size
    return PriceSeries(times_s=trace.start_s + np.arange(n) * trace.gap_s, prices_usd_per_h=trace.prices_usd_per_h,
                       end_s=trace.start_s + n * trace.gap_s, instance_type=trace.instance_type, region=region,
                       zone=trace.zone, source=f"{trace.source} (per-tick prices)")
