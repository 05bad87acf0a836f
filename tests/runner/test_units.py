"""Runner units: async saver semantics, pure policy decisions, IMDS poller protocol, CLI errors."""

from __future__ import annotations

import logging
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from spotplan.errors import CheckpointError, ConfigError
from spotplan.runner import checkpoint as ck
from spotplan.runner.policy import (
    ExitCode,
    IntervalUnit,
    emergency_save_fits,
    interval_steps,
    should_checkpoint,
)
from spotplan.runner.signals import ImdsPoller, NoticeFlag, parse_instance_action
from spotplan.runner.snapshot import Saver, SnapshotBuffers
from spotplan.runner.storage import LocalStorage, Uploader, UploadResult
from tests.support.http import QuietHandler
from tests.support.runner import make_plan, write_plan


def test_snapshot_is_isolated_from_later_training(tmp_path: Path) -> None:
    """An async save persists the values at snapshot time even if training overwrites the tensors at once."""
    live = {"w": torch.arange(1 << 20, dtype=torch.float32)}
    saver = Saver(tmp_path, keep_last_k=2, async_save=True)
    saver.save(step=1, kind="periodic", tensors=live, state={}, config_hash="h", plan_id="p")
    live["w"].mul_(1.0)  # forward/backward only read the weights while the snapshot copies them
    saver.fence()
    live["w"].fill_(-1.0)  # the optimizer step, after the fence
    saver.close()
    got = ck.load_checkpoint(ck.step_dir(tmp_path, 1)).tensors["w"]
    assert torch.equal(got, torch.arange(1 << 20, dtype=torch.float32))


def test_failed_persist_surfaces_on_next_save_and_at_close(tmp_path: Path) -> None:
    """A background write that fails raises CheckpointError at the next save, and at close(); never silently."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the checkpoint directory should be")
    results = []
    saver = Saver(blocker, keep_last_k=2, async_save=True, on_done=results.append)
    t = {"w": torch.ones(4)}
    saver.save(step=1, kind="periodic", tensors=t, state={}, config_hash="h", plan_id="p")
    with pytest.raises(CheckpointError, match="background save of step 1"):
        saver.save(step=2, kind="periodic", tensors=t, state={}, config_hash="h", plan_id="p")
    saver.close()  # the error was reported once; step 2 was never started
    saver.save(step=3, kind="final", tensors=t, state={}, config_hash="h", plan_id="p")
    with pytest.raises(CheckpointError, match="background save of step 3"):
        saver.close()
    assert [(r.step, r.ok) for r in results] == [(1, False), (3, False)]


def test_at_most_one_save_in_flight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second save waits for the first persist to finish before it snapshots."""
    import spotplan.runner.snapshot as snap

    active, peak, lock = [0], [0], threading.Lock()
    real = snap.write_checkpoint

    def slow(root: Path, c: ck.Checkpoint) -> ck.CommitInfo:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        try:
            return real(root, c)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(snap, "write_checkpoint", slow)
    saver = Saver(tmp_path, keep_last_k=5, async_save=True)
    for step in range(1, 5):
        saver.save(step=step, kind="periodic", tensors={"w": torch.full((8,), float(step))}, state={},
                   config_hash="h", plan_id="p")
    saver.close()
    assert peak[0] == 1 and ck.committed_steps(tmp_path) == [4, 3, 2, 1]


def test_sync_save_blocks_for_the_whole_write(tmp_path: Path) -> None:
    """With async off the save returns only after the manifest is committed."""
    saver = Saver(tmp_path, keep_last_k=1, async_save=False)
    saver.save(step=3, kind="final", tensors={"w": torch.ones(3)}, state={}, config_hash="h", plan_id="p")
    assert ck.committed_steps(tmp_path) == [3] and saver.last is not None and saver.last.ok


def test_snapshot_buffers_are_reused() -> None:
    """Buffers are allocated once per tensor and reused by later snapshots (no repeated first-touch cost)."""
    bufs = SnapshotBuffers()
    first = bufs.copy({"w": torch.ones(5)})["w"]
    second = bufs.copy({"w": torch.zeros(5)})["w"]
    assert first.data_ptr() == second.data_ptr() and torch.equal(second, torch.zeros(5))


