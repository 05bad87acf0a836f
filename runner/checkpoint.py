"""On-disk checkpoint format: one directory per step, committed by ``manifest.json`` written last.

Layout of ``<root>/step_0000000042/``:
  ``tensors.safetensors``  every tensor (model, optimizer moments, RNG states), safetensors format;
  ``state.json``           everything else (step, config hash, data position, scheduler, param groups, RNG);
  ``manifest.json``        format, step, config hash, plan id, world size, XXH3-128 and size of every file.

Commit rule (after PyTorch DCP's ``finish()``): data files are written and fsynced first, the directory is
fsynced, then the manifest goes through temp file + fsync + rename + directory fsync. A step without a valid
manifest does not exist. Loading reads each file once, checks its checksum on those very bytes, and parses tensors
with safetensors and the rest with ``json``: nothing is ever unpickled.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from spotplan.errors import CheckpointError
from spotplan.runner.fsio import HASH_NAME, fsync_dir, read_hashed, write_atomic, write_buffers
from spotplan.runner.tensorfile import decode, encode

log = logging.getLogger("spotplan.runner")

FORMAT = "spotplan-checkpoint"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TENSORS = "tensors.safetensors"
STATE = "state.json"
DATA_FILES = (TENSORS, STATE)
_STEP_DIR = re.compile(r"^step_(\d{10})$")
@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A checkpoint in memory: CPU tensors plus JSON-able state, for one step of one configuration."""

    step: int
    config_hash: str
    plan_id: str
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitInfo:
    """What a committed save wrote."""

    step: int
    path: Path
    bytes: int
    persist_s: float


def step_dir(root: Path, step: int) -> Path:
    """Directory of ``step`` under ``root``."""
    return root / f"step_{step:010d}"


def list_step_dirs(root: Path) -> list[tuple[int, Path]]:
    """(step, directory) of every step directory under ``root``, newest first, committed or not."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return sorted(found, reverse=True)


def committed_steps(root: Path) -> list[int]:
    """Steps that carry a manifest (not yet verified), newest first."""
    return [s for s, p in list_step_dirs(root) if (p / MANIFEST).is_file()]


def remove_step(path: Path) -> None:
    """Delete a step directory, manifest first, so a crash mid-delete leaves an uncommitted step, never a torn one."""
    manifest = path / MANIFEST
    if manifest.exists():
        manifest.unlink()
        fsync_dir(path)
    shutil.rmtree(path, ignore_errors=True)


def write_checkpoint(root: Path, ckpt: Checkpoint) -> CommitInfo:
    """Write and commit ``ckpt`` as ``root/step_N`` (replacing any older copy of that step)."""
    t0 = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    d = step_dir(root, ckpt.step)
    if d.exists():
        remove_step(d)
    d.mkdir()
    state = dict(ckpt.state, step=ckpt.step, config_hash=ckpt.config_hash, plan_id=ckpt.plan_id)
    files: dict[str, dict[str, Any]] = {}
    digest, n = write_buffers(d / TENSORS, encode(ckpt.tensors))
    files[TENSORS] = {HASH_NAME: digest, "bytes": n}
    text = json.dumps(state, sort_keys=True).encode()
    digest, n = write_buffers(d / STATE, [text])
    files[STATE] = {HASH_NAME: digest, "bytes": n}
    fsync_dir(d)
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "step": ckpt.step, "config_hash": ckpt.config_hash,
        "plan_id": ckpt.plan_id, "world_size": 1, "created_utc_s": time.time(), "files": files,
    }
    write_atomic(d / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    fsync_dir(root)
    total = sum(int(f["bytes"]) for f in files.values())
    return CommitInfo(step=ckpt.step, path=d, bytes=total, persist_s=time.perf_counter() - t0)


def read_manifest(d: Path) -> dict[str, Any]:
    """Parse and check the manifest of step directory ``d``; CheckpointError names the problem."""
    try:
        manifest = json.loads((d / MANIFEST).read_bytes())
    except FileNotFoundError:
        raise CheckpointError(f"{d}: no {MANIFEST} (save never committed)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{d / MANIFEST}: not valid JSON ({exc})") from None
    ok = (
        isinstance(manifest, dict) and manifest.get("format") == FORMAT
        and manifest.get("format_version") == FORMAT_VERSION and isinstance(manifest.get("step"), int)
        and isinstance(manifest.get("files"), dict) and set(manifest["files"]) == set(DATA_FILES)
    )
    if not ok:
        raise CheckpointError(f"{d / MANIFEST}: not a {FORMAT} v{FORMAT_VERSION} manifest listing {DATA_FILES}")
    return manifest


def _read_verified(d: Path, name: str, entry: Any) -> bytearray:
    """Read ``d/name`` once and check its size and checksum against the manifest entry (on the bytes returned)."""
    try:
        data, digest = read_hashed(d / name)
    except OSError as exc:
        raise CheckpointError(f"{d / name}: cannot read ({exc.strerror})") from None
    if not isinstance(entry, dict) or len(data) != entry.get("bytes") or digest != entry.get(HASH_NAME):
        raise CheckpointError(f"{d / name}: size or checksum does not match {MANIFEST} (torn or corrupted file)")
    return data


def verify_step(d: Path) -> dict[str, Any]:
    """Check the manifest and every file's checksum of step directory ``d``; return the manifest."""
    manifest = read_manifest(d)
    for name in DATA_FILES:
        _read_verified(d, name, manifest["files"][name])
    return manifest


