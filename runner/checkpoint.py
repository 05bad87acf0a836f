"""On-disk checkpoint format: one directory per step, committed by ``manifest.json`` written last.

Layout of ``<root>/step_0000000042/``:
  ``tensors.safetensors``  every tensor (model, optimizer moments, RNG states), safetensors format;
  ``state.json``           everything else (step, config hash, data position, scheduler, param groups, RNG);
  ``manifest.json``        format, step, config hash and settings, plan id, world size, XXH3-128 and size of
                           every file, and its own checksum.

Commit rule (after PyTorch DCP's ``finish()``): data files are written and fsynced first, the directory is
fsynced, then the manifest goes through temp file + fsync + rename + directory fsync. A step without a valid
manifest does not exist. Nothing in the files depends on the clock or the process, so two runs of the same plan
write byte-identical step directories.

A checkpoint directory is untrusted input. Loading opens every file by name inside the step directory without
following symlinks, refuses anything but a regular file of the size its manifest states, bounds every parser,
checks each checksum on the very bytes it parses, and never unpickles. The directory name, the manifest and
``state.json`` must agree on the step. Deleting (prune, start-up clean-up) acts only on real step directories
inside the root, never through a symlink. Any failure of one step is a ``CheckpointError`` naming the file and
what was expected, so the caller falls back to the previous step.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from spotplan.errors import CheckpointError
from spotplan.runner.fsio import (
    HASH_NAME,
    digest_of,
    fsync_dir,
    hash_regular,
    is_real_dir,
    is_regular_file,
    loads_bounded,
    open_dir_nofollow,
    read_regular,
    write_atomic,
    write_buffers,
)
from spotplan.runner.tensorfile import decode, encode

log = logging.getLogger("spotplan.runner")

FORMAT = "spotplan-checkpoint"
FORMAT_VERSION = 2  # 2: the manifest checksums itself and carries the configuration's settings
MANIFEST = "manifest.json"
MANIFEST_HASH = "manifest_xxh3_128"  # checksum of the manifest's canonical JSON without this field
TENSORS = "tensors.safetensors"
STATE = "state.json"
DATA_FILES = (TENSORS, STATE)
MAX_MANIFEST_BYTES = 1 << 20
MAX_STATE_BYTES = 256 << 20  # param groups and scheduler counters: kilobytes even for 70B models
_STEP_DIR = re.compile(r"^step_(\d{10})$")
SAFETENSORS, DCP = "safetensors", "dcp"  # one safetensors file of the whole state; or DCP shards, one per rank
LAYOUTS = (SAFETENSORS, DCP)
DCP_METADATA = ".metadata"
DCP_SHARD = re.compile(r"^__(\d{1,6})_(\d{1,6})\.distcp$")
MAX_FILES = 1 << 14


class ForeignCheckpointError(CheckpointError):
    """A valid checkpoint of another configuration: resuming it would mix two runs."""


def _physical_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """A checkpoint in memory: CPU tensors plus JSON-able state, for one step of one configuration."""

    step: int
    config_hash: str
    plan_id: str
    tensors: dict[str, torch.Tensor]
    state: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)  # the settings ``config_hash`` is the sha256 of
    world_size: int = 1  # processes that trained it (the state is whole: it loads at any world size)


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


def step_entries(root: Path) -> list[tuple[int, Path]]:
    """(step, path) of every name under ``root`` that looks like a step directory, newest first, whatever it is."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_DIR.match(p.name))]
    return sorted(found, reverse=True)


def list_step_dirs(root: Path) -> list[tuple[int, Path]]:
    """(step, directory) of every real step directory under ``root`` (symlinks excluded), newest first."""
    return [(s, p) for s, p in step_entries(root) if is_real_dir(p)]


def committed_steps(root: Path) -> list[int]:
    """Steps that carry a manifest (not yet verified), newest first."""
    return [s for s, p in list_step_dirs(root) if is_regular_file(p / MANIFEST)]


