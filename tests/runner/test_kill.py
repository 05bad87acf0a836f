"""kill -9 inside every window of a save never leads to loading a torn checkpoint (slow: 20 trials).

Each trial pauses the runner at a chosen point of the commit protocol (``tests.support.pause_runner``: after the
tensors file, after the state file, just before the manifest, just after it, in the middle of pruning an old
step), kills it there, and checks what is on disk; the next trial resumes from the newest committed step. The
points cycle, the save that pauses is drawn from a seeded generator, and async and sync saves alternate, so every
window is hit every run and nothing depends on timing.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spotplan.errors import CheckpointError
from spotplan.runner import checkpoint as ck
from tests.support.runner import read_log, runner_cmd, runner_env, wait_for, write_plan

TRIALS = 20
POINTS = ("tensors", "state", "manifest", "committed", "prune")
TORN = {"tensors", "state", "manifest"}  # the paused step has data files but no manifest


def _paused_cmd(point: str, n: int, marker: Path, plan: Path, root: Path, *extra: str) -> list[str]:
    run = runner_cmd(plan, root, "--max-steps", "1000000", "--no-imds", *extra)
    return [sys.executable, "-m", "tests.support.pause_runner", point, str(n), str(marker), "--", *run[3:]]


@pytest.mark.slow
def test_kill_9_in_every_save_window_never_loads_a_torn_checkpoint(tmp_path: Path) -> None:
    """Each trial resumes from the newest committed step of the previous kill; every committed step verifies."""
    plan = write_plan(tmp_path / "plan.yaml", checkpoint_interval_steps=1, keep_last_k=2)
    root, log = tmp_path / "ck", tmp_path / "ck" / "run_log.jsonl"
    rng = np.random.default_rng(20261124)
    expected_resume: int | None = None
    for trial in range(TRIALS):
        point = POINTS[trial % len(POINTS)]
        # the n-th save (n >= 2: an earlier one committed) or the n-th removal (keep_last_k=2 is exceeded at once)
        n = int(rng.integers(2, 5))
        marker = tmp_path / f"paused-{trial}"
        extra = ["--sync-save"] if (trial // len(POINTS)) % 2 else []
        before = len(read_log(log))
        proc = subprocess.Popen(_paused_cmd(point, n, marker, plan, root, *extra), env=runner_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(marker.exists, 120, f"the runner to pause at {point} #{n}", proc)
            dirs_at_kill = {s: (d / ck.MANIFEST).is_file() for s, d in ck.list_step_dirs(root)}
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, (trial, point, proc.returncode)
        new = read_log(log)[before:]
        restores = [e for e in new if e["event"] == "restore" and e.get("ok")]
        if expected_resume is None:
            assert not restores, "first trial starts fresh"
        else:
            assert restores and restores[0]["step"] == expected_resume, (trial, point, restores)
        uncommitted = [s for s, has_manifest in dirs_at_kill.items() if not has_manifest]
        if point in TORN or point == "prune":
            assert uncommitted, f"trial {trial}: the kill at {point} left no step without a manifest"
        committed = ck.committed_steps(root)
        for step in committed:  # a step with a manifest is never torn
            try:
                ck.verify_step(ck.step_dir(root, step))
            except CheckpointError as exc:
                pytest.fail(f"trial {trial} ({point}): committed step {step} does not verify: {exc}")
        assert committed, f"trial {trial}: no committed checkpoint"
        if point in TORN:
            assert max(uncommitted) > committed[0], "the torn step is newer than every committed one"
        expected_resume = committed[0]
