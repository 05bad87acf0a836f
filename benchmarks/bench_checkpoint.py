"""Checkpoint I/O benchmark: save throughput vs raw disk bandwidth, async stall vs sync save, restore time.

All figures come from one run on one directory, after a warm-up (the VM's first touch of fresh memory costs
1.5-2.4 s per GiB, stack notes §6). Baseline: ``dd if=/dev/zero bs=1M conv=fdatasync`` of the same size into the
same directory. Runs are interleaved (dd, a plain training step, a step with a sync save, a step with an async save, restore) so background load
hits all of them. The async stall is what ``Saver.save()`` and ``Saver.fence()`` (before ``optimizer.step()``)
blocked the training thread; the snapshot copy overlaps the step's forward and backward passes.

    .venv/bin/python benchmarks/bench_checkpoint.py [--size large] [--repeats 5] [--dir DIR] [--append]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from report import add_row  # benchmarks/report.py (scripts run from benchmarks/)

from spotplan.runner.calibrate import disk_of, sample_train_state
from spotplan.runner.checkpoint import load_checkpoint, step_dir
from spotplan.runner.corpus import DataPosition
from spotplan.runner.fsio import HASH_NAME
from spotplan.runner.job import device_name, resolve_device
from spotplan.runner.model import VOCAB_SIZE, named_config
from spotplan.runner.snapshot import Saver
from spotplan.runner.state import capture, restore

ROOT = Path(__file__).resolve().parents[1]


def dd_seconds(directory: Path, mib: int) -> float:
    """Wall time of ``dd`` writing ``mib`` MiB of zeros with fdatasync into ``directory``."""
    target = directory / "dd.bin"
    out = subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mib}", "conv=fdatasync"],
                         capture_output=True, text=True, check=True).stderr
    target.unlink()
    match = re.search(r"copied, ([0-9.]+) s", out)
    assert match, out
    return float(match.group(1))


def train_step(ts, batch: torch.Tensor, saver: Saver | None = None) -> None:
    """One real AdamW step of the runner's model; ``saver.fence()`` sits where the training loop has it."""
    ts.optimizer.zero_grad(set_to_none=True)
    ts.model.loss(batch[:, :-1], batch[:, 1:]).backward()
    if saver is not None:
        saver.fence()
    ts.optimizer.step()


def one_round(ts, batch: torch.Tensor, savers: tuple[Saver, Saver], directory: Path, mib: int,
              step: int) -> dict[str, float]:
    """dd, a plain step, a step with a sync save, a step with an async save, restore: one interleaved round.

    The two savers live across rounds, as in the training loop, so their snapshot buffers are reused.
    """
    sync, asyn = savers
    res = {"dd_s": dd_seconds(directory, mib)}
    t0 = time.perf_counter()
    train_step(ts, batch)
    res["step_s"] = time.perf_counter() - t0
    tensors, state = capture(ts, position=DataPosition())
    t0 = time.perf_counter()
    res["sync_save_s"] = sync.save(step=step, kind="periodic", tensors=tensors, state=state, config_hash="b",
                                   plan_id="b")
    train_step(ts, batch)
    res["sync_step_s"] = time.perf_counter() - t0
    res["persist_s"] = sync.last.persist_s if sync.last and sync.last.persist_s else float("nan")
    res["bytes"] = float(sync.last.bytes if sync.last else 0)
    tensors, state = capture(ts, position=DataPosition())
    t0 = time.perf_counter()
    stall = asyn.save(step=step, kind="periodic", tensors=tensors, state=state, config_hash="b", plan_id="b")
    t1 = time.perf_counter()
    train_step(ts, batch, asyn)
    res["async_step_s"] = time.perf_counter() - t0
    asyn.close()
    res["async_total_s"] = time.perf_counter() - t0
    res["async_stall_s"] = asyn.last.blocking_s if asyn.last else stall + (t1 - t0)
    t0 = time.perf_counter()
    restore(ts, load_checkpoint(step_dir(directory / "sync", step)))
    if next(ts.model.parameters()).is_cuda:
        torch.cuda.synchronize()
    res["restore_s"] = time.perf_counter() - t0
    return res


