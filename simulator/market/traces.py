"""Availability/preemption traces (Can't Be Late format) and interruption event logs (JSON lines).

Can't Be Late: ``{"metadata": {"gap_seconds": G}, "data": [n, ...], "prices": [usd_per_h, ...]?}``; ``data[i]``
is the number of spot instances available or running at ``start + i*G`` seconds (1-node files: 1 = available or
running, 0 = unavailable or preempted; multi-node files: 0..N). This is the README's convention; the authors'
``sky_spot`` simulator uses the inverse, so never port its ``not trace[tick]``. The files carry no absolute start:
``start_s`` is 0 unless given. Event logs are JSON lines of ``spotplan.schemas.events.RunEvent``; a bare IMDS
``spot/instance-action`` line (``{"action", "time", "instance_type", "zone"}``) is read as a ``notice`` event.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from spotplan.errors import DataError
from spotplan.schemas.base import first_error
from spotplan.schemas.events import RunEvent
from spotplan.simulator.market.price_formats import as_float, read_text
from spotplan.simulator.market.series import AvailabilityTrace

# File-name accelerator tag -> instance type (SOURCES.md section 1/5; by GPU count where the README disagrees:
# its "p2.2xlarge" does not exist and 8 K80s are a p2.8xlarge).
ACCEL_TO_TYPE = {
    "v100_1": "p3.2xlarge", "v100_4": "p3.8xlarge", "v100_8": "p3.16xlarge", "k80_1": "p2.xlarge",
    "k80_8": "p2.8xlarge", "intel_64": "r5.16xlarge", "c3-88": "c3-highcpu-88", "a100_40gb_8": "a2-ultragpu-4g",
}
_NAME_RE = re.compile(r"^(?P<zone>[a-z]{2,}-[a-z]+\d?(?:-\d+)?-?[a-z])_(?P<accel>.+)$")
_NODES_RE = re.compile(r"(\d+)-node")


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceInfo:
    """What a trace's path says about it."""

    cloud: str  # "aws", "gcp" or "" when unknown
    kind: str  # "availability", "preemption" or ""
    zone: str
    instance_type: str
    nodes: int  # instances requested (1, 4, 16); 0 when unknown


def trace_info(path: str | Path) -> TraceInfo:
    """Parse ``<kind>/<N>-node/<cloud>-<date>/<zone>_<accel>.json`` where those parts exist."""
    p = Path(path)
    m = _NAME_RE.match(p.stem)
    zone, accel = (m.group("zone"), m.group("accel")) if m else ("", "")
    parts = [x.lower() for x in p.parts]
    nodes = next((int(n.group(1)) for x in parts if (n := _NODES_RE.fullmatch(x))), 0)
    cloud = next((c for c in ("aws", "gcp") if any(x.startswith(c + "-") for x in parts)), "")
    kind = next((k for k in ("availability", "preemption") if k in parts), "")
    return TraceInfo(cloud=cloud, kind=kind, zone=zone, instance_type=ACCEL_TO_TYPE.get(accel, ""), nodes=nodes)


def _ticks(doc: dict[str, Any], key: str, source: str, *, integer: bool) -> np.ndarray:
    seq = doc.get(key)
    if not isinstance(seq, list) or not seq:
        raise DataError(f"expected a non-empty list of {'counts' if integer else 'prices'}", path=source, field=key)
    for i, v in enumerate(seq):
        f = as_float(v)
        if f is None or f < 0 or (integer and f != int(f)):
            want = "an integer count >= 0" if integer else "a price >= 0 USD/h"
            raise DataError(f"{v!r}; expected {want}", path=source, record=i, field=key)
    return np.asarray(seq, dtype=np.int64 if integer else float)