def remove_step(path: Path) -> None:
    """Delete a step directory, manifest first, so a crash mid-delete leaves an uncommitted step, never a torn one.

    Only a real directory is deleted: for a symlink nothing outside the root is touched (the link is left for the
    user to look at; loading refuses it). ``shutil.rmtree`` walks by descriptor and never follows links inside.
    """
    if not is_real_dir(path):
        return
    fd = open_dir_nofollow(path)
    try:
        try:
            os.unlink(MANIFEST, dir_fd=fd)  # removes a planted link itself, never its target
            os.fsync(fd)
        except OSError:
            pass  # no manifest, or not a file (a directory planted there): the step is not committed anyway
    finally:
        os.close(fd)
    shutil.rmtree(path, ignore_errors=True)


def manifest_digest(manifest: dict[str, Any]) -> str:
    """Checksum of a manifest's canonical JSON without its own checksum field (what ``MANIFEST_HASH`` holds)."""
    body = {k: v for k, v in manifest.items() if k != MANIFEST_HASH}
    return digest_of(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def write_checkpoint(root: Path, ckpt: Checkpoint) -> CommitInfo:
    """Write and commit ``ckpt`` as ``root/step_N`` (replacing any older copy of that step)."""
    t0 = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    d = step_dir(root, ckpt.step)
    if d.is_symlink() or is_regular_file(d):
        d.unlink()  # a name in the root that is not ours to follow: the entry itself goes, its target stays
    elif d.exists():
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
    return _commit(root, d, ckpt, files, SAFETENSORS, t0)


def _commit(root: Path, d: Path, ckpt: Checkpoint, files: dict[str, dict[str, Any]], layout: str,
            t0: float) -> CommitInfo:
    manifest: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "step": ckpt.step, "config_hash": ckpt.config_hash,
        "config": ckpt.config, "plan_id": ckpt.plan_id, "world_size": ckpt.world_size, "layout": layout,
        "files": files,
    }
    manifest[MANIFEST_HASH] = manifest_digest(manifest)
    write_atomic(d / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
    fsync_dir(root)
    total = sum(int(f["bytes"]) for f in files.values())
    return CommitInfo(step=ckpt.step, path=d, bytes=total, persist_s=time.perf_counter() - t0)


def prepare_step(root: Path, step: int) -> Path:
    """An empty directory for ``step`` (an older copy removed, manifest first): the first act of a sharded save."""
    root.mkdir(parents=True, exist_ok=True)
    d = step_dir(root, step)
    if d.is_symlink() or is_regular_file(d):
        d.unlink()
    elif d.exists():
        remove_step(d)
    d.mkdir()
    return d


def commit_sharded(root: Path, ckpt: Checkpoint, shards: list[tuple[str, str, int]], t0: float) -> CommitInfo:
    """Rank 0, after every rank wrote and hashed its DCP shard files (``shards``: name, checksum, bytes):
    write ``state.json``, fsync the directory, then the manifest last (layout ``dcp``)."""
    d = step_dir(root, ckpt.step)
    state = dict(ckpt.state, step=ckpt.step, config_hash=ckpt.config_hash, plan_id=ckpt.plan_id)
    files = {name: {HASH_NAME: digest, "bytes": n} for name, digest, n in shards}
    digest, n = write_buffers(d / STATE, [json.dumps(state, sort_keys=True).encode()])
    files[STATE] = {HASH_NAME: digest, "bytes": n}
    fsync_dir(d)
    return _commit(root, d, ckpt, files, DCP, t0)


def _check_manifest(d: Path, manifest: Any, expect_step: int | None) -> dict[str, Any]:
    where = d / MANIFEST
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{where}: a JSON {type(manifest).__name__}, expected an object")
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{where}: format {str(manifest.get('format'))[:40]!r} version "
                              f"{str(manifest.get('format_version'))[:10]}, expected {FORMAT} v{FORMAT_VERSION}")
    if manifest.get(MANIFEST_HASH) != manifest_digest(manifest):
        raise CheckpointError(f"{where}: field '{MANIFEST_HASH}' does not match the manifest's content "
                              "(corrupted or edited manifest)")
    step = manifest.get("step")
    if expect_step is None:
        m = _STEP_DIR.match(d.name)
        expect_step = int(m.group(1)) if m else None
    if type(step) is not int or step != expect_step:
        raise CheckpointError(f"{where}: field 'step' = {str(step)[:24]}, expected {expect_step} ({d.name})")
    files, layout = manifest.get("files"), manifest.get("layout")
    if layout not in LAYOUTS:
        raise CheckpointError(f"{where}: field 'layout' = {str(layout)[:20]!r}, expected one of {', '.join(LAYOUTS)}")
    if layout == SAFETENSORS and (not isinstance(files, dict) or set(files) != set(DATA_FILES)):
        raise CheckpointError(f"{where}: field 'files' must list exactly {', '.join(DATA_FILES)}")
    if layout == DCP and (not isinstance(files, dict) or STATE not in files or DCP_METADATA not in files
                          or len(files) > MAX_FILES
                          or not all(n == STATE or n == DCP_METADATA or DCP_SHARD.match(n) for n in files)):
        raise CheckpointError(f"{where}: field 'files' must list {STATE}, {DCP_METADATA} and DCP shard files")
    for name, entry in files.items():
        ok = (isinstance(entry, dict) and type(entry.get("bytes")) is int and entry["bytes"] >= 0
              and isinstance(entry.get(HASH_NAME), str))
        if not ok:
            raise CheckpointError(f"{where}: field 'files.{name}' must hold a byte count and a {HASH_NAME} checksum")
    for key in ("config_hash", "plan_id"):
        if not isinstance(manifest.get(key), str):
            raise CheckpointError(f"{where}: field '{key}' must be a string")
    if not isinstance(manifest.get("config"), dict):
        raise CheckpointError(f"{where}: field 'config' must be an object")
    return manifest


