"""End-to-end: the runner as a subprocess, interrupted by SIGTERM or an IMDS notice, resumes bit-exactly."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from spotplan.runner import checkpoint as ck
from spotplan.runner.policy import ExitCode
from spotplan.schemas.run_report import RunReport
from tests.support.http import QuietHandler
from tests.support.runner import read_log, run_runner, runner_cmd, runner_env, wait_for, write_plan

MAX_STEPS = 300


def _final(ckpt_dir: Path) -> ck.Checkpoint:
    return ck.load_checkpoint(ck.step_dir(ckpt_dir, MAX_STEPS))


def test_sigterm_at_a_drawn_step_resumes_bit_exact(tmp_path: Path) -> None:
    """SIGTERM at a drawn step, then resume: params, optimizer state and the loss curve equal an uninterrupted run."""
    plan = write_plan(tmp_path / "plan.yaml")
    whole = run_runner(plan, tmp_path / "a", "--max-steps", str(MAX_STEPS), "--no-imds")
    assert whole.returncode == 0, whole.stderr
    # the step the signal lands in, drawn from a seeded generator; the runner is held at that step (see
    # tests.support.pause_runner) while SIGTERM is sent, so the interruption never depends on timing
    stop_step = int(np.random.default_rng(20261201).integers(15, MAX_STEPS - 50))
    marker, hold = tmp_path / "paused", tmp_path / "hold"
    hold.touch()
    run = runner_cmd(plan, tmp_path / "b", "--max-steps", str(MAX_STEPS), "--no-imds")
    cmd = [sys.executable, "-m", "tests.support.pause_runner", "train", str(stop_step), str(marker), "--hold",
           str(hold), "--", *run[3:]]
    proc = subprocess.Popen(cmd, env=runner_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(marker.exists, 120, f"step {stop_step}", proc)
        proc.send_signal(signal.SIGTERM)
        hold.unlink()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.PREEMPTED, err
    first = RunReport.load(tmp_path / "b" / "run_report.json")
    assert first.end_step == stop_step, (first.end_step, stop_step)
    assert first.notice_source == "sigterm"
    resumed = run_runner(plan, tmp_path / "b", "--max-steps", str(MAX_STEPS), "--no-imds")
    assert resumed.returncode == 0, resumed.stderr
    second = RunReport.load(tmp_path / "b" / "run_report.json")
    assert second.restored_from == "local" and second.start_step == first.end_step
    a, b = _final(tmp_path / "a"), _final(tmp_path / "b")
    assert set(a.tensors) == set(b.tensors)
    for name in sorted(a.tensors):  # weights, AdamW moments and steps, and the global RNGs (seeded by the run)
        assert torch.equal(a.tensors[name], b.tensors[name]), name
    assert a.state == b.state
    final = ck.step_dir(tmp_path / "a", MAX_STEPS).name
    assert _step_bytes(tmp_path / "a")[final] == _step_bytes(tmp_path / "b")[final]  # byte-identical files
    uninterrupted = RunReport.load(tmp_path / "a" / "run_report.json").losses
    assert first.losses_from_step == second.losses_from_step == 1
    assert second.losses == uninterrupted  # the whole curve, across the resume, in the last report
    assert first.losses == uninterrupted[:stop_step]


def _step_bytes(root: Path) -> dict[str, dict[str, str]]:
    """sha256 of every file of every step directory under ``root``."""
    return {d.name: {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(d.iterdir())}
            for _, d in ck.list_step_dirs(root)}


def test_identical_runs_write_identical_bytes_and_kill_9_resume_ends_the_same(tmp_path: Path) -> None:
    """Two uninterrupted runs of one plan write byte-identical step directories; a run killed with SIGKILL
    twice (once just after a commit, once inside a save) and resumed each time ends with the same bytes."""
    plan = write_plan(tmp_path / "plan.yaml")
    steps = ("--max-steps", "120", "--no-imds")
    for name in ("a", "b"):
        done = run_runner(plan, tmp_path / name, *steps)
        assert done.returncode == 0, done.stderr
    whole = _step_bytes(tmp_path / "a")
    assert whole == _step_bytes(tmp_path / "b") and len(whole) == 3
    logged = read_log(tmp_path / "a" / "run_log.jsonl")  # no instance metadata here: only the plan's pool is known
    assert all(e["plan_instance_type"] == "g5.xlarge" and "instance_type" not in e for e in logged)
    root = tmp_path / "c"
    for trial, (point, n) in enumerate((("committed", 4), ("state", 3))):
        marker = tmp_path / f"paused-{trial}"
        run = runner_cmd(plan, root, *steps)
        cmd = [sys.executable, "-m", "tests.support.pause_runner", point, str(n), str(marker), "--", *run[3:]]
        proc = subprocess.Popen(cmd, env=runner_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(marker.exists, 120, f"the runner to pause at {point} #{n}", proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    done = run_runner(plan, root, *steps)
    assert done.returncode == 0, done.stderr
    restores = [e for e in read_log(root / "run_log.jsonl") if e["event"] == "restore" and e.get("ok")]
    assert [e["step"] for e in restores] == [40, 60], restores  # after the commit of 40; inside the save of 70
    assert _step_bytes(root) == whole


class _Imds(QuietHandler):
    """IMDSv2 double: PUT token (TTL header required), token-checked instance-action, 404 until armed."""

    notice: ClassVar[dict[str, str] | None] = None
    seen: ClassVar[list[str]] = []

    def do_PUT(self) -> None:
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.seen.append("PUT token" if ok else f"PUT {self.path}")
        self._reply(200 if ok else 400, b"tok-123" if ok else b"")

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != "tok-123":
            return self._reply(401, b"")
        self.seen.append(f"GET {self.path}")
        identity = {"/latest/meta-data/instance-type": b"m5.large",
                    "/latest/meta-data/placement/availability-zone": b"us-west-2b"}
        if self.path in identity:
            return self._reply(200, identity[self.path])
        if self.path != "/latest/meta-data/spot/instance-action" or type(self).notice is None:
            return self._reply(404, b"Not Found")
        self._reply(200, json.dumps(type(self).notice).encode())



@pytest.fixture
def imds() -> object:
    handler = type("Imds", (_Imds,), {"notice": None, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _imds_run(tmp_path: Path, imds: ThreadingHTTPServer, notice_in_s: float,
              interval_steps: int) -> tuple[int, list[dict], str]:
    plan = write_plan(tmp_path / "plan.yaml", checkpoint_interval_steps=interval_steps)
    endpoint = f"http://127.0.0.1:{imds.server_address[1]}"
    log = tmp_path / "ck" / "run_log.jsonl"
    proc = subprocess.Popen(runner_cmd(plan, tmp_path / "ck", "--max-steps", "100000", "--imds-endpoint", endpoint),
                            env=runner_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = imds.RequestHandlerClass.seen  # type: ignore[attr-defined]
    polled = "GET /latest/meta-data/spot/instance-action"
    wait_for(lambda: seen.count(polled) >= 3, 60, "three IMDS polls (training under way)", proc)
    if interval_steps < 1000:
        wait_for(lambda: sum(e["event"] == "save" for e in read_log(log)) >= 2, 60, "two periodic saves", proc)
    when = datetime.fromtimestamp(time.time() + notice_in_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    imds.RequestHandlerClass.notice = {"action": "terminate", "time": when}  # type: ignore[attr-defined]
    out, err = proc.communicate(timeout=60)
    return proc.returncode, read_log(log), out + err


def test_imds_notice_triggers_emergency_save_and_clean_exit(tmp_path: Path, imds: ThreadingHTTPServer) -> None:
    """An instance-action notice two minutes out: emergency save at the next step boundary, exit code 75."""
    # no periodic saves in this run, so the notice can never land on an already-checkpointed step
    code, events, output = _imds_run(tmp_path, imds, notice_in_s=120, interval_steps=1_000_000)
    assert code == ExitCode.PREEMPTED, output
    notice = next(e for e in events if e["event"] == "notice")
    assert notice["source"] == "imds" and notice["action"] == "terminate"
    save = [e for e in events if e["event"] == "save"][-1]
    assert save["kind"] == "emergency" and save["ok"] and save["step"] == notice["step"]
    assert events[-1]["event"] == "exit" and events[-1]["exit_code"] == 75
    ck.verify_step(ck.step_dir(tmp_path / "ck", save["step"]))
    assert "PUT token" in imds.RequestHandlerClass.seen  # type: ignore[attr-defined]
    # the machine as instance metadata says (m5.large in us-west-2b), apart from the plan's pool
    assert notice["instance_type"] == "m5.large" and notice["zone"] == "us-west-2b"
    assert notice["plan_instance_type"] == "g5.xlarge" and notice["plan_zone"] == "us-east-1a"


def test_imds_notice_too_late_keeps_last_periodic(tmp_path: Path, imds: ThreadingHTTPServer) -> None:
    """A notice whose time has already passed: no emergency save, the last periodic checkpoint is kept, exit 75."""
    code, events, output = _imds_run(tmp_path, imds, notice_in_s=-5, interval_steps=10)
    assert code == ExitCode.PREEMPTED, output
    saves = [e for e in events if e["event"] == "save"]
    assert all(s["kind"] == "periodic" for s in saves)
    reason = events[-1]["reason"]  # the notice may land exactly on a periodic save's step
    assert "kept the checkpoint of step" in reason or "is already checkpointed" in reason, reason
    ck.verify_step(ck.step_dir(tmp_path / "ck", saves[-1]["step"]))


class _HostileImds(QuietHandler):
    """IMDS that misbehaves in scripted order (slow, then refused token; hostile bodies), then sends a notice."""

    tokens: ClassVar[list[str]] = []
    bodies: ClassVar[list[bytes | int]] = []
    served: ClassVar[list[str]] = []

    def do_PUT(self) -> None:
        step = type(self).tokens.pop(0) if type(self).tokens else "ok"
        self.served.append(f"token {step}")
        if step == "slow":
            time.sleep(1.5)  # past the runner's 1 s IMDS timeout
        self._reply(403 if step == "refuse" else 200, b"" if step == "refuse" else b"tok")

    def do_GET(self) -> None:
        if self.path != "/latest/meta-data/spot/instance-action":
            return self._reply(404, b"")  # instance identity: unknown here
        item = type(self).bodies.pop(0) if type(self).bodies else None
        if item is None:  # the script is over: a real notice, two minutes out
            when = datetime.fromtimestamp(time.time() + 120, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            item = json.dumps({"action": "terminate", "time": when}).encode()
        self.served.append(f"body {item if isinstance(item, int) else item[:20]!r}")
        if isinstance(item, int):
            return self._reply(item, b"")
        self._reply(200, item)



def test_hostile_imds_bodies_never_switch_notices_off(tmp_path: Path) -> None:
    """A slow and a refusing token endpoint, then ``[]``, a string, nested JSON, an oversized body and a 5xx: the
    poller lives through all of them, reads the valid notice that follows, and the run exits 75."""
    bodies: list[bytes | int] = [b"[]", b'"terminate"', b"[" * 50_000 + b"]" * 50_000, b"{" * 100, b"x" * 10_000,
                                 b'{"action": "terminate"}', 503, 404]
    handler = type("H", (_HostileImds,), {"tokens": ["slow", "refuse"], "bodies": bodies, "served": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        plan = write_plan(tmp_path / "plan.yaml", checkpoint_interval_steps=1_000_000)
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        done = subprocess.run(runner_cmd(plan, tmp_path / "ck", "--max-steps", "1000000", "--imds-endpoint",
                                         endpoint), env=runner_env(), capture_output=True, text=True, timeout=180,
                              check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == ExitCode.PREEMPTED, done.stderr[-2000:]
    served = handler.served  # type: ignore[attr-defined]
    assert served[:2] == ["token slow", "token refuse"] and sum(s.startswith("body") for s in served) == 9, served
    events = read_log(tmp_path / "ck" / "run_log.jsonl")
    notice = next(e for e in events if e["event"] == "notice")
    assert notice["source"] == "imds"
    assert any(e["event"] == "save" and e.get("kind") == "emergency" for e in events)
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("signals", [(signal.SIGTERM,), (signal.SIGINT, signal.SIGINT), (signal.SIGTERM,) * 3],
                         ids=["sigterm", "double-sigint", "triple-sigterm"])
def test_signals_during_start_up_are_handled_once(tmp_path: Path, signals: tuple[int, ...]) -> None:
    """Signals while the checkpoint is being restored (handlers are installed before start-up) end the run at its
    first step boundary with exit 75 and the checkpoint intact; repeated signals change nothing."""
    plan = write_plan(tmp_path / "plan.yaml")
    first = run_runner(plan, tmp_path / "ck", "--max-steps", "20", "--no-imds")
    assert first.returncode == 0, first.stderr
    marker, hold = tmp_path / "paused", tmp_path / "hold"
    hold.touch()
    run = runner_cmd(plan, tmp_path / "ck", "--max-steps", "40", "--no-imds")
    cmd = [sys.executable, "-m", "tests.support.pause_runner", "restore", "1", str(marker), "--hold", str(hold),
           "--", *run[3:]]
    proc = subprocess.Popen(cmd, env=runner_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(marker.exists, 120, "start-up to reach the restore", proc)
        for s in signals:
            proc.send_signal(s)
            time.sleep(0.05)
        hold.unlink()
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.PREEMPTED, (proc.returncode, err[-2000:])
    report = RunReport.load(tmp_path / "ck" / "run_report.json")
    assert report.start_step == report.end_step == 20 and report.restored_from == "local"
    assert "already checkpointed" in report.exit_reason and "Traceback" not in err
