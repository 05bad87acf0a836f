"""Can't Be Late traces (every file), multi-node capacity, prices, and JSON-lines event logs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spotplan.errors import DataError
from spotplan.schemas.events import EventKind
from spotplan.simulator.market.traces import (
    load_availability_trace,
    load_availability_traces,
    load_event_log,
    trace_info,
)


def test_all_cant_be_late_traces_load(shared_data) -> None:
    """All 34 Can't Be Late files and the 6 SpotHedge files load with positive gaps and sane values."""
    cbl = load_availability_traces(shared_data / "cant_be_late_spot_traces")
    assert len(cbl) == 34
    hedge = load_availability_traces(shared_data / "spothedge_gcp_a100_traces")
    assert len(hedge) == 6 and all(t.gap_s == 150 for t in hedge)
    for t in cbl:
        assert t.gap_s > 0 and t.values.min() >= 0 and t.values.max() <= t.capacity
    priced = [t for t in cbl if t.prices_usd_per_h is not None]
    assert len(priced) == 6  # 3 of 4 p3.2xlarge (04-22) + 3 r5.16xlarge (04-19)


def test_two_month_trace_semantics(shared_data) -> None:
    """us-east-1a (2023-02-15): 20158 ticks of 195 s, 1 = available; mean availability ~17%."""
    t = load_availability_trace(shared_data / "cant_be_late_spot_traces/availability/1-node/aws-02-15-2023/"
                                "us-east-1a_v100_1.json")
    assert (t.gap_s, t.values.size, t.capacity) == (195.0, 20158, 1)
    assert t.instance_type == "p3.2xlarge" and t.zone == "us-east-1a"
    assert 0.15 < t.values.mean() < 0.19
    up, down = t.run_lengths_s()
    assert up.size > 100 and down.size > 100


def test_multi_node_capacity(shared_data) -> None:
    """16-node and 4-node files get capacity from their folder; gang need reduces up-time."""
    t = load_availability_trace(shared_data / "cant_be_late_spot_traces/availability/16-node/aws-08-27-2023/"
                                "us-west-2a_v100_1.json")
    assert t.capacity == 16 and t.values.max() == 16
    assert t.up(16).mean() < t.up(1).mean()
    info = trace_info("preemption/4-node/aws-08-03-2023/us-east-1f_v100_1.json")
    assert (info.nodes, info.kind, info.cloud, info.zone) == (4, "preemption", "aws", "us-east-1f")


def test_prices_array(tmp_path) -> None:
    """The optional prices array is read and must match data in length."""
    p = tmp_path / "us-east-1c_v100_1.json"
    p.write_text(json.dumps({"metadata": {"gap_seconds": 32}, "data": [1, 1, 0], "prices": [0.918, 0.918, 0.93]}))
    t = load_availability_trace(p)
    assert np.allclose(t.prices_usd_per_h, [0.918, 0.918, 0.93])
    p.write_text(json.dumps({"metadata": {"gap_seconds": 32}, "data": [1, 1, 0], "prices": [0.9]}))
    with pytest.raises(DataError, match="prices"):
        load_availability_trace(p)


@pytest.mark.parametrize("doc,needle", [
    ({"metadata": {"gap_seconds": 0}, "data": [1]}, "gap_seconds"),
    ({"metadata": {}, "data": [1]}, "gap_seconds"),
    ({"metadata": {"gap_seconds": 30}, "data": []}, "'data'"),
    ({"metadata": {"gap_seconds": 30}, "data": [1, -1]}, "record 1"),
    ({"metadata": {"gap_seconds": 30}, "data": [1, "x"]}, "record 1"),
    ({"metadata": {"gap_seconds": 30}, "data": [1, 0.5]}, "integer"),
    ([1, 2], "top level"),
])
def test_bad_traces(tmp_path, doc, needle) -> None:
    """Malformed traces raise DataError naming the file and the field or record."""
    p = tmp_path / "t.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=needle) as exc:
        load_availability_trace(p)
    assert str(p) in str(exc.value)


def test_event_log(tmp_path) -> None:
    """RunEvent lines and bare IMDS instance-action lines load; a zone-less time is rejected with its line."""
    p = tmp_path / "events.jsonl"
    lines = [
        {"event": "start", "ts_utc": "2026-01-01T00:00:00Z", "instance_type": "p3.2xlarge", "zone": "us-east-1a"},
        {"action": "terminate", "time": "2026-01-01T01:00:00Z", "instance_type": "p3.2xlarge", "zone": "us-east-1a"},
        {"event": "save", "ts_utc": "2026-01-01T01:00:30Z", "step": 10, "kind": "emergency", "blocking_s": 4.5},
    ]
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    ev = load_event_log(p)
    assert [e.event for e in ev] == [EventKind.START, EventKind.NOTICE, EventKind.SAVE]
    assert ev[1].action == "terminate" and ev[1].source == "imds"
    p.write_text(json.dumps(lines[0]) + "\n" + json.dumps({"event": "start", "ts_utc": "2026-01-01T00:00:00"}))
    with pytest.raises(DataError, match="record 1.*ts_utc.*no time zone"):
        load_event_log(p)
    p.write_text('{"event": "bogus", "ts_utc": "2026-01-01T00:00:00Z"}')
    with pytest.raises(DataError, match="record 0.*event"):
        load_event_log(p)


def test_two_month_trace_matches_timestamped_copy(shared_data) -> None:
    """The 9 Can't Be Late 2023-02-15 traces equal SkyNomad's timestamped CSVs tick for tick (1 = available)."""
    import csv

    folder = shared_data / "cant_be_late_spot_traces/availability/1-node/aws-02-15-2023"
    for p in sorted(folder.glob("*.json")):
        t = load_availability_trace(p)
        rows = list(csv.DictReader((shared_data / "skynomad/aws_v100_availability_2023-02-15" / f"{p.stem}.csv").open()))
        assert np.array_equal(t.values, np.array([int(r["availability"]) for r in rows])), p.name