def _read_file(d: Path, fd: int, name: str, *, expect_bytes: int | None, max_bytes: int,
               digest: str | None = None) -> bytearray:
    try:
        data, got = read_regular(fd, name, expect_bytes=expect_bytes, max_bytes=max_bytes)
    except FileNotFoundError:
        if name == MANIFEST:
            raise CheckpointError(f"{d}: no {MANIFEST} (save never committed)") from None
        raise CheckpointError(f"{d / name}: missing, the manifest lists it") from None
    except OSError as exc:
        raise CheckpointError(f"{d}: cannot read {exc.strerror or exc}") from None
    if digest is not None and got != digest:
        raise CheckpointError(f"{d / name}: checksum does not match {MANIFEST} (torn or corrupted file)")
    return data


def _parse_manifest(d: Path, fd: int, expect_step: int | None = None) -> dict[str, Any]:
    raw = _read_file(d, fd, MANIFEST, expect_bytes=None, max_bytes=MAX_MANIFEST_BYTES)
    try:
        doc = loads_bounded(raw, MANIFEST, max_bytes=MAX_MANIFEST_BYTES)
    except ValueError as exc:
        raise CheckpointError(f"{d}: {exc}") from None
    return _check_manifest(d, doc, expect_step)


def _open_step(d: Path) -> int:
    try:
        return open_dir_nofollow(d)
    except OSError as exc:
        raise CheckpointError(f"{d}: {exc.strerror}; refusing to follow it") from None


def read_manifest(d: Path) -> dict[str, Any]:
    """Parse and check the manifest of step directory ``d``; CheckpointError names the problem."""
    fd = _open_step(d)
    try:
        return _parse_manifest(d, fd)
    finally:
        os.close(fd)


def verify_step(d: Path) -> dict[str, Any]:
    """Check the manifest and every file's size and checksum of step directory ``d``; return the manifest."""
    fd = _open_step(d)
    try:
        manifest = _parse_manifest(d, fd)
        for name, entry in manifest["files"].items():
            try:
                digest, _ = hash_regular(fd, name, expect_bytes=entry["bytes"])
            except OSError as exc:
                raise CheckpointError(f"{d}: cannot read {exc.strerror or exc}") from None
            if digest != entry[HASH_NAME]:
                raise CheckpointError(f"{d / name}: checksum does not match {MANIFEST} (torn or corrupted file)")
        return manifest
    finally:
        os.close(fd)


