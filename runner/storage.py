"""Remote durability: a small ``Storage`` protocol (a local mirror directory, or S3 through boto3), a background
uploader with retries and exponential backoff, and restore of the newest valid remote checkpoint.

A step is uploaded data files first and ``manifest.json`` last, and deleted manifest first, so a remote step
with a manifest is complete. Remote keys are ``<prefix>/step_0000000042/<file>``. Times are seconds.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from spotplan.errors import CheckpointError, ConfigError, CredentialsError
from spotplan.runner.checkpoint import (
    DATA_FILES,
    MANIFEST,
    Checkpoint,
    ForeignCheckpointError,
    dir_bytes,
    load_checkpoint,
    step_dir,
)
from spotplan.runner.fsio import fsync_dir

log = logging.getLogger("spotplan.runner")


class Storage(Protocol):
    """Where committed step directories are mirrored."""

    def put_file(self, key: str, src: Path) -> None: ...
    def get_file(self, key: str, dest: Path) -> None: ...
    def delete(self, key: str) -> None: ...
    def committed_steps(self) -> list[int]: ...
    def describe(self) -> str: ...


def _step_name(step: int) -> str:
    return step_dir(Path(), step).name


def _steps_from_keys(keys: list[str]) -> list[int]:
    steps = []
    for key in keys:
        parts = key.split("/")
        if len(parts) >= 2 and parts[-1] == MANIFEST and parts[-2].startswith("step_") and parts[-2][5:].isdigit():
            steps.append(int(parts[-2][5:]))
    return sorted(steps, reverse=True)


class LocalStorage:
    """A mirror directory (e.g. a network mount); files are copied through temp + fsync + rename."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put_file(self, key: str, src: Path) -> None:
        dest = self.root / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)

    def get_file(self, key: str, dest: Path) -> None:
        shutil.copyfile(self.root / key, dest)

    def delete(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def committed_steps(self) -> list[int]:
        return _steps_from_keys([p.relative_to(self.root).as_posix() for p in self.root.glob(f"*/{MANIFEST}")])

    def describe(self) -> str:
        return str(self.root)


class S3Storage:
    """S3 (or an S3-compatible server at ``endpoint_url``); multipart above 8 MiB, botocore retries on top."""

    def __init__(self, url: str, *, endpoint_url: str | None = None, region: str | None = None) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        if not url.startswith("s3://") or len(url) <= 5:
            raise ConfigError(f"--s3 {url!r}: expected s3://bucket/prefix")
        bucket, _, prefix = url[5:].partition("/")
        self.bucket, self.prefix = bucket, prefix.strip("/")
        cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=3, read_timeout=30)
        session = boto3.session.Session()
        if session.get_credentials() is None:
            raise CredentialsError(
                "no AWS credentials found (environment, ~/.aws, instance role) for --s3; configure them"
            )
        self.client = session.client(
            "s3", endpoint_url=endpoint_url, region_name=region or session.region_name or "us-east-1", config=cfg
        )
        self.transfer = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20, max_concurrency=4)
        self.url = url

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, key: str, src: Path) -> None:
        self.client.upload_file(str(src), self.bucket, self._key(key), Config=self.transfer)

    def get_file(self, key: str, dest: Path) -> None:
        self.client.download_file(self.bucket, self._key(key), str(dest), Config=self.transfer)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def committed_steps(self) -> list[int]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else ""):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return _steps_from_keys(keys)

    def describe(self) -> str:
        return self.url


def upload_step(storage: Storage, local_dir: Path) -> int:
    """Upload one committed step directory, manifest last; return bytes uploaded."""
    for name in (*DATA_FILES, MANIFEST):
        storage.put_file(f"{local_dir.name}/{name}", local_dir / name)
    return dir_bytes(local_dir)


def delete_remote_step(storage: Storage, step: int) -> None:
    """Delete a remote step, manifest first (it stops counting as committed before its data goes)."""
    for name in (MANIFEST, *DATA_FILES):
        storage.delete(f"{_step_name(step)}/{name}")


def download_step(storage: Storage, step: int, root: Path,
                  check: Callable[[Checkpoint], None] | None = None, *, layout: Any = None) -> Path:
    """Fetch a remote step into ``root`` (manifest last), verify it (and ``check`` it), and move it into place."""
    name = _step_name(step)
    tmp = root / f".download-{name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for fname in (*DATA_FILES, MANIFEST):
        storage.get_file(f"{name}/{fname}", tmp / fname)
    ckpt = load_checkpoint(tmp, expect_step=step, layout=layout)  # raises CheckpointError on a bad download
    if check is not None:
        check(ckpt)
    final = root / name
    if final.is_symlink():
        final.unlink()  # the link itself, never its target
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    fsync_dir(root)
    return final


