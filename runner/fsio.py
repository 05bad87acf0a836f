"""Durable file primitives: fsync'd writes, atomic replace through a temp file, directory fsync.

Why: a rename is only durable once the directory entry is fsynced, and file data only once the file is
fsynced (ext4 ``data=ordered`` does not order a rename after the data of another file).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

CHUNK_BYTES = 16 << 20  # write and hash in 16 MiB slices


def fsync_dir(path: Path) -> None:
    """fsync a directory so that entries created, renamed or removed in it survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_buffers(path: Path, buffers: Iterable[memoryview | bytes]) -> tuple[str, int]:
    """Write ``buffers`` to ``path`` (created or truncated), fsync it; return (sha256 hex, bytes written)."""
    digest = hashlib.sha256()
    total = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for buf in buffers:
            view = memoryview(buf).cast("B")
            for start in range(0, len(view), CHUNK_BYTES):
                part = view[start : start + CHUNK_BYTES]
                digest.update(part)  # hashlib releases the GIL on large buffers
                written = 0
                while written < len(part):
                    written += os.write(fd, part[written:])
                total += len(part)
        os.fsync(fd)
    finally:
        os.close(fd)
    return digest.hexdigest(), total


def write_atomic(path: Path, data: bytes) -> str:
    """Replace ``path`` with ``data`` through temp file, fsync, rename and directory fsync; return sha256."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    sha, _ = write_buffers(tmp, [data])
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return sha


def sha256_bytes(data: bytes | memoryview) -> str:
    """Hex sha256 of an in-memory buffer."""
    return hashlib.sha256(data).hexdigest()