SECTION = "## Runner: checkpoint I/O"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="large", help="runner model size whose GPT+AdamW state is saved")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=2, help="sequences in the timed training step (CPU time budget)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    ap.add_argument("--dir", type=Path, default=None, help="directory to measure (default: a temp dir in the repo)")
    ap.add_argument("--append", action="store_true", help="append a row to BENCHMARKS.md")
    args = ap.parse_args()
    device = resolve_device(args.device)
    directory = args.dir or Path(tempfile.mkdtemp(prefix=".bench-ckpt-", dir=ROOT))
    try:
        ts = sample_train_state(args.size, device)
        tensors, _ = capture(ts, position=DataPosition())
        mib = max(1, round(sum(t.numel() * t.element_size() for t in tensors.values()) / 2**20))
        savers = (Saver(directory / "sync", keep_last_k=1, async_save=False),
                  Saver(directory / "async", keep_last_k=1, async_save=True))
        cfg = named_config(args.size)
        gen = torch.Generator().manual_seed(0)
        batch = torch.randint(0, VOCAB_SIZE, (args.batch, cfg.seq_len + 1), generator=gen).to(device)
        one_round(ts, batch, savers, directory, mib, 0)  # warm-up: buffers, page cache, first-touch memory
        rounds = [one_round(ts, batch, savers, directory, mib, i + 1) for i in range(args.repeats)]
    finally:
        if args.dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    n = med["bytes"]
    dd_bw, persist_bw, sync_bw = mib * 2**20 / med["dd_s"], n / med["persist_s"], n / med["sync_save_s"]
    load = os.getloadavg()[0]
    lines = [
        (f"state {n / 2**20:.0f} MiB ({args.size}, {device_name(device)}), {args.repeats} rounds after warm-up, "
         f"median; load average {load:.1f} on {os.cpu_count()} CPUs; torch threads {torch.get_num_threads()}"),
        f"dd conv=fdatasync {med['dd_s']:.3f} s = {dd_bw / 1e6:.0f} MB/s (baseline)",
        (f"persist (write+xxh3+fsync+manifest) {med['persist_s']:.3f} s = {persist_bw / 1e6:.0f} MB/s "
         f"= {persist_bw / dd_bw:.2f}x dd"),
        f"sync save (on the training thread) {med['sync_save_s']:.3f} s = {sync_bw / 1e6:.0f} MB/s = {sync_bw / dd_bw:.2f}x dd",
        (f"async save stall {med['async_stall_s']:.3f} s = {med['async_stall_s'] / med['sync_save_s']:.3f}x sync "
         f"save (async total {med['async_total_s']:.3f} s)"),
        (f"training step {med['step_s']:.3f} s; with sync save {med['sync_step_s']:.3f} s; with async save "
         f"{med['async_step_s']:.3f} s (+{med['async_step_s'] - med['step_s']:.3f} s incl. CPU contention)"),
        f"restore (read+verify+load) {med['restore_s']:.3f} s = {n / med['restore_s'] / 1e6:.0f} MB/s",
    ]
    print("\n".join(lines))
    if args.append:
        row = (f"| {datetime.now(UTC):%Y-%m-%d} | {platform.node() or 'vm'} ({os.cpu_count()} CPU, load "
               f"{load:.1f}, {disk_of(ROOT)}) | {device_name(device)} {args.size} {n / 2**20:.0f} MiB, "
               f"{HASH_NAME} | {dd_bw / 1e6:.0f} MB/s | {persist_bw / 1e6:.0f} MB/s ({persist_bw / dd_bw:.2f}x) "
               f"| {sync_bw / 1e6:.0f} MB/s ({sync_bw / dd_bw:.2f}x) | {med['sync_save_s']:.3f} s "
               f"| {med['async_stall_s']:.3f} s ({med['async_stall_s'] / med['sync_save_s']:.3f}x) "
               f"| {med['restore_s']:.3f} s |\n")
        add_row(SECTION, row)


if __name__ == "__main__":
    main()