def restore_from_remote(storage: Storage, root: Path, warn: Callable[[str], None],
                        check: Callable[[Checkpoint], None] | None = None, *, layout: Any = None) -> Path | None:
    """Download the newest remote step that verifies (and passes ``check``); skip bad ones with a warning.

    None if there is none; a step of another configuration (``ForeignCheckpointError``) stops the search.
    """
    try:
        steps = storage.committed_steps()
    except Exception as exc:  # noqa: BLE001 - botocore/network/permission: training from scratch would be wrong
        raise CheckpointError(f"cannot list remote checkpoints in {storage.describe()}: {exc}") from None
    for step in steps:
        try:
            return download_step(storage, step, root, check, layout=layout)
        except ForeignCheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad remote step is skipped, whatever went wrong
            warn(f"skipping remote checkpoint step {step} in {storage.describe()}: {exc}")
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadResult:
    """One upload attempt."""

    step: int
    ok: bool
    upload_s: float
    bytes: int
    attempt: int
    error: str | None = None


class Uploader(threading.Thread):
    """Uploads committed steps in the background; only the newest pending step matters, retried with backoff."""

    def __init__(self, storage: Storage, root: Path, *, keep_last_k: int,
                 on_result: Callable[[UploadResult], None] | None = None,
                 backoff_s: float = 0.5, max_backoff_s: float = 30.0) -> None:
        super().__init__(name="s3-uploader", daemon=True)
        self.storage, self.root, self.keep_last_k = storage, root, keep_last_k
        self.on_result = on_result
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._cv = threading.Condition()
        self._last_submitted = -1
        self._done_upto = -1  # steps are uploaded in increasing order; everything <= this is settled
        self.uploaded: list[int] = []

    def submit(self, step: int) -> None:
        """Queue a committed step for upload."""
        with self._cv:
            self._last_submitted = max(self._last_submitted, step)
        self._queue.put(step)

    def _settle(self, step: int) -> None:
        with self._cv:
            self._done_upto = max(self._done_upto, step)
            self._cv.notify_all()

    def _latest(self, step: int | None) -> int | None:
        """Drain the queue: newer committed steps supersede older pending ones."""
        while True:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return step
            step = None if nxt is None or step is None else max(step, nxt)

    def run(self) -> None:
        pending: int | None = None
        attempt, delay = 0, self.backoff_s
        while True:
            if pending is None:
                item = self._queue.get()
                if item is None:
                    return
                pending, attempt, delay = item, 0, self.backoff_s
            newest = self._latest(pending)
            if newest is None:
                return
            if newest != pending:
                pending, attempt, delay = newest, 0, self.backoff_s
            attempt += 1
            if self._attempt(pending, attempt):
                self._settle(pending)
                pending = None
            else:
                time.sleep(delay)
                delay = min(2 * delay, self.max_backoff_s)

    def _attempt(self, step: int, attempt: int) -> bool:
        d = step_dir(self.root, step)
        t0 = time.perf_counter()
        try:
            if not (d / MANIFEST).is_file():
                return True  # pruned locally before it could be uploaded: a newer step supersedes it
            n = upload_step(self.storage, d)
            self._prune_remote(step)
            result = UploadResult(step=step, ok=True, upload_s=time.perf_counter() - t0, bytes=n, attempt=attempt)
        except Exception as exc:  # noqa: BLE001 - network down, server stopped: keep the local copy, retry later
            if not (d / MANIFEST).is_file():
                return True  # pruned locally mid-upload: a newer committed step supersedes it
            result = UploadResult(step=step, ok=False, upload_s=time.perf_counter() - t0, bytes=0,
                                  attempt=attempt, error=f"{type(exc).__name__}: {exc}")
            log.warning("upload of step %d to %s failed (attempt %d): %s", step, self.storage.describe(),
                        attempt, result.error)
        if result.ok:
            self.uploaded.append(step)
        if self.on_result is not None:
            self.on_result(result)
        return result.ok

    def _prune_remote(self, newest: int) -> None:
        for step in self.storage.committed_steps()[self.keep_last_k:]:
            if step < newest:
                delete_remote_step(self.storage, step)

    def drain(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for pending uploads; True when everything queued was uploaded."""
        with self._cv:
            return self._cv.wait_for(lambda: self._done_upto >= self._last_submitted, timeout_s)

    def stop(self) -> None:
        self._queue.put(None)
