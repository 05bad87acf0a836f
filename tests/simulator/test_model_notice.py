"""Notices: an emergency save that fits the notice becomes the recovery point; one that does not is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.sim import run, scenario, spot_pool, write_trace

# Up for ticks 0..5 (gap 600 s), down at 3600 s, back at 4200 s.
VALUES = [1] * 6 + [0] + [1] * 100


def _doc(tmp_path: Path, *, persist_s: float, emergency: bool = True, step_time_s: float | None = None) -> dict:
    trace = write_trace(tmp_path, "a", VALUES, 600.0)
    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": trace})], work_h=2.0,
                   save_s=10.0, persist_s=persist_s, notice_s=120.0, emergency=emergency, lag_s=5.0)
    if step_time_s is not None:
        doc["job"] = {"steps": int(7200 / step_time_s), "step_time_s": step_time_s}
        doc["checkpoint"]["interval"] = {"policy": "steps", "every_steps": 10_000}
    return doc


def test_emergency_save_that_fits(tmp_path: Path) -> None:
    """Notice at 3480 s, seen at 3485 s; 10 s snapshot + 20 s persist end at 3515 s < 3600 s: nothing is lost."""
    r = run(_doc(tmp_path, persist_s=20.0))
    assert r.interruptions == 1 and r.emergency_saves == 1 and r.emergency_save_failures == 0
    assert r.lost_work_s == 0.0
    # Restart when capacity returns at 4200 s; 7200 - 3485 s of work left, then the final 10 + 20 s save.
    assert r.makespan_s == pytest.approx(4200 + (7200 - 3485) + 30)
    assert r.time_by_bucket_s["lost_work"] == pytest.approx(3600 - 3515)  # idle until termination


def test_emergency_save_that_does_not_fit(tmp_path: Path) -> None:
    """A 150 s persist would end at 3645 s, after termination: the save fails and 3485 s of work are lost."""
    r = run(_doc(tmp_path, persist_s=150.0))
    assert r.emergency_saves == 0 and r.emergency_save_failures == 1
    assert r.lost_work_s == pytest.approx(3485.0)
    assert r.makespan_s == pytest.approx(4200 + 7200 + 160)


def test_no_emergency_save_loses_everything_to_termination(tmp_path: Path) -> None:
    """Without an emergency save the job computes until the 3600 s termination and loses it all."""
    r = run(_doc(tmp_path, persist_s=20.0, emergency=False))
    assert r.emergency_saves == 0 and r.emergency_save_failures == 0
    assert r.lost_work_s == pytest.approx(3600.0)
    assert r.makespan_s == pytest.approx(4200 + 7200 + 30)


def test_emergency_save_waits_for_step_boundary(tmp_path: Path) -> None:
    """With 100 s steps the save starts at the step boundary after the 3485 s detection: 3500 s."""
    r = run(_doc(tmp_path, persist_s=20.0, step_time_s=100.0))
    assert r.emergency_saves == 1
    assert r.makespan_s == pytest.approx(4200 + (7200 - 3500) + 30)


def test_notice_during_final_persist_finishes_the_job(tmp_path: Path) -> None:
    """A notice while the final checkpoint persists: once it is persisted the job is done, with no relaunch."""
    trace = write_trace(tmp_path, "f", [1] * 6 + [0] + [1] * 100, 600.0)  # termination at 3600 s, notice 3480 s
    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": trace})], work_h=3460 / 3600,
                   save_s=10.0, persist_s=100.0, notice_s=120.0, emergency=True, lag_s=5.0)
    r = run(doc)  # work done at 3460 s, snapshot to 3470 s, persist to 3570 s < 3600 s
    assert r.makespan_s == pytest.approx(3570.0)
    assert len(r.bills) == 1 and r.lost_work_s == 0.0
    assert r.bills[0].end_s == pytest.approx(3570.0) and not r.bills[0].interrupted
