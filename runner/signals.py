"""Interruption notices: SIGTERM/SIGINT handlers that only set a flag, and an AWS IMDSv2 poller thread.

GCP's preemption signal is SIGTERM (30 s before power-off), so it arrives through the same handler. The IMDS
poller PUTs ``/latest/api/token`` (TTL header) and GETs ``/latest/meta-data/spot/instance-action`` every
``poll_s`` seconds with that token; HTTP 404 means "no interruption scheduled" and is not an error, 401 means the
token expired. A notice's ``deadline_s`` is POSIX epoch seconds UTC.

An IMDS response is untrusted input: bodies are read up to a small bound, parsed strictly (a JSON object with a
known ``action`` and an ISO-8601 ``time``) and anything else is one failed poll. No response, however malformed,
slow or refused, stops the poller: a dead poller would switch AWS notice handling off for the rest of the run.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

log = logging.getLogger("spotplan.runner")

DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254"
TOKEN_TTL_S = 21600
INSTANCE_ACTION_PATH = "/latest/meta-data/spot/instance-action"
MAX_BODY_BYTES = 4096  # an instance-action document is ~60 bytes, a token 56
MAX_TIME_CHARS = 64
ACTIONS = ("terminate", "stop", "hibernate")  # AWS's spot instance-action values
INSTANCE_TYPE_PATH = "/latest/meta-data/instance-type"
ZONE_PATH = "/latest/meta-data/placement/availability-zone"
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_ZONE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+[a-z]$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """An announced interruption: where it came from, the action, and when it happens (epoch s UTC)."""

    source: str
    action: str
    deadline_s: float
    received_s: float


class NoticeFlag:
    """Thread- and signal-safe holder of the first notice received; later notices are ignored."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._notice: Notice | None = None

    def set(self, notice: Notice) -> None:
        if not self._event.is_set():
            self._notice = notice
            self._event.set()

    @property
    def notice(self) -> Notice | None:
        return self._notice if self._event.is_set() else None


def install_signal_handlers(flag: NoticeFlag, *, notice_s: float) -> None:
    """SIGTERM and SIGINT set ``flag`` (deadline = now + ``notice_s``); the loop saves at the next step boundary.

    Repeated signals are idempotent: the first notice stands, later ones change nothing (an exception raised from
    a handler could land inside a save or a native call and abort the process).
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.notice is not None:
            return
        now = time.time()
        source = "sigterm" if signum == signal.SIGTERM else "sigint"
        flag.set(Notice(source=source, action="terminate", deadline_s=now + notice_s, received_s=now))

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def parse_instance_action(body: bytes) -> tuple[str, float]:
    """``{"action": "terminate", "time": "2017-09-18T08:22:00Z"}`` -> (action, epoch seconds).

    Raises ``ValueError`` naming what was wrong for anything else (too long, not JSON, nested too deep, not an
    object, an unknown action, a time that is not ISO-8601); a time without a zone is UTC, as IMDS means it.
    """
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(f"instance-action body over {MAX_BODY_BYTES} bytes: expected a small JSON object")
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"instance-action body is not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise ValueError(f"instance-action body is a JSON {type(doc).__name__}: expected an object")  # noqa: TRY004 - one type for every bad document
    action, when = doc.get("action"), doc.get("time")
    if not isinstance(action, str) or action not in ACTIONS:
        raise ValueError(f"instance-action action={str(action)[:40]!r}: expected one of {', '.join(ACTIONS)}")
    if not isinstance(when, str) or len(when) > MAX_TIME_CHARS:
        raise ValueError(f"instance-action time={str(when)[:40]!r}: expected an ISO-8601 string")
    try:
        t = datetime.fromisoformat(when)
    except ValueError:
        raise ValueError(f"instance-action time={when!r}: expected ISO-8601 such as 2017-09-18T08:22:00Z") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return action, t.timestamp()


def _read_bounded(resp: object) -> bytes:
    body = resp.read(MAX_BODY_BYTES + 1)  # type: ignore[attr-defined]
    if len(body) > MAX_BODY_BYTES:
        raise ValueError(f"IMDS response over {MAX_BODY_BYTES} bytes")
    return body


class ImdsPoller(threading.Thread):
    """Daemon thread polling the IMDSv2 spot instance-action document until a notice arrives or ``stop()``."""

    def __init__(self, flag: NoticeFlag, *, endpoint: str = DEFAULT_IMDS_ENDPOINT, poll_s: float = 5.0,
                 timeout_s: float = 1.0, on_identity: Callable[[str | None, str | None], None] | None = None) -> None:
        super().__init__(name="imds-poller", daemon=True)
        self.on_identity = on_identity  # told the machine's instance type and zone once, before the first poll
        self.flag = flag
        self.endpoint = endpoint.rstrip("/")
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self._stop_event = threading.Event()
        self._token: str | None = None
        self._warned: set[str] = set()  # kinds of failure already logged: each is said once
        self.failures = 0  # failed polls so far (the thread keeps polling after every one)

    def stop(self) -> None:
        self._stop_event.set()

    def _fetch_token(self) -> str:
        req = urllib.request.Request(
            f"{self.endpoint}/latest/api/token", method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_S)},
        )
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            token = _read_bounded(resp).decode("ascii", errors="replace").strip()
        if not token or not token.isprintable():
            raise ValueError("IMDS token endpoint returned an empty or non-printable token")
        return token

    def _get(self, path: str) -> bytes:
        if self._token is None:
            self._token = self._fetch_token()
        req = urllib.request.Request(f"{self.endpoint}{path}", headers={"X-aws-ec2-metadata-token": self._token})
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return _read_bounded(resp)

    def identity(self) -> tuple[str | None, str | None]:
        """(instance type, availability zone) from instance metadata, each None when unknown or malformed."""
        out: list[str | None] = []
        for path, pattern in ((INSTANCE_TYPE_PATH, _INSTANCE_TYPE), (ZONE_PATH, _ZONE)):
            try:
                text = self._get(path).decode("ascii", errors="replace").strip()
            except Exception as exc:  # noqa: BLE001 - off EC2, refused, malformed: unknown, and said once
                self._failed(exc)
                text = ""
            out.append(text if pattern.match(text) else None)
        return out[0], out[1]

    def poll_once(self) -> Notice | None:
        """One token-authenticated GET; None on 404 (no notice)."""
        try:
            action, deadline_s = parse_instance_action(self._get(INSTANCE_ACTION_PATH))
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                self._token = None  # expired token: fetch a new one next time
            if exc.code in (401, 404):
                return None
            raise
        now = time.time()
        return Notice(source="imds", action=action, deadline_s=deadline_s, received_s=now)

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        kind = "document" if isinstance(exc, ValueError) else "unreachable"
        if kind in self._warned:
            return
        self._warned.add(kind)
        if kind == "unreachable":  # off EC2 (or a 5xx, a refused or slow token endpoint): said once
            log.warning("IMDS %s not usable (%s); still watching SIGTERM and polling", self.endpoint, exc)
        else:
            log.warning("IMDS %s sent a bad instance-action document (%s); still polling", self.endpoint, exc)

    def run(self) -> None:
        if self.on_identity is not None:
            self.on_identity(*self.identity())
        while not self._stop_event.is_set():
            try:
                notice = self.poll_once()
            except Exception as exc:  # noqa: BLE001 - any failure is one failed poll; the thread must live on
                self._failed(exc)
                notice = None
            if notice is not None:
                self.flag.set(notice)
                return
            self._stop_event.wait(self.poll_s)