def test_policy_decisions() -> None:
    """Interval conversion, due checks and the emergency-save deadline test."""
    plan = make_plan(checkpoint_interval_s=6.0, checkpoint_interval_steps=10)
    assert interval_steps(plan, IntervalUnit.STEPS) == 10
    assert interval_steps(plan, IntervalUnit.SECONDS, 0.5) == 12
    assert interval_steps(plan, IntervalUnit.SECONDS, 100.0) == 1
    with pytest.raises(ConfigError):
        interval_steps(plan, IntervalUnit.SECONDS, None)
    assert should_checkpoint(20, 10, 10) and not should_checkpoint(19, 10, 10)
    assert emergency_save_fits(now_s=0, deadline_s=120, expected_s=10)
    assert not emergency_save_fits(now_s=0, deadline_s=120, expected_s=100)
    assert not emergency_save_fits(now_s=130, deadline_s=120, expected_s=0.1)
    assert int(ExitCode.PREEMPTED) == 75 and int(ExitCode.COMPLETED) == 0


def test_instance_action_parsing() -> None:
    """The IMDS document's time is ISO-8601 UTC with a Z suffix."""
    action, t = parse_instance_action(b'{"action": "stop", "time": "2017-09-18T08:22:00Z"}')
    assert action == "stop" and t == 1505722920.0


class _Tokened(QuietHandler):
    expired_once = True

    def do_PUT(self) -> None:
        self._reply(200, b"T1" if type(self).expired_once else b"T2")

    def do_GET(self) -> None:
        token = self.headers.get("X-aws-ec2-metadata-token")
        if token == "T1":  # the first token expires: 401, and the poller must fetch a new one
            type(self).expired_once = False
            return self._reply(401, b"")
        if token != "T2":
            return self._reply(401, b"")
        self._reply(200, b'{"action": "terminate", "time": "2030-01-01T00:00:00Z"}')



