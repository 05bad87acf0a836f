"""Sharded checkpoints with torch.distributed.checkpoint (DCP), read without an unrestricted unpickler.

Under torchrun every rank writes its own shard: DCP's planner spreads the (replicated, under DDP) tensors over
the ranks, each rank writes ``__<rank>_0.distcp`` and rank 0 writes DCP's ``.metadata``. Then every rank hashes
its own files, rank 0 gathers the checksums, writes ``state.json`` and, last, the manifest (layout ``dcp``), so
the commit rule of the single-process format holds: a step without a committed manifest does not exist.

Trust: DCP reads ``.metadata`` with a plain ``pickle.load`` (pytorch/pytorch#189308). Here the metadata bytes are
read once through ``fsio.read_regular`` (no symlink, bounded, checksummed against the manifest) and unpickled by
``SafeMetadataUnpickler``, which resolves only DCP's own metadata types, ``torch.Size``, dtypes and layouts; the
result is checked (only tensor entries, every storage item in a file the manifest lists, inside that file, no
stream transforms) before DCP may use it. Tensor payloads DCP reads with ``torch.load(weights_only=True)``. A load
needs no process group, so a checkpoint written at one world size loads at any other, including a single
process: under DDP every rank reads the whole state (its replica); under FSDP (a ``layout`` given) every sharded
entry is read straight into an empty DTensor laid out like the live one, so each rank reads and holds only its
own slices.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
import torch.distributed.tensor as dtensor
from torch.distributed.checkpoint.filesystem import FileSystemReader, FileSystemWriter, _StorageInfo
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta, TensorStorageMetadata

from spotplan.errors import CheckpointError
from spotplan.runner.checkpoint import (
    DCP_METADATA,
    DCP_SHARD,
    Checkpoint,
    commit_sharded,
    prepare_step,
    prune,
    step_dir,
)
from spotplan.runner.fsio import hash_regular, open_dir_nofollow, read_regular
from spotplan.runner.snapshot import InFlight, SaveResult

METADATA = DCP_METADATA
SHARD = DCP_SHARD
MAX_METADATA_BYTES = 64 << 20

_DCP_METADATA = "torch.distributed.checkpoint.metadata"
_ALLOWED: dict[str, frozenset[str]] = {
    _DCP_METADATA: frozenset({"Metadata", "TensorStorageMetadata", "TensorProperties", "ChunkStorageMetadata",
                              "MetadataIndex", "StorageMeta", "_MEM_FORMAT_ENCODING"}),
    "torch.distributed.checkpoint.filesystem": frozenset({"_StorageInfo"}),
    "torch.serialization": frozenset({"_get_layout"}),
    "pathlib": frozenset({"PosixPath", "PurePosixPath"}),
}


class SafeMetadataUnpickler(pickle.Unpickler):
    """Unpickles DCP metadata and nothing else: any other global is refused, so no payload can run."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and (name == "Size" or isinstance(getattr(torch, name, None), torch.dtype)):
            return getattr(torch, name)
        if name in _ALLOWED.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not a DCP metadata type; refusing to unpickle it")


def parse_metadata(data: bytes | bytearray, files: dict[str, int]) -> Metadata:
    """DCP metadata from ``data``, checked against the step's ``files`` (name -> bytes); CheckpointError otherwise."""
    try:
        md = SafeMetadataUnpickler(io.BytesIO(bytes(data))).load()
    except Exception as exc:  # noqa: BLE001 - whatever a crafted pickle raises, it is one refused file
        raise CheckpointError(f"{METADATA}: not DCP metadata ({type(exc).__name__}: {str(exc)[:120]})") from None
    if not isinstance(md, Metadata) or not isinstance(md.state_dict_metadata, dict) \
            or not isinstance(md.storage_data, dict):
        raise CheckpointError(f"{METADATA}: not a DCP Metadata object")
    for fqn, entry in md.state_dict_metadata.items():
        if not isinstance(fqn, str) or not isinstance(entry, TensorStorageMetadata):
            raise CheckpointError(f"{METADATA}: entry {str(fqn)[:60]!r} is not a tensor (only tensors are saved)")
        if not isinstance(entry.size, torch.Size) or not isinstance(entry.properties.dtype, torch.dtype):
            raise CheckpointError(f"{METADATA}: entry {fqn!r} has no valid size and dtype")
    for index, info in md.storage_data.items():
        ok = (isinstance(info, _StorageInfo) and isinstance(info.relative_path, str)
              and info.relative_path in files and SHARD.match(info.relative_path) is not None
              and type(info.offset) is int and type(info.length) is int and info.offset >= 0 and info.length >= 0
              and info.offset + info.length <= files[info.relative_path] and not info.transform_descriptors)
        if not ok:
            raise CheckpointError(f"{METADATA}: storage item {str(getattr(index, 'fqn', index))[:60]!r} points "
                                  "outside the step's shard files")
    return md


