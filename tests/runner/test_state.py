"""Training state capture/restore: RNG states, optimizer LR and data position survive a checkpoint round trip."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from spotplan.runner import checkpoint as ck
from spotplan.runner.corpus import Corpus, DataPosition, load_stdlib_bytes
from spotplan.runner.job import build_job, resolve_device
from spotplan.runner.state import capture, restore
from tests.support.runner import make_plan


def _job():
    return build_job(make_plan(), model_size="tiny", device=resolve_device("cpu"), seed=3, corpus_bytes=1 << 20)


def test_rng_states_round_trip(tmp_path: Path) -> None:
    """Python, numpy and torch global RNGs draw the same numbers after restore as right after the save."""
    job = _job()  # the draws below are compared with themselves: whatever state the globals start in
    tensors, state = capture(job.train, position=DataPosition(epoch=1, index=5))
    d = ck.write_checkpoint(tmp_path, ck.Checkpoint(step=1, config_hash="h", plan_id="p", tensors=tensors,
                                                   state=state)).path
    expected = (random.random(), np.random.random(), torch.rand(3))
    random.random(), np.random.random(), torch.rand(5)  # move every generator on
    pos = restore(job.train, ck.load_checkpoint(d))
    got = (random.random(), np.random.random(), torch.rand(3))
    assert pos == DataPosition(epoch=1, index=5)
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_lr_comes_from_the_restored_optimizer(tmp_path: Path) -> None:
    """After restore the LR and scheduler counters equal the saved ones; nothing rescales them afterwards."""
    job = _job()
    x, y, _ = job.corpus.batch(DataPosition(), job.cfg.batch_size)
    for _ in range(7):
        job.model.loss(x, y).backward()
        job.train.optimizer.step()
        job.train.scheduler.step()
    lr_saved = job.train.optimizer.param_groups[0]["lr"]
    tensors, state = capture(job.train, position=DataPosition())
    d = ck.write_checkpoint(tmp_path, ck.Checkpoint(step=7, config_hash="h", plan_id="p", tensors=tensors,
                                                   state=state)).path
    fresh = _job()
    restore(fresh.train, ck.load_checkpoint(d))
    assert fresh.train.optimizer.param_groups[0]["lr"] == lr_saved
    assert fresh.train.scheduler.last_epoch == 7
    fresh.train.scheduler.step()
    job.train.scheduler.step()
    assert fresh.train.optimizer.param_groups[0]["lr"] == job.train.optimizer.param_groups[0]["lr"]


def test_corpus_position_resumes_the_same_batches() -> None:
    """Batches drawn after resuming at a position equal those an uninterrupted reader sees, across epochs."""
    corpus = Corpus(data=load_stdlib_bytes(4096), seq_len=16, seed=1)
    pos, seen = DataPosition(), []
    for _ in range(40):  # more than one epoch of 254 windows at batch 7
        x, _, pos = corpus.batch(pos, 7)
        seen.append(x)
    again = Corpus(data=load_stdlib_bytes(4096), seq_len=16, seed=1)
    pos2 = DataPosition()
    for _ in range(25):
        _, _, pos2 = again.batch(pos2, 7)
    assert pos2.epoch == 0 and pos2.index == 175
    tail = [again.batch(pos2, 7)[0] for _ in range(1)]
    assert torch.equal(tail[0], seen[25])
    assert pos.epoch >= 1
