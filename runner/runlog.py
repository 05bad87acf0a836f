"""The JSON-lines run log: one ``spotplan.schemas.RunEvent`` per line, appended by the loop and its threads.

This is the interruption event format the simulator's data layer replays (``spotplan.simulator.market.traces.load_event_log``).
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spotplan.schemas.events import EventKind, RunEvent


def utc_iso(epoch_s: float | None = None) -> str:
    """ISO-8601 UTC with a Z suffix (``datetime.now`` when ``epoch_s`` is None)."""
    when = datetime.now(UTC) if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunLog:
    """Appends RunEvents to ``path``; one ``write`` per line with O_APPEND, so lines never interleave.

    The log is opened with O_NOFOLLOW: a symlink planted at its path is refused (ELOOP), never appended through.
    """

    def __init__(self, path: Path, *, plan_instance_type: str | None = None, plan_zone: str | None = None) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._context: dict[str, str | None] = {"plan_instance_type": plan_instance_type, "plan_zone": plan_zone}
        self._lock = threading.Lock()

    def set_machine(self, instance_type: str | None, zone: str | None) -> None:
        """What instance metadata says this machine is; every later line carries it."""
        with self._lock:
            self._context = {**self._context, "instance_type": instance_type, "zone": zone}

    def emit(self, event: EventKind, *, sync: bool = False, **fields: Any) -> RunEvent:
        """Validate and append one event; ``sync`` fsyncs (notice and exit lines must survive the kill)."""
        with self._lock:
            context = dict(self._context)
        record = RunEvent(event=event, ts_utc=utc_iso(), **context, **fields)
        line = (record.model_dump_json(exclude_none=True) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o644)
            try:
                os.write(fd, line)
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        return record


class NullLog:
    """The run log of a rank other than 0: rank 0 alone writes the log (every rank's saves reach it)."""

    def set_machine(self, instance_type: str | None, zone: str | None) -> None:
        return None

    def emit(self, event: EventKind, *, sync: bool = False, **fields: Any) -> None:
        return None