Layout = Callable[[str], Any]  # entry name -> the live DTensor it is read into, or None (``runner.fsdp.layout``)


def template(md: Metadata, max_bytes: int, layout: Layout | None = None) -> dict[str, torch.Tensor]:
    """Empty tensors of the sizes and dtypes the metadata states, for DCP to fill (bounded by ``max_bytes`` here).

    An entry whose live tensor (``layout``) is a DTensor of that size and dtype becomes an empty DTensor of the
    same mesh and placements (only this rank's slice is allocated); every other entry a full CPU tensor.
    """
    out: dict[str, torch.Tensor] = {}
    plan: list[tuple[str, tuple[int, ...], torch.dtype, Any]] = []
    total = 0
    for fqn, e in md.state_dict_metadata.items():
        size, dtype = tuple(e.size), e.properties.dtype
        like = layout(fqn) if layout is not None else None
        if like is not None and (tuple(like.shape) != size or like.dtype != dtype):
            like = None  # loaded in full: the check against the live model then names the difference
        total += (like.to_local().numel() if like is not None else math.prod(size)) * dtype.itemsize
        plan.append((fqn, size, dtype, like))
    if total > max_bytes:
        raise CheckpointError(f"{METADATA}: states {total} bytes of tensors for this rank, over the {max_bytes}-byte "
                              "bound")
    for fqn, size, dtype, like in plan:
        out[fqn] = (torch.empty(size, dtype=dtype) if like is None else
                    dtensor.empty(size, dtype=dtype, device_mesh=like.device_mesh, placements=like.placements))
    return out


class _VerifiedReader(FileSystemReader):
    """DCP's file reader with the metadata we already read, verified and parsed (never its own pickle.load)."""

    def __init__(self, path: Path, metadata: Metadata) -> None:
        super().__init__(path)
        self._metadata = metadata

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        if self._metadata.storage_meta is None:
            self._metadata.storage_meta = StorageMeta()
        self._metadata.storage_meta.load_id = self.load_id
        return self._metadata


class _Writer(FileSystemWriter):
    """DCP's file writer whose metadata names no path or random id, so that equal states write equal bytes."""

    def __init__(self, path: Path, step: int) -> None:
        super().__init__(path, single_file_per_rank=True, sync_files=True)
        self._step = step

    def storage_meta(self) -> StorageMeta | None:
        return StorageMeta(checkpoint_id=None, save_id=f"spotplan-step-{self._step}")


def load_tensors(d: Path, fd: int, files: dict[str, dict[str, Any]], *, hash_name: str, max_bytes: int,
                 layout: Layout | None = None) -> dict[str, torch.Tensor]:
    """Verify every shard file of step directory ``d`` (open descriptor ``fd``) and load its tensors (sharded
    entries of ``layout`` as this rank's slices only; see ``template``)."""
    sizes = {name: int(entry["bytes"]) for name, entry in files.items()}  # names checked with the manifest
    for name, entry in files.items():
        if SHARD.match(name) is None:  # state.json is read by the caller, .metadata below
            continue
        digest, _ = hash_regular(fd, name, expect_bytes=entry["bytes"])
        if digest != entry[hash_name]:
            raise CheckpointError(f"{d / name}: checksum does not match the manifest (torn or corrupted file)")
    raw, digest = read_regular(fd, METADATA, expect_bytes=files[METADATA]["bytes"], max_bytes=MAX_METADATA_BYTES)
    if digest != files[METADATA][hash_name]:
        raise CheckpointError(f"{d / METADATA}: checksum does not match the manifest (torn or corrupted file)")
    md = parse_metadata(raw, sizes)
    tensors = template(md, max_bytes, layout)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no process group: assuming single process" is the point here
        dcp.load(tensors, storage_reader=_VerifiedReader(d, md), no_dist=True)
    return tensors


