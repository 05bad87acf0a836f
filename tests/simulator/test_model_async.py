"""Asynchronous saves: the blocking part stalls training, and only a finished persist is a recovery point."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.sim import run, scenario, spot_pool, write_trace


def _killed_at_1200(tmp_path: Path, persist_s: float, **kw) -> dict:
    trace = write_trace(tmp_path, "a", [1] * 12 + [0] + [1] * 400, 100.0)  # down at 1200 s, back at 1300 s
    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": trace})], work_h=1.0,
                   interval_s=1000.0, save_s=10.0, persist_s=persist_s, **kw)
    doc["changeover"]["retry_gap_s"] = 100.0  # relaunch exactly when capacity returns
    return doc


def test_unfinished_persist_is_not_a_recovery_point(tmp_path: Path) -> None:
    """Snapshot at 1000-1010 s, persist to 1310 s, kill at 1200 s: back to zero, 1190 s of work lost."""
    r = run(_killed_at_1200(tmp_path, persist_s=300.0))
    assert r.lost_work_s == pytest.approx(1190.0)
    # From scratch at 1300 s: saves at 1000, 2000, 3000 s of progress and the final one, whose persist is awaited.
    assert r.makespan_s == pytest.approx(1300 + 3600 + 4 * 10 + 300)


def test_finished_persist_is_a_recovery_point(tmp_path: Path) -> None:
    """With a 100 s persist (done at 1110 s) the kill at 1200 s loses only the 190 s after the snapshot."""
    r = run(_killed_at_1200(tmp_path, persist_s=100.0))
    assert r.lost_work_s == pytest.approx(190.0)
    # Resume at 1300 s from 1000 s of progress: 2600 s of work, saves at 2000 s, 3000 s and the final one.
    assert r.makespan_s == pytest.approx(1300 + 2600 + 3 * 10 + 100)
    assert r.checkpoints == 4  # 1000 s (before the kill), 2000 s, 3000 s, final


def test_one_save_in_flight(tmp_path: Path) -> None:
    """A save due while the previous persist runs stalls until it finishes (counted as checkpoint stall)."""
    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "always"})], work_h=0.25, interval_s=300.0,
                   save_s=10.0, persist_s=400.0)
    r = run(doc)
    # Snapshot 300-310 s, persist to 710 s; the save due at 610 s waits 100 s, snapshots 710-720 s, persists to
    # 1120 s; the final save due at 1020 s waits 100 s, snapshots to 1130 s and its 400 s persist is awaited.
    stall = r.time_by_bucket_s["checkpoint_stall"]
    assert r.makespan_s == pytest.approx(900 + stall)
    assert stall == pytest.approx(3 * 10 + 2 * 100 + 400)
    assert r.checkpoints == 3
