"""``spotplan calibrate``: measure, after a warm-up, the blocking snapshot, the persist (write, fsync, commit)
and the verified restore of real training states of several sizes, then fit ``time_s = a + bytes / bandwidth``.

The states are the runner's own GPT + AdamW states (weights, two moments, RNG), saved with the same code path as
``spotplan run``. Predictions beyond the largest measured size are extrapolations and are labelled as such.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from spotplan.errors import ConfigError
from spotplan.runner.checkpoint import Checkpoint, load_checkpoint, step_dir, write_checkpoint
from spotplan.runner.corpus import DataPosition
from spotplan.runner.job import device_name, resolve_device
from spotplan.runner.model import VOCAB_SIZE, build_model, named_config
from spotplan.runner.runlog import utc_iso
from spotplan.runner.snapshot import SnapshotBuffers
from spotplan.runner.state import TrainState, capture, restore
from spotplan.schemas.calibration import Calibration, CalibrationPoint, LinearCostFit, MachineInfo

DEFAULT_SIZES = ("small", "base", "medium")


def sample_train_state(size: str, device: torch.device) -> TrainState:
    """A model of ``size`` after one AdamW step, so the optimizer moments exist."""
    cfg = named_config(size)
    model = build_model(cfg, seed=0, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, VOCAB_SIZE, (cfg.batch_size, cfg.seq_len + 1), generator=gen).to(device)
    model.loss(x[:, :-1], x[:, 1:]).backward()
    opt.step()
    sched.step()
    return TrainState(model=model, optimizer=opt, scheduler=sched)


def _cycle(ts: TrainState, buffers: SnapshotBuffers, root: Path, step: int) -> tuple[float, float, float, int]:
    """One snapshot -> persist -> verified restore; returns (snapshot_s, persist_s, restore_s, bytes)."""
    tensors, state = capture(ts, position=DataPosition())
    t0 = time.perf_counter()
    cpu = buffers.copy(tensors)
    snapshot_s = time.perf_counter() - t0
    info = write_checkpoint(root, Checkpoint(step=step, config_hash="calibrate", plan_id="calibrate",
                                             tensors=cpu, state=state))
    t1 = time.perf_counter()
    restore(ts, load_checkpoint(info.path))
    if ts.model.parameters().__next__().device.type == "cuda":
        torch.cuda.synchronize()
    restore_s = time.perf_counter() - t1
    shutil.rmtree(step_dir(root, step))
    return snapshot_s, info.persist_s, restore_s, info.bytes


def measure_point(size: str, device: torch.device, root: Path, repeats: int) -> CalibrationPoint:
    """Median timings of ``repeats`` cycles for one size, after one warm-up cycle (VM first-touch cost)."""
    ts = sample_train_state(size, device)
    buffers = SnapshotBuffers()
    _cycle(ts, buffers, root, 0)
    runs = [_cycle(ts, buffers, root, i + 1) for i in range(repeats)]
    snap, persist, rest = (statistics.median(r[k] for r in runs) for k in range(3))
    return CalibrationPoint(state_bytes=runs[0][3], snapshot_s=snap, persist_s=persist, restore_s=rest,
                            sync_save_s=statistics.median(r[0] + r[1] for r in runs), repeats=repeats)


def fit_linear(n_bytes: list[float], seconds: list[float]) -> LinearCostFit:
    """Least-squares ``seconds = a + bytes / bw`` with a >= 0 and bw > 0 (through the origin if a < 0)."""
    x, y = np.asarray(n_bytes, float), np.asarray(seconds, float)
    slope, intercept = np.polyfit(x, y, 1) if len(set(n_bytes)) > 1 else (0.0, -1.0)
    if intercept < 0 or slope <= 0:
        intercept, slope = 0.0, float(x @ y / (x @ x))
    slope = max(slope, 1e-15)  # a flat fit (all times ~equal) means "bandwidth not limiting"
    pred = intercept + slope * x
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1 - float(((y - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else None
    return LinearCostFit(overhead_s=float(intercept), bandwidth_bytes_per_s=1 / slope, r2=r2)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def disk_of(path: Path) -> str:
    """'<device> <fstype> on <mount point>' for the filesystem holding ``path`` (Linux /proc/mounts)."""
    target = str(path.resolve())
    best = ("", "", "")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, fstype = line.split()[:3]
            if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[1]):
                best = (dev, mnt, fstype)
    except OSError:
        return ""
    return f"{best[0]} {best[2]} on {best[1]}" if best[1] else ""


def machine_info(device: torch.device, disk_path: Path, *, world_size: int = 1, backend: str = "") -> MachineInfo:
    """Where a calibration was measured: platform, CPU, device, the disk under ``disk_path``, world and backend."""
    return MachineInfo(platform=platform.platform(), cpu=_cpu_name(), cpu_count=os.cpu_count() or 1,
                       device=device_name(device), disk=disk_of(disk_path), torch_version=torch.__version__,
                       world_size=world_size, backend=backend)


def fit_calibration(points: list[CalibrationPoint], machine: MachineInfo, *, checkpoint_dir: str) -> Calibration:
    """The Calibration of measured ``points``: each cost fitted as ``a + bytes / bandwidth``."""
    points = sorted(points, key=lambda p: p.state_bytes)
    xs = [float(p.state_bytes) for p in points]
    return Calibration(
        created_utc=utc_iso(), machine=machine, checkpoint_dir=checkpoint_dir, points=points,
        snapshot=fit_linear(xs, [p.snapshot_s for p in points]),
        persist=fit_linear(xs, [p.persist_s for p in points]),
        restore=fit_linear(xs, [p.restore_s for p in points]),
    )


def calibrate(sizes: list[str], *, device: str | None, out: Path, checkpoint_dir: Path | None,
              repeats: int = 3, nproc: int = 1) -> Calibration:
    """Measure every size, fit the three costs, write ``out`` and return the Calibration.

    ``nproc`` > 1: the measurements run under ``torchrun`` at that world size with the sharded saver
    (``spotplan.runner.calibrate_dist``), and the file records the world size and the backend.
    """
    dev = resolve_device(device)
    for s in sizes:
        named_config(s)  # unknown names fail before any measuring
    out.parent.mkdir(parents=True, exist_ok=True)
    root = checkpoint_dir or Path(tempfile.mkdtemp(prefix=".calibrate-", dir=out.parent))
    try:
        if nproc > 1:
            return _calibrate_distributed(sizes, device=device, out=out, root=root, repeats=repeats, nproc=nproc)
        points = [measure_point(s, dev, root, repeats) for s in sizes]
    finally:
        if checkpoint_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    machine = machine_info(dev, root.parent if checkpoint_dir is None else root)
    cal = fit_calibration(points, machine, checkpoint_dir=str(checkpoint_dir or out.parent))
    cal.dump(out)
    return cal


DISTRIBUTED_TIMEOUT_S = 3600.0


def _calibrate_distributed(sizes: list[str], *, device: str | None, out: Path, root: Path, repeats: int,
                           nproc: int) -> Calibration:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "spotplan.runner.calibrate_dist", str(out), str(root), str(repeats), device or "auto", *sizes]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=DISTRIBUTED_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise ConfigError(f"calibrate --nproc {nproc}: torchrun ran over {DISTRIBUTED_TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1][:300]
        raise ConfigError(f"calibrate --nproc {nproc}: torchrun exited {done.returncode} ({tail})")
    return Calibration.load(out)


def render(cal: Calibration, predict_bytes: list[float]) -> str:
    """Human summary: measured points, fits, and predictions flagged as extrapolations where they are."""
    world = (f", {cal.machine.world_size} processes ({cal.machine.backend})" if cal.machine.world_size > 1 else "")
    lines = [(f"machine: {cal.machine.cpu} x{cal.machine.cpu_count}, device {cal.machine.device}{world}, "
              f"disk {cal.machine.disk or 'unknown'}")]
    lines += [f"  {p.state_bytes / 1e6:9.1f} MB: snapshot {p.snapshot_s:.4f} s, persist {p.persist_s:.4f} s, "
              f"restore {p.restore_s:.4f} s (median of {p.repeats})" for p in cal.points]
    for name in ("snapshot", "persist", "restore"):
        f: LinearCostFit = getattr(cal, name)
        r2 = "n/a" if f.r2 is None else f"{f.r2:.3f}"
        lines.append(f"fit {name}: {f.overhead_s:.4f} s + bytes / {f.bandwidth_bytes_per_s / 1e6:.0f} MB/s "
                     f"(r2 {r2})")
    for n in predict_bytes:
        pred = cal.predict(n)
        tag = (f"EXTRAPOLATED beyond the largest measured state ({cal.max_measured_bytes / 1e6:.1f} MB)"
               if pred["extrapolated"] else "within the measured range")
        lines.append(f"predict {n / 1e9:g} GB: snapshot {pred['snapshot_s']:.2f} s, persist "
                     f"{pred['persist_s']:.2f} s, restore {pred['restore_s']:.2f} s — {tag}")
    return "\n".join(lines)
