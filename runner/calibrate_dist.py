"""``spotplan calibrate --nproc N``: the same measurements as a single-process calibration, at world size N.

Run by ``spotplan calibrate`` under ``torchrun --standalone --nproc_per_node=N`` (never by hand). Every rank
builds the runner's real GPT + AdamW state of each size and saves it with the ``ShardedSaver`` that ``spotplan run``
uses under torchrun (DCP shards, rank 0 commits); restore is the verified load of that step back into the state.
Per cycle: ``snapshot_s`` is what the save blocked training (the async stall), ``persist_s`` the slowest rank's
time until its shard was written and hashed, ``restore_s`` the slowest rank's restore. Rank 0 fits and writes the
Calibration, recording world size, backend and device, so the advisor plans multi-GPU jobs with multi-GPU costs.

    python -m torch.distributed.run --standalone --nproc_per_node=N -m spotplan.runner.calibrate_dist \\
        OUT ROOT REPEATS DEVICE SIZE [SIZE ...]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from spotplan.runner import dist as rdist
from spotplan.runner.calibrate import fit_calibration, machine_info, sample_train_state
from spotplan.runner.checkpoint import load_checkpoint, step_dir
from spotplan.runner.corpus import DataPosition
from spotplan.runner.job import resolve_device
from spotplan.runner.sharded import ShardedSaver
from spotplan.runner.state import TrainState, capture, restore
from spotplan.schemas.calibration import CalibrationPoint


def _cycle(ts: TrainState, saver: ShardedSaver, root: Path, step: int, world: rdist.World,
           device: torch.device) -> tuple[float, float, float, int]:
    tensors, state = capture(ts, position=DataPosition())
    stall_s = saver.save(step=step, kind="periodic", tensors=tensors, state=state, config_hash="calibrate",
                         plan_id="calibrate", config={}, world_size=world.size)
    saver.wait()
    rdist.barrier(world)
    t0 = time.perf_counter()
    restore(ts, load_checkpoint(step_dir(root, step)))
    if device.type == "cuda":
        torch.cuda.synchronize()
    restore_s = time.perf_counter() - t0
    gathered = rdist.gather_to_main(world, (stall_s, restore_s))
    last = saver.last
    if gathered is None or last is None:
        return 0.0, 0.0, 0.0, 0
    stalls, restores = zip(*gathered, strict=True)  # type: ignore[misc]
    return max(stalls), float(last.persist_s or 0.0), max(restores), last.bytes


def main(argv: list[str]) -> int:
    out, root, repeats, device_arg, *sizes = argv
    world = rdist.world_from_env()
    device = rdist.rank_device(world, resolve_device(None if device_arg == "auto" else device_arg))
    rdist.start(world, device)
    root_path = Path(root)
    points: list[CalibrationPoint] = []
    try:
        for size in sizes:
            ts = sample_train_state(size, device)
            saver = ShardedSaver(root_path / size, rank=world.rank, keep_last_k=1, async_save=True)
            _cycle(ts, saver, root_path / size, 0, world, device)  # warm-up: first touch of fresh memory
            runs = [_cycle(ts, saver, root_path / size, i + 1, world, device) for i in range(int(repeats))]
            saver.close()
            if world.is_main:
                snap, persist, rest = (statistics.median(r[k] for r in runs) for k in range(3))
                points.append(CalibrationPoint(state_bytes=runs[0][3], snapshot_s=snap, persist_s=persist,
                                               restore_s=rest, repeats=int(repeats)))
        if world.is_main:
            backend = dist.get_backend() if dist.is_initialized() else ""
            machine = machine_info(device, root_path, world_size=world.size, backend=backend)
            cal = fit_calibration(points, machine, checkpoint_dir=str(root_path))
            cal.dump(Path(out))
        rdist.stop(world)
    except BaseException:
        rdist.stop(world, clean=False)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