def test_imds_poller_refreshes_expired_token() -> None:
    """A 401 drops the token; the next poll PUTs a new one and reads the notice."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Tokened,), {"expired_once": True}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        flag = NoticeFlag()
        poller = ImdsPoller(flag, endpoint=f"http://127.0.0.1:{server.server_address[1]}", poll_s=0.01)
        assert poller.poll_once() is None  # 401 with the expired token is "no notice yet", not an error
        notice = poller.poll_once()
        assert notice is not None and notice.source == "imds" and notice.deadline_s == 1893456000.0
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_imds_is_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    """Off EC2 the poller finds nothing listening, warns once, keeps polling and sets no notice."""
    flag = NoticeFlag()
    polls: list[float] = []
    poller = ImdsPoller(flag, endpoint="http://127.0.0.1:9", poll_s=0.01, timeout_s=0.2)
    real_poll = poller.poll_once

    def counted() -> object:
        polls.append(time.monotonic())
        return real_poll()

    poller.poll_once = counted  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        poller.start()
        deadline = time.monotonic() + 10
        while len(polls) < 5 and time.monotonic() < deadline:  # several failed polls, not one
            time.sleep(0.01)
        assert poller.is_alive(), "the poller thread died on an unreachable IMDS"
        poller.stop()
        poller.join(timeout=2)
    assert len(polls) >= 5 and not poller.is_alive() and flag.notice is None
    warnings = [r for r in caplog.records if "IMDS" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]


def test_cli_bad_inputs_are_one_line_exit_2(tmp_path: Path, run_cli) -> None:
    """Missing plan, unknown model size, unavailable CUDA: one line on stderr, exit 2."""
    code, _, err = run_cli("run", str(tmp_path / "missing.yaml"))
    assert code == 2 and "does not exist" in err and len(err.strip().splitlines()) == 1
    plan = write_plan(tmp_path / "plan.yaml")
    code, _, err = run_cli("run", str(plan), "--checkpoint-dir", str(tmp_path / "c"), "--model-size", "tinny")
    assert code == 2 and "did you mean 'tiny'" in err and "Traceback" not in err
    if not torch.cuda.is_available():
        code, _, err = run_cli("run", str(plan), "--device", "cuda", "--checkpoint-dir", str(tmp_path / "c"))
        assert code == 2 and "no CUDA device" in err


def test_checkpoint_from_other_config_is_refused(tmp_path: Path, run_cli) -> None:
    """Resuming a directory written with another seed fails with one line instead of mixing runs."""
    plan = write_plan(tmp_path / "plan.yaml")
    args = ("run", str(plan), "--checkpoint-dir", str(tmp_path / "c"), "--model-size", "tiny", "--no-imds",
            "--max-steps", "10", "--device", "cpu")
    assert run_cli(*args)[0] == 0
    code, _, err = run_cli(*args, "--seed", "1")
    assert code == 2 and "another configuration" in err


class _FlakyStorage(LocalStorage):
    """A mirror directory that refuses writes while ``down`` (a stopped server)."""

    down = True

    def put_file(self, key: str, src: Path) -> None:
        if self.down:
            raise ConnectionError("server stopped")
        super().put_file(key, src)


def test_uploader_retries_with_backoff_until_storage_returns(tmp_path: Path) -> None:
    """While the remote is down uploads fail and are retried with backoff; the local copy stays; then it lands."""
    root = tmp_path / "local"
    ck.write_checkpoint(root, ck.Checkpoint(step=1, config_hash="h", plan_id="p", tensors={"w": torch.ones(9)},
                                            state={}))
    remote = _FlakyStorage(tmp_path / "remote")
    results: list[UploadResult] = []
    up = Uploader(remote, root, keep_last_k=2, on_result=results.append, backoff_s=0.01, max_backoff_s=0.05)
    up.start()
    up.submit(1)
    assert not up.drain(0.3)
    assert len(results) >= 3 and not any(r.ok for r in results)
    assert ck.committed_steps(root) == [1]
    remote.down = False
    assert up.drain(10.0)
    up.stop()
    assert results[-1].ok and results[-1].attempt == len(results) and remote.committed_steps() == [1]
    for name in (*ck.DATA_FILES, ck.MANIFEST):
        assert (remote.root / "step_0000000001" / name).read_bytes() == (root / "step_0000000001" / name).read_bytes()


def test_uploader_skips_superseded_steps_and_prunes_remote(tmp_path: Path) -> None:
    """Steps committed while an upload is pending are collapsed to the newest; the remote keeps the last K."""
    root = tmp_path / "local"
    remote = _FlakyStorage(tmp_path / "remote")
    remote.down = False
    up = Uploader(remote, root, keep_last_k=2, backoff_s=0.01)
    for step in (1, 2, 3, 4):
        ck.write_checkpoint(root, ck.Checkpoint(step=step, config_hash="h", plan_id="p",
                                                tensors={"w": torch.ones(3)}, state={}))
        up.submit(step)
    up.start()
    assert up.drain(10.0)
    up.stop()
    assert remote.committed_steps()[0] == 4 and len(remote.committed_steps()) <= 2


def test_plan_sized_model_too_big_for_memory_is_a_config_error(tmp_path: Path, run_cli) -> None:
    """A 70B plan on this machine is refused with one line naming --model-size, before any allocation."""
    from spotplan.schemas.plan import ModelSpec

    plan = make_plan(model=ModelSpec(model_size="70B", n_params=70_000_000_000, tokens=10**9, seq_len=2048,
                                     global_batch_tokens=2**20, step_time_s=10.0, total_steps=1000,
                                     checkpoint_bytes=10**12))
    plan.dump(tmp_path / "big.yaml")
    code, _, err = run_cli("run", str(tmp_path / "big.yaml"), "--checkpoint-dir", str(tmp_path / "c"),
                           "--device", "cpu", "--no-imds")
    assert code == 2 and "--model-size" in err and "GiB" in err


def test_seconds_interval_is_converted_with_measured_step_time(tmp_path: Path) -> None:
    """With --interval-unit seconds, saves start after the step-time probe, spaced by interval_s / step time."""
    from spotplan.runner.loop import STEP_TIME_PROBE, RunOptions, run
    from tests.support.runner import read_log

    plan = make_plan(checkpoint_interval_s=1e-6)  # shorter than any step: one save per step after the probe
    report = run(RunOptions(plan=plan, checkpoint_dir=tmp_path, device="cpu", model_size="tiny", max_steps=12,
                            interval_unit=IntervalUnit.SECONDS, imds=False, corpus_bytes=1 << 20))
    saves = [e["step"] for e in read_log(tmp_path / "run_log.jsonl") if e["event"] == "save"]
    assert report.exit_code == 0 and report.interval_steps == 1
    assert saves == list(range(STEP_TIME_PROBE + 1, 13))


def test_runner_never_imports_simpy_or_streamlit() -> None:
    """The runner depends on spotplan.schemas and torch only (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys, spotplan.runner.loop, spotplan.runner.calibrate, spotplan.commands.runner; "
            "print(sorted(m for m in ('simpy', 'streamlit', 'spotplan.simulator', 'spotplan.advisor') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.strip() == "[]"


class _Hostile(QuietHandler):
    """An IMDS that misbehaves in every way before it sends a valid notice (one response per request)."""

    token_script: ClassVar[list[str]] = []
    body_script: ClassVar[list[bytes | int]] = []

    def do_PUT(self) -> None:
        step = type(self).token_script.pop(0) if type(self).token_script else "ok"
        if step == "slow":
            time.sleep(0.5)  # past the poller's 0.2 s timeout
            return self._reply(200, b"T")
        if step == "refuse":
            return self._reply(403, b"")
        self._reply(200, b"T")

    def do_GET(self) -> None:
        item = type(self).body_script.pop(0) if type(self).body_script else VALID_NOTICE
        if isinstance(item, int):
            return self._reply(item, b"")
        self._reply(200, item)



VALID_NOTICE = b'{"action": "terminate", "time": "2030-01-01T00:00:00Z"}'
HOSTILE_BODIES: list[bytes | int] = [
    b"[]", b'"terminate"', b"null", b"42", b"[" * 100_000 + b"]" * 100_000, b"[" * 2000 + b"]" * 2000,
    b'{"action": "terminate"}',
    b'{"action": ["terminate"], "time": "2030-01-01T00:00:00Z"}', b'{"action": "reboot", "time": "2030-01-01"}',
    b'{"action": "terminate", "time": {"t": 1}}', b'{"action": "terminate", "time": "soon"}',
    b'{"action": "terminate", "time": "' + b"9" * 10_000 + b'"}', b"\xff\xfe not utf-8", b"{" * 50, 500, 503,
]


def test_imds_poller_survives_hostile_responses_then_reads_the_notice(caplog: pytest.LogCaptureFixture) -> None:
    """Slow and refusing token endpoints, non-object, nested, oversized and malformed bodies and 5xx: each is one
    failed poll, the thread keeps polling and the valid notice that follows is delivered."""
    handler = type("H", (_Hostile,), {"token_script": ["slow", "refuse"], "body_script": list(HOSTILE_BODIES)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    flag = NoticeFlag()
    poller = ImdsPoller(flag, endpoint=f"http://127.0.0.1:{server.server_address[1]}", poll_s=0.01, timeout_s=0.2)
    try:
        with caplog.at_level(logging.WARNING):
            poller.start()
            poller.join(timeout=60)
        assert not poller.is_alive(), "no notice after the hostile responses"
        assert flag.notice is not None and flag.notice.action == "terminate"
        assert flag.notice.deadline_s == 1893456000.0
        assert poller.failures >= 2 + len(HOSTILE_BODIES)
        said = [r.getMessage() for r in caplog.records if "IMDS" in r.getMessage()]
        assert len(said) == 2, said  # unreachable/refused once, bad document once
    finally:
        poller.stop()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("body", [b for b in HOSTILE_BODIES if isinstance(b, bytes)])
def test_instance_action_rejects_hostile_bodies_with_a_value_error(body: bytes) -> None:
    """Every malformed document is a ValueError naming what was wrong, never another exception."""
    with pytest.raises(ValueError, match="instance-action"):
        parse_instance_action(body)


def test_instance_action_time_without_zone_is_utc() -> None:
    """IMDS times are UTC; a time written without a zone is read as UTC, not as the machine's local time."""
    assert parse_instance_action(b'{"action": "terminate", "time": "2030-01-01T00:00:00"}')[1] == 1893456000.0


def test_disk_full_during_a_save_still_writes_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC while persisting step 20: the run stops with the error (exit 2 from the CLI), and the report says the
    step training reached and that step 10 is the last committed one."""
    import errno

    from spotplan.runner import checkpoint as ckpt_mod
    from spotplan.runner.loop import RunOptions, run
    from spotplan.schemas.run_report import RunReport

    real = ckpt_mod.write_buffers

    def full(path: Path, buffers: object) -> tuple[str, int]:
        if path.parent.name >= "step_0000000020":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, buffers)

    monkeypatch.setattr(ckpt_mod, "write_buffers", full)
    root = tmp_path / "ck"
    opts = RunOptions(plan=make_plan(), checkpoint_dir=root, device="cpu", model_size="tiny", max_steps=50,
                      imds=False, corpus_bytes=1 << 20)
    with pytest.raises(CheckpointError, match="No space left"):
        run(opts)
    report = RunReport.load(root / "run_report.json")
    assert report.exit_code == 2 and "No space left" in report.exit_reason
    assert report.last_committed_step == 10 and report.end_step == 30  # surfaced by the save of step 30
    assert ck.committed_steps(root) == [10]


@pytest.mark.parametrize("command", ["run", "launch", "calibrate"])
def test_runner_help_fits_80_columns_without_cut_cells(command: str, run_cli,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``--help`` of the runner's commands at 80 columns: every cell readable, nothing cut to '…'."""
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run_cli(command, "--help")
    assert code == 0 and "Usage: spotplan " + command in out
    assert "…" not in out, [line for line in out.splitlines() if "…" in line]
