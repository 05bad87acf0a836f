"""``spotplan launch``: run torchrun, and launch it again while the run is unfinished.

torchrun's in-process restarts (``--max-restarts``) proved flaky on these machines: gloo re-rendezvous refused,
hangs, aborts at exit (``../shared/reference/stack.md`` section 8). So the supervisor restarts at the outer level:
each attempt is a fresh ``torchrun --standalone``, which resumes from the newest committed checkpoint. After
each attempt it reads the run report rank 0 wrote in that attempt (torchrun itself exits 1 for any failure):

- the report says completed: done (exit 0);
- it says preempted (a notice: this machine is going away): stop with 75, for the scheduler to place the job;
- it says a user error (a checkpoint of another configuration, none valid, a full disk): stop with 2 and why;
- no fresh report, or another failure (a worker died without notice, a collective timed out): launch again,
  after a short pause, up to ``max_attempts`` in all; then exit 1 saying what the last attempt did.

SIGTERM or SIGINT to the supervisor go to torchrun (which passes them to the workers, who save and exit 75) and
stop the relaunching. ``judge`` is pure; ``supervise`` does the processes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import FrameType

from spotplan.errors import ConfigError
from spotplan.runner.policy import ExitCode
from spotplan.schemas.run_report import RunReport

RELAUNCH_PAUSE_S = 2.0  # lets the previous attempt's ports and sockets close


class Verdict(str, Enum):
    DONE = "done"
    PREEMPTED = "preempted"
    USER_ERROR = "user error"
    RETRY = "retry"


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """What one torchrun attempt left: its exit status, the report rank 0 wrote during it (if any), and the exit
    code and reason of rank 0's last ``exit`` line in the run log during it (if any)."""

    returncode: int
    report: RunReport | None
    logged_exit: tuple[int, str] | None = None


def judge(attempt: Attempt) -> Verdict:
    """The supervisor's next move after ``attempt`` (see the module's rules)."""
    if attempt.report is not None:
        code = attempt.report.exit_code
    elif attempt.logged_exit is not None:
        code = attempt.logged_exit[0]
    else:
        return Verdict.RETRY
    if code == ExitCode.COMPLETED and attempt.returncode == 0:
        return Verdict.DONE
    if code == ExitCode.PREEMPTED:
        return Verdict.PREEMPTED
    if code == ExitCode.USER_ERROR:  # another configuration's checkpoint, none valid, a disk that is full, ...
        return Verdict.USER_ERROR
    return Verdict.RETRY


def torchrun_argv(*, nproc_per_node: int, run_args: Sequence[str]) -> list[str]:
    """``python -m torch.distributed.run --standalone --nproc_per_node=N -m spotplan.cli run ...``."""
    if nproc_per_node < 1:
        raise ConfigError(f"--nproc-per-node {nproc_per_node}: expected at least 1")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc_per_node}",
            "-m", "spotplan.cli", "run", *run_args]


def _fresh_report(path: Path, since_ns: int) -> RunReport | None:
    try:
        if path.stat().st_mtime_ns < since_ns:
            return None
        return RunReport.load(path)
    except (OSError, ConfigError):
        return None


def _logged_exit(run_log: Path, since_ns: int) -> tuple[int, str] | None:
    """Exit code and reason of the last ``exit`` event written at or after ``since_ns``, from the run log."""
    from datetime import datetime

    try:
        lines = run_log.read_text(encoding="utf-8", errors="replace").splitlines()[-200:]
    except OSError:
        return None
    for line in reversed(lines):
        try:
            event = json.loads(line)
            when_ns = int(datetime.fromisoformat(event["ts_utc"]).timestamp() * 1e9)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if when_ns < since_ns - 10**9:  # the log's timestamps have millisecond resolution
            return None
        if isinstance(event, dict) and event.get("event") == "exit" and isinstance(event.get("exit_code"), int):
            return int(event["exit_code"]), str(event.get("reason", ""))[:4000]
    return None


def supervise(argv: list[str], report_path: Path, run_log: Path, *, max_attempts: int, echo: Callable[[str], None],
              timeout_s: float | None = None, pause_s: float = RELAUNCH_PAUSE_S) -> int:
    """Run ``argv`` until the run completes, is preempted, fails for the user, or ``max_attempts`` are spent."""
    if max_attempts < 1:
        raise ConfigError(f"--max-attempts {max_attempts}: expected at least 1")
    stopping: list[int] = []
    child: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        if child and child[-1].poll() is None:
            child[-1].send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        last = "no attempt ran"
        for n in range(1, max_attempts + 1):
            start_ns = time.time_ns()
            child.append(subprocess.Popen(argv))
            try:
                code = child[-1].wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                child[-1].kill()
                code = child[-1].wait()
            attempt = Attempt(returncode=code, report=_fresh_report(report_path, start_ns),
                              logged_exit=_logged_exit(run_log, start_ns))
            verdict = judge(attempt)
            r = attempt.report
            why = r.exit_reason if r else attempt.logged_exit[1] if attempt.logged_exit else "no report"
            last = f"torchrun exited {code} ({f'step {r.end_step}: ' if r else ''}{why})"
            if verdict is Verdict.DONE:
                echo(f"launch: run complete after {n} attempt(s): {why}")
                return int(ExitCode.COMPLETED)
            if verdict is Verdict.PREEMPTED or stopping:
                echo(f"launch: interrupted in attempt {n}: {last}; relaunch `spotplan launch` to resume")
                return int(ExitCode.PREEMPTED)
            if verdict is Verdict.USER_ERROR:
                echo(f"launch: stopped: {why}")
                return int(ExitCode.USER_ERROR)
            if n < max_attempts:
                echo(f"launch: attempt {n}/{max_attempts} failed: {last}; relaunching from the newest checkpoint")
                time.sleep(pause_s)
        echo(f"launch: gave up after {max_attempts} attempts; last: {last}")
        return 1
    finally:
        for s, h in old.items():
            signal.signal(s, h)
