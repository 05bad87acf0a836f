"""Durable file primitives: fsync'd writes, atomic replace through a temp file, directory fsync.

Why: a rename is only durable once the directory entry is fsynced, and file data only once the file is
fsynced (ext4 ``data=ordered`` does not order a rename after the data of another file).
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
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


class _Hasher(threading.Thread):
    """sha256 of the chunks handed to it, on its own thread (hashlib drops the GIL), so hashing overlaps the write."""

    def __init__(self) -> None:
        super().__init__(name="sha256", daemon=True)
        self.digest = hashlib.sha256()
        self.chunks: queue.Queue[memoryview | None] = queue.Queue(maxsize=4)

    def run(self) -> None:
        while (chunk := self.chunks.get()) is not None:
            self.digest.update(chunk)


def write_buffers(path: Path, buffers: Iterable[memoryview | bytes]) -> tuple[str, int]:
    """Write ``buffers`` to ``path`` (created or truncated), fsync it; return (sha256 hex, bytes written)."""
    hasher = _Hasher()
    hasher.start()
    total = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for buf in buffers:
            view = memoryview(buf).cast("B")
            for start in range(0, len(view), CHUNK_BYTES):
                part = view[start : start + CHUNK_BYTES]
                hasher.chunks.put(part)  # hashed on the other thread while this one writes the same bytes
                written = 0
                while written < len(part):
                    written += os.write(fd, part[written:])
                total += len(part)
        os.fsync(fd)
    finally:
        hasher.chunks.put(None)
        hasher.join()
        os.close(fd)
    return hasher.digest.hexdigest(), total


def read_hashed(path: Path) -> tuple[bytearray, str]:
    """Read ``path`` into a fresh writable buffer, hashing each chunk on another thread while the next is read."""
    hasher = _Hasher()
    hasher.start()
    try:
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            buf = bytearray(size)
            view = memoryview(buf)
            pos = 0
            while pos < size:
                got = f.readinto(view[pos : pos + CHUNK_BYTES])
                if not got:
                    break  # the file shrank under us: the size check against the manifest will fail
                hasher.chunks.put(view[pos : pos + got])
                pos += got
    finally:
        hasher.chunks.put(None)
        hasher.join()
    return buf[:pos] if pos < size else buf, hasher.digest.hexdigest()


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
