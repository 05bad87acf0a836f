"""Durable file primitives: checksummed fsync'd writes and reads, atomic replace, directory fsync.

Why: a rename is only durable once the directory entry is fsynced, and file data only once the file is
fsynced (ext4 ``data=ordered`` does not order a rename after the data of another file).

Checksums are XXH3-128 (hex): they detect torn and corrupted files at ~10 GB/s per core, so hashing costs a few
percent of a disk write; sha256 ran at 0.6-0.9 GB/s here and halved save throughput (benchmarks/bench_checkpoint).
A checksum is not a signature: safety against crafted files comes from never unpickling (``spotplan.runner.tensorfile``).

Reading untrusted files: ``read_regular`` opens a name inside an already opened directory without following
symlinks (``O_NOFOLLOW``) and without blocking on a FIFO (``O_NONBLOCK``), checks on the opened descriptor that it
is a regular file of the size the caller expects, and only then allocates and reads. ``loads_bounded`` parses
JSON after bounding its size and nesting depth, so no document can exhaust memory or the parser's stack.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

# 1 MiB slices: each slice is hashed and then copied into the page cache while it is still in the CPU cache.
# Measured at 512 MiB: 1 MiB slices 1.1 GB/s, 16 MiB slices 0.3 GB/s with fsync (dd conv=fdatasync 1.2 GB/s).
CHUNK_BYTES = 1 << 20
HASH_NAME = "xxh3_128"
MAX_JSON_DEPTH = 64  # the deepest document spotplan writes nests 6 levels
_NOFOLLOW_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class UnsafeFileError(OSError):
    """A name in a checkpoint directory is not a regular file of the expected size (symlink, FIFO, device...)."""


def digest_of(data: bytes | bytearray | memoryview) -> str:
    """Hex checksum of an in-memory buffer."""
    return xxhash.xxh3_128_hexdigest(data)


def fsync_dir(path: Path) -> None:
    """fsync a directory so that entries created, renamed or removed in it survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_buffers(path: Path, buffers: Iterable[memoryview | bytes]) -> tuple[str, int]:
    """Write ``buffers`` to ``path`` (created or truncated), fsync it; return (checksum hex, bytes written)."""
    digest = xxhash.xxh3_128()
    total = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    try:
        for buf in buffers:
            view = memoryview(buf).cast("B")
            for start in range(0, len(view), CHUNK_BYTES):
                part = view[start : start + CHUNK_BYTES]
                digest.update(part)
                written = 0
                while written < len(part):
                    written += os.write(fd, part[written:])
                total += len(part)
        os.fdatasync(fd)  # data and the metadata needed to read it back (size, extents), as dd conv=fdatasync
    finally:
        os.close(fd)
    return digest.hexdigest(), total


