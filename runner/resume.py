"""Which checkpoint a run resumes from: the newest step that verifies, fits this job and restores.

Rules, newest step first (local, then the remote mirror when there is no valid local step):
- a step that fails anything (files, checksums, parsing, validation, the restore itself) is skipped with one
  warning naming the file and field, and the previous step is tried;
- the newest valid step of *another configuration* stops the run (``ForeignCheckpointError``): resuming it, or
  an older step behind it, would mix two runs. The message shows every setting that differs, in full;
- committed steps exist but none is valid: the run stops (``CheckpointError``) rather than start from scratch
  next to them, since the next prune would delete what a person may still want to recover;
- no committed step at all: a fresh start (None).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spotplan.errors import CheckpointError
from spotplan.runner import validate
from spotplan.runner.checkpoint import (
    Checkpoint,
    ForeignCheckpointError,
    iter_valid,
    load_checkpoint,
    step_dir,
)
from spotplan.runner.corpus import DataPosition
from spotplan.runner.job import Job
from spotplan.runner.state import local_bytes, restore
from spotplan.runner.storage import Storage, restore_from_remote


@dataclass(frozen=True, slots=True, kw_only=True)
class Resumed:
    """The restored step, where the data continues, and where the checkpoint came from."""

    step: int
    position: DataPosition
    source: str
    bytes: int


def _flatten(doc: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(doc, dict) and doc:
        out: dict[str, Any] = {}
        for k, v in doc.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix or "<config>": doc}


def config_difference(theirs: dict[str, Any], ours: dict[str, Any]) -> str:
    """Every setting that differs, as ``key: checkpoint X, this run Y`` (in full, sorted by key)."""
    a, b = _flatten(theirs), _flatten(ours)
    parts = [f"{k}: checkpoint {json.dumps(a.get(k, '<absent>'))}, this run {json.dumps(b.get(k, '<absent>'))}"
             for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]
    return "; ".join(parts) or "settings equal, hashes differ"


def _foreign(root: Path, ckpt: Checkpoint, job: Job) -> ForeignCheckpointError:
    return ForeignCheckpointError(
        f"{root}: newest valid checkpoint (step {ckpt.step}) was made by another configuration "
        f"(config hash {ckpt.config_hash}, this run {job.config_hash}; {config_difference(ckpt.config, job.config)})"
        "; use another --checkpoint-dir or the same settings"
    )


def _expectation(job: Job) -> validate.Expectation:
    return validate.expectation(job.train, n_windows=job.corpus.n_windows, total_steps=job.total_steps)


def _check(job: Job, root: Path, ckpt: Checkpoint, exp: validate.Expectation, check_finite: bool) -> None:
    """Raise unless ``ckpt`` is of this configuration (ForeignCheckpointError) and fits the live job."""
    if ckpt.config_hash != job.config_hash:
        raise _foreign(root, ckpt, job)
    try:
        validate.check(ckpt, exp, check_finite=check_finite)
    except CheckpointError as exc:
        raise CheckpointError(f"{step_dir(root, ckpt.step)}: {exc}") from None


def _layout(job: Job) -> Any:
    """The live shards' layout for an FSDP job (each rank then reads only its slices), else None."""
    if not any(type(p).__name__ == "DTensor" for p in job.train.model.parameters()):
        return None
    from spotplan.runner.fsdp import layout  # torch.distributed.fsdp only for a sharded job

    return layout(job.train)


def _restored(job: Job, ckpt: Checkpoint, source: str) -> Resumed:
    position = restore(job.train, ckpt)
    n_bytes = sum(local_bytes(t) for t in ckpt.tensors.values())
    return Resumed(step=ckpt.step, position=position, source=source, bytes=n_bytes)


def resume(job: Job, root: Path, storage: Storage | None, warn: Callable[[str], None], *,
           check_finite: bool = True) -> Resumed | None:
    """Restore the newest usable checkpoint into ``job`` (see the module's rules); None for a fresh start."""
    exp = _expectation(job)
    refused: list[str] = []

    def note(msg: str) -> None:
        refused.append(msg)
        warn(msg)

    def fits(ckpt: Checkpoint) -> None:
        _check(job, root, ckpt, exp, check_finite)

    layout = _layout(job)

    def first_restored(source: str) -> Resumed | None:
        for ckpt in iter_valid(root, note, layout=layout):
            try:
                fits(ckpt)
                return _restored(job, ckpt, source)
            except ForeignCheckpointError:
                raise
            except Exception as exc:  # noqa: BLE001 - a step that does not fit or restore: try the previous one
                note(f"skipping checkpoint step {ckpt.step}: {exc}")
        return None

    found = first_restored("local")
    if found is None and storage is not None and restore_from_remote(storage, root, note, check=fits, layout=layout) is not None:
        found = first_restored("s3")
    if found is None and refused:
        raise CheckpointError(
            f"{root}: no valid checkpoint to resume ({len(refused)} refused; newest: {refused[0]}); "
            "move the step directories away to start afresh, or fix them"
        )
    return found


def restore_step(job: Job, root: Path, step: int, *, source: str, check_finite: bool = True) -> Resumed:
    """Load, check and restore exactly ``step`` (the step rank 0 chose, on the other ranks of a distributed run)."""
    ckpt = load_checkpoint(step_dir(root, step), layout=_layout(job))
    _check(job, root, ckpt, _expectation(job), check_finite)
    return _restored(job, ckpt, source)
