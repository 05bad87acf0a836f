"""CUDA path: pinned-memory snapshot, checkpoint round trip and resume on the GPU (skipped without CUDA)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spotplan.runner import checkpoint as ck
from spotplan.runner.corpus import DataPosition
from spotplan.runner.job import build_job, resolve_device
from spotplan.runner.loop import RunOptions, run
from spotplan.runner.snapshot import SnapshotBuffers
from spotplan.runner.state import capture, restore
from tests.support.runner import make_plan

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")]


def test_snapshot_uses_pinned_memory_and_round_trips(tmp_path: Path) -> None:
    """CUDA tensors are copied into page-locked CPU buffers; the saved state restores equal on the GPU."""
    job = build_job(make_plan(), model_size="tiny", device=resolve_device("cuda"), seed=0, corpus_bytes=1 << 20)
    tensors, state = capture(job.train, position=DataPosition())
    cpu = SnapshotBuffers().copy(tensors)
    assert all(t.is_pinned() for n, t in cpu.items() if tensors[n].is_cuda)
    assert any(n.startswith("rng/cuda/") for n in cpu)
    d = ck.write_checkpoint(tmp_path, ck.Checkpoint(step=1, config_hash="h", plan_id="p", tensors=cpu,
                                                   state=state)).path
    fresh = build_job(make_plan(), model_size="tiny", device=resolve_device("cuda"), seed=1, corpus_bytes=1 << 20)
    restore(fresh.train, ck.load_checkpoint(d))
    for a, b in zip(job.model.parameters(), fresh.model.parameters(), strict=True):
        assert b.is_cuda and torch.equal(a, b)


def test_run_and_resume_on_cuda(tmp_path: Path) -> None:
    """``spotplan run --device cuda`` trains, checkpoints and resumes from its own checkpoint."""
    plan = make_plan()
    first = run(RunOptions(plan=plan, checkpoint_dir=tmp_path, device="cuda", model_size="tiny", max_steps=20,
                           imds=False))
    assert first.exit_code == 0 and first.device != "cpu"
    second = run(RunOptions(plan=plan, checkpoint_dir=tmp_path, device="cuda", model_size="tiny", max_steps=30,
                            imds=False))
    assert second.restored_from == "local" and second.start_step == 20 and second.end_step == 30
