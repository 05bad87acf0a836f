"""The interruption/run event log: JSON lines, one event per line.

The runner appends these; the simulator's data layer replays them. A notice line carries the IMDS
``spot/instance-action`` shape (``action``, ``time``) plus the instance type and zone.
"""

from __future__ import annotations

from enum import Enum

from pydantic import Field

from spotplan.schemas.base import StrictModel


class EventKind(str, Enum):
    """What happened."""

    START = "start"
    NOTICE = "notice"
    SAVE = "save"
    RESTORE = "restore"
    UPLOAD = "upload"
    EXIT = "exit"


class RunEvent(StrictModel):
    """One line of the run log."""

    event: EventKind
    ts_utc: str = Field(description="ISO-8601 UTC time the event was recorded.")
    instance_type: str | None = Field(default=None, description="The machine's type, from instance metadata where "
                                      "known (AWS IMDS); absent elsewhere.")
    zone: str | None = Field(default=None, description="The machine's availability zone, from instance metadata.")
    plan_instance_type: str | None = Field(default=None, description="Instance type of the plan's first rung.")
    plan_zone: str | None = Field(default=None, description="Zone of the plan's first rung.")
    # notice (IMDS instance-action shape)
    action: str | None = Field(default=None, description="terminate, stop or hibernate.")
    time: str | None = Field(default=None, description="ISO-8601 UTC time of the announced action.")
    source: str | None = Field(default=None, description="sigterm, sigint, imds.")
    # save / restore / upload
    step: int | None = None
    kind: str | None = Field(default=None, description="periodic, emergency, final.")
    blocking_s: float | None = None
    persist_s: float | None = None
    restore_s: float | None = None
    bytes: int | None = None
    ok: bool | None = None
    # exit
    exit_code: int | None = None
    reason: str | None = None
