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
needs no process group: every rank reads the whole state (its DDP replica), so a checkpoint written at one world
size loads at any other, including a single process.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.filesystem import FileSystemReader, FileSystemWriter, _StorageInfo
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta, TensorStorageMetadata

from spotplan.errors import CheckpointError
from spotplan.runner.checkpoint import DCP_METADATA, DCP_SHARD
from spotplan.runner.fsio import hash_regular, open_dir_nofollow, read_regular

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


def template(md: Metadata, max_bytes: int) -> dict[str, torch.Tensor]:
    """Empty CPU tensors of the sizes and dtypes the metadata states (bounded by ``max_bytes`` in all)."""
    total = sum(math.prod(e.size) * e.properties.dtype.itemsize for e in md.state_dict_metadata.values())
    if total > max_bytes:
        raise CheckpointError(f"{METADATA}: states {total} bytes of tensors, over the {max_bytes}-byte bound")
    return {fqn: torch.empty(tuple(e.size), dtype=e.properties.dtype) for fqn, e in md.state_dict_metadata.items()}


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


def load_tensors(d: Path, fd: int, files: dict[str, dict[str, Any]], *, hash_name: str,
                 max_bytes: int) -> dict[str, torch.Tensor]:
    """Verify every shard file of step directory ``d`` (open descriptor ``fd``) and load its tensors."""
    sizes = {name: int(entry["bytes"]) for name, entry in files.items()}
    for name in sizes:
        if name != METADATA and SHARD.match(name) is None and name != "state.json":
            raise CheckpointError(f"{d}: the manifest lists {name!r}, not a DCP shard file")
    if METADATA not in files:
        raise CheckpointError(f"{d}: the manifest lists no {METADATA}")
    for name, entry in files.items():
        if name in ("state.json", METADATA):
            continue
        digest, _ = hash_regular(fd, name, expect_bytes=entry["bytes"])
        if digest != entry[hash_name]:
            raise CheckpointError(f"{d / name}: checksum does not match the manifest (torn or corrupted file)")
    raw, digest = read_regular(fd, METADATA, expect_bytes=files[METADATA]["bytes"], max_bytes=MAX_METADATA_BYTES)
    if digest != files[METADATA][hash_name]:
        raise CheckpointError(f"{d / METADATA}: checksum does not match the manifest (torn or corrupted file)")
    md = parse_metadata(raw, sizes)
    tensors = template(md, max_bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no process group: assuming single process" is the point here
        dcp.load(tensors, storage_reader=_VerifiedReader(d, md), no_dist=True)
    return tensors


def save_tensors(d: Path, step: int, tensors: dict[str, torch.Tensor], group: Any) -> list[tuple[str, str, int]]:
    """Every rank: write this rank's shard of ``tensors`` into ``d`` (rank 0 also ``.metadata``) and return
    (file name, XXH3-128, bytes) of the files this rank wrote, read back from disk once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save(tensors, storage_writer=_Writer(d, step), process_group=group)
    rank = dist.get_rank() if dist.is_initialized() else 0
    fd = open_dir_nofollow(d)
    try:
        mine = sorted(n for n in os.listdir(fd) if (m := SHARD.match(n)) and int(m.group(1)) == rank)
        if rank == 0:
            mine.append(METADATA)
        return [(name, *hash_regular(fd, name)) for name in mine]
    finally:
        os.close(fd)