class ShardedSaver(InFlight):
    """DCP saves from every rank with at most one in flight; rank 0 commits each one when all shards are written.

    ``save`` waits for the previous save, then (async) lets DCP copy the state into CPU memory and returns: DCP
    writes the shards in its background thread while training goes on, and a commit thread on every rank then
    hashes that rank's files, gathers the checksums to rank 0, which writes ``state.json`` and the manifest (and
    prunes), and meets the other ranks at a barrier. Those threads use their own gloo process group, so they never
    interleave with DDP's collectives on the training thread. A failure anywhere is raised by the next ``wait()``.
    Sync (``async_save=False``): the same steps on the training thread before ``save`` returns.
    """

    def __init__(self, root: Path, *, rank: int, keep_last_k: int, async_save: bool,
                 on_done: Any | None = None) -> None:
        self.root, self.rank, self.keep_last_k, self.async_save = root, rank, keep_last_k, async_save
        self._on_done = on_done
        self._group = dist.new_group(backend="gloo")  # checkpoint traffic only, never DDP's
        super().__init__()  # fence(): nothing to wait for, DCP copies the state before ``save`` returns

    def save(self, *, step: int, kind: str, tensors: dict[str, torch.Tensor], state: dict[str, Any],
             config_hash: str, plan_id: str, config: dict[str, Any], world_size: int) -> float:
        """Start (or, sync, do) a save of ``tensors`` and ``state``; returns the seconds training was blocked."""
        t0 = time.perf_counter()
        self.wait()
        d = step_dir(self.root, step)
        if self.rank == 0:
            prepare_step(self.root, step)
        dist.barrier(group=self._group)
        ckpt = Checkpoint(step=step, config_hash=config_hash, plan_id=plan_id, tensors={}, state=state,
                          config=config, world_size=world_size)
        writer = _Writer(d, step)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.async_save:
                future = dcp.async_save(tensors, storage_writer=writer, process_group=self._group)
            else:
                dcp.save(tensors, storage_writer=writer, process_group=self._group)
                future = None
        blocked_s = time.perf_counter() - t0
        args = (ckpt, kind, future, t0, blocked_s)
        if future is None:
            self._commit(*args)
            self.wait()
            return time.perf_counter() - t0
        self._thread = threading.Thread(target=self._commit, args=args, name=f"dcp-commit-{step}", daemon=True)
        self._thread.start()
        return blocked_s

    def _commit(self, ckpt: Checkpoint, kind: str, future: Any, t0: float, blocked_s: float) -> None:
        d = step_dir(self.root, ckpt.step)
        try:
            if future is not None:
                future.result()
            fd = open_dir_nofollow(d)
            try:
                mine = sorted(n for n in os.listdir(fd) if (m := SHARD.match(n)) and int(m.group(1)) == self.rank)
                if self.rank == 0:
                    mine.append(METADATA)
                files = [(name, *hash_regular(fd, name)) for name in mine]
            finally:
                os.close(fd)
            gathered: list[Any] | None = [None] * dist.get_world_size(self._group) if self.rank == 0 else None
            dist.gather_object((files, time.perf_counter() - t0), gathered, dst=0, group=self._group)
            if gathered is not None:
                info = commit_sharded(self.root, ckpt, [f for fs, _ in gathered for f in fs], t0)
                prune(self.root, self.keep_last_k)
                persist_s = max(float(s) for _, s in gathered)
                self.last = SaveResult(step=ckpt.step, kind=kind, blocking_s=blocked_s, persist_s=persist_s,
                                       bytes=info.bytes, ok=True, path=info.path)
                if self._on_done is not None:
                    self._on_done(self.last)
            dist.barrier(group=self._group)  # every rank knows the step is committed
        except Exception as exc:  # noqa: BLE001 - surfaced by the next wait(), never swallowed
            self._error = f"sharded save of step {ckpt.step} to {self.root} failed: {exc}"