def open_dir_nofollow(path: Path) -> int:
    """A descriptor of directory ``path`` itself (never of a symlink's target); UnsafeFileError otherwise."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        what = "a symlink" if path.is_symlink() else "not a directory" if path.exists() else "missing"
        raise UnsafeFileError(exc.errno, f"{path}: {what}, expected a real directory") from None


def is_real_dir(path: Path) -> bool:
    """True for a directory that is not a symlink (``Path.is_dir`` follows links)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def is_regular_file(path: Path) -> bool:
    """True for a regular file that is not a symlink."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _open_regular(dir_fd: int, name: str, expect_bytes: int | None) -> tuple[int, int]:
    """(descriptor, size) of regular file ``name`` in ``dir_fd``, opened without following a link or blocking on a
    FIFO, after checking on the descriptor that it is a regular file of ``expect_bytes`` (when given)."""
    if "/" in name or name in ("", ".", ".."):
        raise UnsafeFileError(0, f"{name!r}: expected a plain file name")
    try:
        fd = os.open(name, _NOFOLLOW_READ, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == getattr(os, "ELOOP", 40):
            raise UnsafeFileError(exc.errno, f"{name}: a symlink, expected a regular file") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(0, f"{name}: not a regular file (mode {stat.filemode(st.st_mode)})")
        if expect_bytes is not None and st.st_size != expect_bytes:
            raise UnsafeFileError(0, f"{name}: {st.st_size} bytes on disk, the manifest says {expect_bytes}")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_regular(dir_fd: int, name: str, *, expect_bytes: int | None = None, max_bytes: int) -> tuple[bytearray, str]:
    """Read regular file ``name`` of the open directory ``dir_fd``; return (bytes, XXH3-128 hex of those bytes).

    Refuses, before allocating anything, a symlink, a FIFO, a device or a directory, a size other than
    ``expect_bytes`` (when given) and a size over ``max_bytes``: ``UnsafeFileError`` says which.
    """
    fd, size = _open_regular(dir_fd, name, expect_bytes)
    try:
        if size > max_bytes:
            raise UnsafeFileError(0, f"{name}: {size} bytes, over the {max_bytes}-byte bound for this file")
        digest = xxhash.xxh3_128()
        buf = bytearray(size)
        view = memoryview(buf)
        pos = 0
        while pos < size:
            got = os.readv(fd, [view[pos : pos + CHUNK_BYTES]])
            if not got:
                break  # the file shrank under us: the size check below fails
            digest.update(view[pos : pos + got])
            pos += got
    finally:
        os.close(fd)
    if pos != size:
        raise UnsafeFileError(0, f"{name}: shrank from {size} to {pos} bytes while being read")
    return buf, digest.hexdigest()


def hash_regular(dir_fd: int, name: str, *, expect_bytes: int | None = None) -> tuple[str, int]:
    """(XXH3-128 hex, bytes) of regular file ``name`` of ``dir_fd``, streamed in slices (no full-size buffer);
    the same refusals as ``read_regular``."""
    fd, size = _open_regular(dir_fd, name, expect_bytes)
    try:
        digest, total = xxhash.xxh3_128(), 0
        while chunk := os.read(fd, CHUNK_BYTES):
            digest.update(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total != size:
        raise UnsafeFileError(0, f"{name}: changed size while being read")
    return digest.hexdigest(), total


def json_depth(data: bytes | bytearray | memoryview) -> int:
    """Deepest nesting of arrays and objects in a JSON text (brackets inside strings do not count)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size == 0:
        return 0
    quote = raw == ord('"')
    backslash = raw == ord("\\")
    if backslash.any():  # a quote preceded by an odd run of backslashes is escaped: it opens or closes nothing
        last_other = np.maximum.accumulate(np.where(backslash, -1, np.arange(raw.size)))
        idx = np.flatnonzero(quote[1:]) + 1
        run = idx - 1 - last_other[idx - 1]
        quote[idx[run % 2 == 1]] = False
    inside = (np.cumsum(quote) % 2) == 1  # string contents (and the closing quote, which is no bracket)
    step = np.zeros(raw.size, dtype=np.int8)
    step[(raw == ord("[")) | (raw == ord("{"))] = 1
    step[(raw == ord("]")) | (raw == ord("}"))] = -1
    step[inside] = 0
    return int(np.cumsum(step, dtype=np.int64).max(initial=0))


def loads_bounded(data: bytes | bytearray, what: str, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse UTF-8 JSON of at most ``max_bytes`` and ``max_depth`` levels; ValueError naming ``what`` otherwise."""
    if len(data) > max_bytes:
        raise ValueError(f"{what}: {len(data)} bytes of JSON, over the {max_bytes}-byte bound")
    depth = json_depth(data)
    if depth > max_depth:
        raise ValueError(f"{what}: JSON nested {depth} levels deep, over the bound of {max_depth}")
    try:
        return json.loads(bytes(data).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{what}: not valid JSON ({type(exc).__name__}: {str(exc)[:80]})") from None


def write_atomic(path: Path, data: bytes) -> str:
    """Replace ``path`` with ``data`` through temp file, fsync, rename and directory fsync; return its checksum."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if tmp.is_symlink():
        tmp.unlink()  # a planted link would be refused by O_NOFOLLOW; the temp name is ours to reuse
    digest, _ = write_buffers(tmp, [data])
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return digest
