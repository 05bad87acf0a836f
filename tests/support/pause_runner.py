"""Run ``spotplan run`` with the runner paused at a chosen point, so a test's kill or signal lands exactly there.

    python -m tests.support.pause_runner POINT N MARKER [--hold HOLD] -- <spotplan run arguments>

The N-th time the runner reaches POINT (counted from 1 over the whole process), this wrapper creates MARKER (under
torchrun MARKER.RANK, one per rank) and
blocks the thread that got there: for good, or with ``--hold HOLD`` until the test deletes HOLD. The test waits
for MARKER, then sends SIGKILL (the process dies inside that window) or SIGTERM (and deletes HOLD so the run
carries on to its next step boundary). Production code has no hook: the points are module functions wrapped
here before the CLI starts.

Points (``spotplan.runner.checkpoint.write_checkpoint`` writes tensors, state, then the manifest):
- ``tensors``: the tensors file is written and fsynced, nothing else (a torn step);
- ``state``: tensors and state are written, the manifest is not (a torn step);
- ``manifest``: every data file is written and the directory fsynced, the manifest is about to be (torn);
- ``committed``: the manifest is renamed into place, the checkpoint root not yet fsynced (committed);
- ``prune``: an old step's manifest is unlinked, its files not yet deleted (an uncommitted leftover);
- ``train``: a training step is about to run (for signals between saves);
- ``restore``: start-up is about to look for and restore a checkpoint (for signals during start-up).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

POINTS = ("tensors", "state", "manifest", "committed", "prune", "train", "restore")


class Pause:
    """Counts arrivals at a point; the N-th arrival creates the marker and blocks."""

    def __init__(self, n: int, marker: Path, hold: Path | None) -> None:
        self.n, self.marker, self.hold = n, marker, hold
        self.count = 0
        self.lock = threading.Lock()

    def arrive(self) -> None:
        with self.lock:
            self.count += 1
            hit = self.count == self.n
        if not hit:
            return
        rank = os.environ.get("RANK")  # under torchrun every rank pauses and says so in MARKER.RANK
        marker = self.marker if rank is None else self.marker.with_name(f"{self.marker.name}.{rank}")
        marker.write_text(str(os.getpid()))
        if self.hold is None:
            threading.Event().wait()  # until the test kills the process
        while self.hold.exists():
            time.sleep(0.005)


def _after(fn: Callable[..., Any], pause: Pause, when: Callable[[tuple[Any, ...]], bool]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        if when(args):
            pause.arrive()
        return out
    return wrapped


def _before(fn: Callable[..., Any], pause: Pause) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        pause.arrive()
        return fn(*args, **kwargs)
    return wrapped


def install(point: str, pause: Pause) -> None:
    """Wrap the functions the runner calls at ``point`` (the names as the calling modules bound them)."""
    from spotplan.runner import checkpoint, loop

    if point in ("tensors", "state"):
        name = checkpoint.TENSORS if point == "tensors" else checkpoint.STATE
        checkpoint.write_buffers = _after(checkpoint.write_buffers, pause, lambda a: Path(a[0]).name == name)
    elif point in ("manifest", "committed"):
        wrap = _before if point == "manifest" else functools.partial(_after, when=lambda a: True)
        checkpoint.write_atomic = wrap(checkpoint.write_atomic, pause)
    elif point == "prune":
        real = checkpoint.shutil.rmtree

        class _Shutil:  # remove_step unlinks the manifest, fsyncs, then removes the folder with shutil.rmtree
            def __getattr__(self, attr: str) -> Any:
                return getattr(__import__("shutil"), attr)

            @staticmethod
            def rmtree(path: Any, *args: Any, **kwargs: Any) -> Any:
                pause.arrive()
                return real(path, *args, **kwargs)

        checkpoint.shutil = _Shutil()  # type: ignore[assignment]
    elif point == "train":
        loop._train_step = _before(loop._train_step, pause)
    elif point == "restore":
        loop.resume = _before(loop.resume, pause)
    else:
        raise SystemExit(f"unknown point {point!r}: expected one of {', '.join(POINTS)}")


def main(argv: list[str]) -> int:
    split = argv.index("--")
    ap = argparse.ArgumentParser(prog="pause_runner")
    ap.add_argument("point", choices=POINTS)
    ap.add_argument("n", type=int)
    ap.add_argument("marker", type=Path)
    ap.add_argument("--hold", type=Path, default=None)
    opts = ap.parse_args(argv[:split])
    install(opts.point, Pause(opts.n, opts.marker, opts.hold))
    from spotplan.cli import main as cli_main

    return int(cli_main(argv[split + 1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