def load_checkpoint(d: Path, *, expect_step: int | None = None, layout: Any = None) -> Checkpoint:
    """Verify and load step directory ``d`` (safetensors + JSON only; never unpickles).

    The step must be ``expect_step``, or by default the one in ``d``'s name. ``layout`` (``runner.fsdp.layout``
    of the live state, for an FSDP job) makes a DCP step load each sharded entry as this rank's slice only.
    """
    fd = _open_step(d)
    try:
        manifest = _parse_manifest(d, fd, expect_step)
        files = manifest["files"]
        text = _read_file(d, fd, STATE, expect_bytes=files[STATE]["bytes"], digest=files[STATE][HASH_NAME],
                          max_bytes=MAX_STATE_BYTES)
        if manifest["layout"] == DCP:
            from spotplan.runner.sharded import load_tensors  # torch.distributed.checkpoint only when needed

            try:
                tensors = load_tensors(d, fd, files, hash_name=HASH_NAME, max_bytes=_physical_memory_bytes(),
                                       layout=layout)
            except OSError as exc:
                raise CheckpointError(f"{d}: cannot read {exc.strerror or exc}") from None
        else:
            raw = _read_file(d, fd, TENSORS, expect_bytes=files[TENSORS]["bytes"],
                             digest=files[TENSORS][HASH_NAME], max_bytes=_physical_memory_bytes())
    finally:
        os.close(fd)
    if manifest["layout"] == SAFETENSORS:
        try:
            tensors = decode(raw)
        except CheckpointError as exc:
            raise CheckpointError(f"{d / TENSORS}: not a valid safetensors file ({exc}); refusing to load") from None
    try:
        state = loads_bounded(text, STATE, max_bytes=MAX_STATE_BYTES)
    except ValueError as exc:
        raise CheckpointError(f"{d}: {exc}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{d / STATE}: a JSON {type(state).__name__}, expected an object")
    for key in ("step", "config_hash", "plan_id"):
        if state.get(key) != manifest[key] or type(state.get(key)) is not type(manifest[key]):
            raise CheckpointError(f"{d / STATE}: field '{key}' = {str(state.get(key))[:40]!r}, the manifest says "
                                  f"{manifest[key]!r}")
    world = manifest.get("world_size")
    if type(world) is not int or world < 1:
        raise CheckpointError(f"{d / MANIFEST}: field 'world_size' = {str(world)[:20]}, expected a positive integer")
    return Checkpoint(step=manifest["step"], config_hash=manifest["config_hash"], plan_id=manifest["plan_id"],
                      tensors=tensors, state=state, config=manifest["config"], world_size=world)


def iter_valid(root: Path, warn: Callable[[str], None] | None = None, *, layout: Any = None) -> Iterator[Checkpoint]:
    """Valid checkpoints under ``root``, newest first (loaded with ``layout``, see ``load_checkpoint``); every
    invalid step is skipped with one warning.

    Any exception while reading or parsing one step (not only ``CheckpointError``: a ``MemoryError`` or a
    ``RecursionError`` from a crafted file too) skips that step; a symlinked step directory is never followed.
    """
    for step, d in step_entries(root):
        try:
            if not is_real_dir(d):
                if d.is_symlink():
                    raise CheckpointError(f"{d}: a symlink, expected a step directory; refusing to follow it")
                continue  # a stray file with a step-like name: not a step
            ckpt = load_checkpoint(d, layout=layout)
        except Exception as exc:  # noqa: BLE001 - one bad step must never stop the fallback to older ones
            msg = f"skipping checkpoint step {step}: {exc if isinstance(exc, CheckpointError) else _describe(d, exc)}"
            log.warning(msg)
            if warn is not None:
                warn(msg)
            continue
        yield ckpt


def _describe(d: Path, exc: BaseException) -> str:
    return f"{d}: cannot be loaded ({type(exc).__name__}: {str(exc)[:120]})"


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
    """At start-up (no writer alive): delete real step directories that never got a manifest.

    A step whose manifest is there but is not a regular file is left alone: it is refused when loaded.
    """
    torn = [(s, d) for s, d in list_step_dirs(root) if not os.path.lexists(d / MANIFEST)]
    for _, d in torn:
        shutil.rmtree(d, ignore_errors=True)
    return [s for s, _ in torn]


def dir_bytes(d: Path) -> int:
    """Total size of the regular files in ``d``."""
    return sum(os.lstat(p).st_size for p in d.iterdir() if is_regular_file(p))
