"""Sharded DCP checkpoints under torchrun: training stall of an async save against a sync save, same run set.

Runs ``spotplan run`` under ``torchrun --standalone --nproc_per_node=N`` twice per repeat, interleaved (sync, then
async), on one model size, checkpointing every ``--every`` steps, and reads rank 0's run log: ``blocking_s`` is
what each save blocked the training loop (sync: the whole DCP write, hashing and commit; async: the wait for the
previous save, the barrier and DCP's copy of the state into CPU memory), ``persist_s`` the slowest rank's time
until its shard was written and hashed. The first save of each run is left out (first touch of fresh memory).
On CPU the ranks use gloo; on a CUDA machine pass ``--device cuda`` (one rank per GPU).

    .venv/bin/python benchmarks/bench_dcp.py [--size medium] [--nproc 2] [--repeats 2] [--append]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from report import add_row, machine_label  # benchmarks/report.py (scripts run from benchmarks/)

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Runner: sharded DCP save under torchrun"


def _plan(path: Path, every: int) -> None:
    sys.path.insert(0, str(REPO))
    from tests.support.runner import write_plan

    write_plan(path, checkpoint_interval_steps=every, keep_last_k=2)


def _run(plan: Path, root: Path, *, size: str, nproc: int, steps: int, device: str, sync: bool) -> list[dict]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "spotplan.cli", "run", str(plan), "--checkpoint-dir", str(root), "--model-size", size,
           "--device", device, "--no-imds", "--max-steps", str(steps), *(["--sync-save"] if sync else [])]
    env = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise SystemExit(f"torchrun failed ({done.returncode}): {done.stderr[-2000:]}")
    events = [json.loads(line) for line in (root / "run_log.jsonl").read_text().splitlines()]
    saves = [e for e in events if e["event"] == "save" and e.get("ok")]
    return saves[1:]  # the first save pays the first touch of fresh memory


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="medium")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--steps", type=int, default=36)
    ap.add_argument("--every", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--append", action="store_true", help=f"add the row to BENCHMARKS.md ({SECTION})")
    args = ap.parse_args()
    stalls: dict[bool, list[float]] = {True: [], False: []}
    persists: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "plan.yaml"
        _plan(plan, args.every)
        for r in range(args.repeats):
            for sync in (True, False):
                saves = _run(plan, Path(tmp) / f"ck-{r}-{sync}", size=args.size, nproc=args.nproc,
                             steps=args.steps, device=args.device, sync=sync)
                stalls[sync] += [s["blocking_s"] for s in saves]
                if not sync:
                    persists += [s["persist_s"] for s in saves]
                mb = saves[-1]["bytes"] / 1e6
    sync_s, async_s = statistics.median(stalls[True]), statistics.median(stalls[False])
    row = (f"| {datetime.now(UTC).date()} | {machine_label()} | {args.size}, {mb:.0f} MB, {args.nproc} ranks "
           f"({args.device}) | {sync_s * 1e3:.0f} ms | {async_s * 1e3:.0f} ms | **{async_s / sync_s:.3f}x** | "
           f"{statistics.median(persists) * 1e3:.0f} ms | {len(stalls[True])}+{len(stalls[False])} |")
    print(row)
    if args.append:
        add_row(SECTION, row)


if __name__ == "__main__":
    main()