def availability_from_doc(doc: Any, source: str, *, instance_type: str = "", zone: str = "",
                          capacity: int | None = None, start_s: float = 0.0) -> AvailabilityTrace:
    """Validate a parsed Can't Be Late document."""
    if not isinstance(doc, dict):
        raise DataError(f"top level is {type(doc).__name__}; expected {{'metadata': {{'gap_seconds': G}}, 'data': [...]}}",
                        path=source)
    meta = doc.get("metadata")
    gap = meta.get("gap_seconds") if isinstance(meta, dict) else None
    if (g := as_float(gap)) is None or g <= 0:
        raise DataError(f"{gap!r}; expected a number of seconds > 0", path=source, field="metadata.gap_seconds")
    values = _ticks(doc, "data", source, integer=True)
    prices = _ticks(doc, "prices", source, integer=False) if "prices" in doc else None
    if prices is not None and prices.size != values.size:
        raise DataError(f"has {prices.size} entries, 'data' has {values.size}; expected equal lengths",
                        path=source, field="prices")
    cap = capacity if capacity is not None else max(1, int(values.max()))
    return AvailabilityTrace(gap_s=g, values=values, start_s=start_s, capacity=cap, prices_usd_per_h=prices,
                             instance_type=instance_type, zone=zone, source=source)


def load_availability_trace(path: str | Path, *, instance_type: str | None = None, zone: str | None = None,
                            capacity: int | None = None, start_s: float = 0.0) -> AvailabilityTrace:
    """Load one Can't Be Late JSON file (or a timestamped CSV series, by suffix); type, zone and capacity default
    to what its path says."""
    p = Path(path)
    if not p.is_file():
        raise DataError("file does not exist; expected a Can't Be Late trace JSON file or a timestamped CSV",
                        path=str(p))
    if p.suffix.lower() == ".csv":
        from spotplan.simulator.market.tick_traces import load_timestamped_trace

        info = trace_info(p)
        return load_timestamped_trace(p, instance_type=instance_type if instance_type is not None
                                      else info.instance_type, zone=zone if zone is not None else info.zone,
                                      capacity=capacity if capacity is not None else (info.nodes or None))
    text = read_text(p)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})", path=str(p)) from None
    except (RecursionError, ValueError) as exc:
        raise DataError(f"unreadable JSON ({str(exc)[:60]}); expected a Can't Be Late trace", path=str(p)) from None
    info = trace_info(p)
    nodes = capacity if capacity is not None else (info.nodes or None)
    return availability_from_doc(doc, str(p), instance_type=instance_type if instance_type is not None
                                 else info.instance_type, zone=zone if zone is not None else info.zone,
                                 capacity=nodes, start_s=start_s)


def load_availability_traces(directory: str | Path) -> list[AvailabilityTrace]:
    """Every ``*.json`` trace under ``directory``, sorted by path."""
    d = Path(directory)
    if not d.is_dir():
        raise DataError("directory does not exist; expected a folder of Can't Be Late traces", path=str(d))
    return [load_availability_trace(p) for p in sorted(d.rglob("*.json"))]


def _event(obj: Any, source: str, i: int) -> RunEvent:
    if not isinstance(obj, dict):
        raise DataError(f"{type(obj).__name__} value; expected a JSON object per line", path=source, record=i)
    if "event" not in obj and "action" in obj:
        # Bare IMDS instance-action shape: a notice recorded at its announced time.
        obj = {"event": "notice", "ts_utc": obj.get("time"), "source": "imds", **obj}
    try:
        ev = RunEvent.model_validate(obj)
    except ValidationError as exc:
        raise DataError(first_error(exc), path=source, record=i) from None
    for name in ("ts_utc", "time"):
        value = getattr(ev, name)
        if value is not None:
            _check_utc(value, source, i, name)
    return ev


def _check_utc(value: str, source: str, i: int, name: str) -> None:
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise DataError(f"'{value[:40]}' is not an ISO-8601 time", path=source, record=i, field=name) from None
    if dt.tzinfo is None:
        raise DataError(f"'{value}' has no time zone; expected UTC ('Z')", path=source, record=i, field=name)


def load_event_log(path: str | Path) -> list[RunEvent]:
    """Read a JSON-lines event log; blank lines are skipped; record indices count lines from 0."""
    p = Path(path)
    if not p.is_file():
        raise DataError("file does not exist; expected a JSON-lines event log", path=str(p))
    events = []
    for i, line in enumerate(read_text(p).splitlines()):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (RecursionError, ValueError) as exc:
            raise DataError(f"not valid JSON ({str(exc)[:60]})", path=str(p), record=i) from None
        events.append(_event(obj, str(p), i))
    return events
