"""Under torchrun: load one DCP step into an FSDP job's live layout and compare it with a full load.

    python -m torch.distributed.run --standalone --nproc_per_node=N -m tests.support.sharded_load PLAN STEP_DIR OUT

Every rank builds the tiny job, shards it (``runner.fsdp.shard``), loads STEP_DIR twice: with the live layout
(each rank reads its own slices) and in full. It writes ``OUT.RANK`` (JSON): the bytes each load holds on this
rank, how many entries came back as DTensors, and whether every sharded entry, gathered, equals the full load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from spotplan.runner import dist as rdist
from spotplan.runner.checkpoint import load_checkpoint
from spotplan.runner.fsdp import layout, shard
from spotplan.runner.job import build_job
from spotplan.runner.state import local_bytes
from spotplan.schemas.plan import Plan


def main(plan_path: str, step_dir: str, out: str) -> None:
    world = rdist.world_from_env()
    device = torch.device("cpu")
    rdist.start(world, device)
    try:
        job = shard(build_job(Plan.load(Path(plan_path)), model_size="tiny", device=device, seed=0,
                              corpus_bytes=1 << 20, shards=world.size))
        sharded = load_checkpoint(Path(step_dir), layout=layout(job.train))
        full = load_checkpoint(Path(step_dir))
        names = sorted(sharded.tensors)
        dtensors = [n for n in names if type(sharded.tensors[n]).__name__ == "DTensor"]
        equal = names == sorted(full.tensors) and all(
            torch.equal(sharded.tensors[n].full_tensor() if n in dtensors else sharded.tensors[n], full.tensors[n])
            for n in names)  # full_tensor() is a collective: every rank walks the same sorted names
        Path(f"{out}.{world.rank}").write_text(json.dumps({
            "sharded_bytes": sum(local_bytes(t) for t in sharded.tensors.values()),
            "full_bytes": sum(local_bytes(t) for t in full.tensors.values()),
            "dtensors": len(dtensors), "entries": len(names), "equal": equal,
        }))
    finally:
        rdist.stop(world)


if __name__ == "__main__":
    main(*sys.argv[1:4])