def load_checkpoint(d: Path) -> Checkpoint:
    """Verify and load step directory ``d`` (safetensors + JSON only; never unpickles)."""
    manifest = read_manifest(d)
    raw = _read_verified(d, TENSORS, manifest["files"][TENSORS])
    try:
        tensors = decode(raw)
    except CheckpointError as exc:
        raise CheckpointError(f"{d / TENSORS}: not a valid safetensors file ({exc}); refusing to load") from None
    try:
        state = json.loads(_read_verified(d, STATE, manifest["files"][STATE]))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{d / STATE}: not valid JSON ({exc})") from None
    if not isinstance(state, dict) or state.get("step") != manifest["step"]:
        raise CheckpointError(f"{d / STATE}: step does not match the manifest's step {manifest['step']}")
    return Checkpoint(
        step=manifest["step"], config_hash=str(manifest.get("config_hash")), plan_id=str(manifest.get("plan_id")),
        tensors=tensors, state=state,
    )


def iter_valid(root: Path, warn: Callable[[str], None] | None = None) -> Iterator[Checkpoint]:
    """Valid checkpoints under ``root``, newest first; invalid steps are skipped with a warning."""
    for step, d in list_step_dirs(root):
        try:
            yield load_checkpoint(d)
        except CheckpointError as exc:
            msg = f"skipping checkpoint step {step}: {exc}"
            log.warning(msg)
            if warn is not None:
                warn(msg)


def prune(root: Path, keep_last_k: int) -> list[int]:
    """Keep the newest ``keep_last_k`` committed steps; delete older ones and uncommitted leftovers below them."""
    committed = committed_steps(root)
    keep = set(committed[:keep_last_k])
    oldest_kept = min(keep) if keep else None
    removed = []
    for step, d in list_step_dirs(root):
        # uncommitted directories above the newest kept step may be a save in flight: leave them
        below = oldest_kept is not None and step < oldest_kept
        if step not in keep and (step in committed or below):
            remove_step(d)
            removed.append(step)
    return removed


def remove_uncommitted(root: Path) -> list[int]:
    """At start-up (no writer alive): delete step directories that never got a manifest."""
    torn = [(s, d) for s, d in list_step_dirs(root) if not (d / MANIFEST).is_file()]
    for _, d in torn:
        shutil.rmtree(d, ignore_errors=True)
    return [s for s, _ in torn]


def dir_bytes(d: Path) -> int:
    """Total size of the files in ``d``."""
    return sum(os.path.getsize(p) for p in d.iterdir() if p.is_file())
