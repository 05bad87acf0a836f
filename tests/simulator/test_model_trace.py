"""Replaying a Can't Be Late trace interrupts the job exactly at its 1->0 ticks (any offset, gang sizes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spotplan.simulator.market.series import AvailabilityTrace
from tests.support.sim import run, scenario, spot_pool, write_trace


def _interruptions(r) -> list[float]:
    return [b.end_s for b in r.bills if b.interrupted]


@pytest.mark.parametrize("offset_s", [0.0, 1234.0])
def test_interruptions_at_down_ticks(tmp_path: Path, offset_s: float) -> None:
    """Every 1->0 tick inside the run is an interruption at tick*gap - offset, and there are no others."""
    rng = np.random.default_rng(4)
    values = [1] + [int(x) for x in (rng.random(400) < 0.85)]
    path = write_trace(tmp_path, "z", values, 300.0)
    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": path})], work_h=20.0,
                   interval_s=1800.0, save_s=5.0)
    doc["changeover"]["retry_gap_s"] = 60.0
    r = run(doc, offset_s=offset_s)
    trace = AvailabilityTrace(gap_s=300.0, values=np.array(values))
    ticks = trace.interruption_ticks() * 300.0
    # The trace starts up, so the wrap seam adds no interruption; later cycles repeat the ticks.
    expected = [float(t + k * trace.duration_s - offset_s) for k in range(4) for t in ticks
                if 0 < t + k * trace.duration_s - offset_s < r.makespan_s]
    assert r.makespan_s > trace.duration_s  # the run wraps at least once
    assert len(expected) > 10
    assert _interruptions(r) == pytest.approx(expected)
    assert r.interruptions == len(expected)


def test_gang_needs_all_nodes(tmp_path: Path) -> None:
    """A 4-node gang is interrupted when the count drops below 4, not only when it reaches 0."""
    values = [4, 4, 3, 4, 4, 0, 4, 4] + [4] * 60
    path = write_trace(tmp_path, "g", values, 600.0)
    pool = spot_pool("us-east-1f", "us-east-1", {"kind": "trace", "path": path})
    doc = scenario([pool], work_h=4.0, interval_s=1200.0, save_s=5.0)
    doc["job"]["nodes"] = 4
    r = run(doc)
    assert _interruptions(r) == [1200.0, 3000.0]
    assert all(b.nodes == 4 for b in r.bills)


def test_wrap_seam_is_not_an_interruption(tmp_path: Path) -> None:
    """A trace that ends up and starts up joins across the wrap without interrupting."""
    values = [1, 1, 0, 1, 1, 1]
    path = write_trace(tmp_path, "w", values, 600.0)
    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": path})], work_h=3.0,
                   interval_s=600.0, save_s=1.0)
    r = run(doc, offset_s=1800.0)  # starts at tick 3: up to the end, wraps to ticks 0-1, down at tick 2
    got = _interruptions(r)
    assert got == [3000.0 + 3600.0 * k for k in range(len(got))]  # only tick 2 of each cycle; never the seam
    assert len(got) >= 2


def test_clamp_holds_last_state(tmp_path: Path) -> None:
    """With end_policy clamp the last tick's state holds: a trace ending up never interrupts again."""
    values = [1, 0, 1, 1]
    path = write_trace(tmp_path, "c", values, 600.0)
    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": path})], work_h=3.0,
                   interval_s=600.0, save_s=1.0, replay={"start_offset_h": 0.0, "end_policy": "clamp"})
    r = run(doc)
    assert _interruptions(r) == [600.0]
    assert r.finished
