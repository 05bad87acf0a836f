"""kill -9 at random moments during saves never leads to loading a torn checkpoint (slow: 20+ trials)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from spotplan.runner import checkpoint as ck

from spotplan.errors import CheckpointError
from tests.support.runner import read_log, runner_cmd, runner_env, wait_for, write_plan

TRIALS = 20


@pytest.mark.slow
def test_kill_9_during_saves_never_loads_a_torn_checkpoint(tmp_path: Path) -> None:
    """Each trial resumes from the newest committed step of the previous kill; every committed step verifies."""
    plan = write_plan(tmp_path / "plan.yaml", checkpoint_interval_steps=1, keep_last_k=2)
    root, log = tmp_path / "ck", tmp_path / "ck" / "run_log.jsonl"
    rng = np.random.default_rng(20261124)
    expected_resume: int | None = None
    torn_seen = 0
    for trial in range(TRIALS):
        before = len(read_log(log))
        extra = ["--sync-save"] if trial % 2 else []
        proc = subprocess.Popen(runner_cmd(plan, root, "--max-steps", "1000000", "--no-imds", *extra),
                                env=runner_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wait_for(lambda b=before: any(e["event"] == "save" for e in read_log(log)[b:]), 60, "a save", proc)
        time.sleep(float(rng.uniform(0.0, 0.25)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        new = read_log(log)[before:]
        restores = [e for e in new if e["event"] == "restore" and e.get("ok")]
        if expected_resume is None:
            assert not restores, "first trial starts fresh"
        else:
            assert restores and restores[0]["step"] == expected_resume, (trial, restores)
        dirs = ck.list_step_dirs(root)
        torn_seen += any(not (d / ck.MANIFEST).is_file() for _, d in dirs)
        committed = ck.committed_steps(root)
        for step in committed:  # a step with a manifest is never torn
            try:
                ck.verify_step(ck.step_dir(root, step))
            except CheckpointError as exc:
                pytest.fail(f"trial {trial}: committed step {step} does not verify: {exc}")
        assert committed, f"trial {trial}: no committed checkpoint"
        expected_resume = committed[0]
    # the kills really did land inside saves: some left a step directory without its manifest
    assert torn_seen >= 1, "no kill landed between a save's first write and its manifest"
