"""Interruption notices: SIGTERM/SIGINT handlers that only set a flag, and an AWS IMDSv2 poller thread.

GCP's preemption signal is SIGTERM (30 s before power-off), so it arrives through the same handler. The IMDS
poller PUTs ``/latest/api/token`` (TTL header) and GETs ``/latest/meta-data/spot/instance-action`` every
``poll_s`` seconds with that token; HTTP 404 means "no interruption scheduled" and is not an error, 401 means the
token expired. A notice's ``deadline_s`` is POSIX epoch seconds UTC.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from types import FrameType

log = logging.getLogger("spotplan.runner")

DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254"
TOKEN_TTL_S = 21600
INSTANCE_ACTION_PATH = "/latest/meta-data/spot/instance-action"


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
    """SIGTERM and SIGINT set ``flag`` (deadline = now + ``notice_s``); the loop saves at the next step boundary."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and flag.notice is not None:
            raise KeyboardInterrupt  # a second Ctrl-C: the user wants out now, not at the step boundary
        now = time.time()
        source = "sigterm" if signum == signal.SIGTERM else "sigint"
        flag.set(Notice(source=source, action="terminate", deadline_s=now + notice_s, received_s=now))

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def parse_instance_action(body: bytes) -> tuple[str, float]:
    """``{"action": "terminate", "time": "2017-09-18T08:22:00Z"}`` -> (action, epoch seconds)."""
    doc = json.loads(body)
    when = datetime.fromisoformat(str(doc["time"]))
    return str(doc["action"]), when.timestamp()


class ImdsPoller(threading.Thread):
    """Daemon thread polling the IMDSv2 spot instance-action document until a notice arrives or ``stop()``."""

    def __init__(self, flag: NoticeFlag, *, endpoint: str = DEFAULT_IMDS_ENDPOINT, poll_s: float = 5.0,
                 timeout_s: float = 1.0) -> None:
        super().__init__(name="imds-poller", daemon=True)
        self.flag = flag
        self.endpoint = endpoint.rstrip("/")
        self.poll_s = poll_s
        self.timeout_s = timeout_s
        self._stop_event = threading.Event()
        self._token: str | None = None
        self._warned = False

    def stop(self) -> None:
        self._stop_event.set()

    def _fetch_token(self) -> str:
        req = urllib.request.Request(
            f"{self.endpoint}/latest/api/token", method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": str(TOKEN_TTL_S)},
        )
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return resp.read().decode().strip()

    def poll_once(self) -> Notice | None:
        """One token-authenticated GET; None on 404 (no notice)."""
        if self._token is None:
            self._token = self._fetch_token()
        req = urllib.request.Request(
            f"{self.endpoint}{INSTANCE_ACTION_PATH}", headers={"X-aws-ec2-metadata-token": self._token}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                action, deadline_s = parse_instance_action(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                self._token = None  # expired token: fetch a new one next time
            if exc.code in (401, 404):
                return None
            raise
        now = time.time()
        return Notice(source="imds", action=action, deadline_s=deadline_s, received_s=now)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                notice = self.poll_once()
            except (OSError, ValueError, KeyError) as exc:  # unreachable IMDS (not on EC2), bad document
                if not self._warned:
                    log.warning("IMDS %s not usable (%s); still watching SIGTERM", self.endpoint, exc)
                    self._warned = True
                notice = None
            if notice is not None:
                self.flag.set(notice)
                return
            self._stop_event.wait(self.poll_s)
