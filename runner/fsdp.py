"""FSDP2 (``torch.distributed.fsdp.fully_shard``) for a plan whose model does not fit one device.

Each transformer block and the root are sharded over the ranks: parameters, gradients and AdamW moments become
DTensors, each rank holding its slice (the advisor's sizing assumes exactly this, ZeRO-3 style). AdamW and the
learning-rate schedule are built over the sharded parameters, so the trajectory is DDP's: same global batch,
gradients averaged over the ranks. Checkpoints go through DCP, which writes each rank's own slices. A restore
reads only this rank's slices (``layout``: DCP fills empty DTensors laid out like the live ones, reading the byte
ranges of the saved chunks they overlap, at any saved width), so no rank ever holds the full state; a step saved
by one process (safetensors) is cut into the live shards after loading (``place``). Either way a step saved at
any width, or by one process, loads here and the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor, distribute_tensor

from spotplan.runner.job import BETAS, LR, WEIGHT_DECAY, Job, lr_factor
from spotplan.runner.state import TrainState


def shard(job: Job) -> Job:
    """``job`` with its model fully sharded (every block, then the root) and a fresh AdamW and schedule over it."""
    model = job.train.model
    for block in model.blocks:  # type: ignore[union-attr]
        fully_shard(block)
    fully_shard(model)
    total = job.total_steps
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total))
    return replace(job, train=TrainState(model=model, optimizer=opt, scheduler=sched))


def is_sharded(ts: TrainState) -> bool:
    return any(isinstance(p, DTensor) for p in ts.model.parameters())


Layout = Callable[[str], DTensor | None]  # checkpoint entry name -> the live DTensor whose layout it takes


def layout(ts: TrainState) -> Layout:
    """Where each checkpoint entry lives in ``ts``: the parameter (model/, and its AdamW moments under optim/)."""
    live = ts.model.state_dict()
    params = [p for g in ts.optimizer.param_groups for p in g["params"]]
    ids = [i for g in ts.optimizer.state_dict()["param_groups"] for i in g["params"]]
    by_id: dict[str, Any] = {str(i): p for i, p in zip(ids, params, strict=True)}

    def like(name: str) -> DTensor | None:
        t = None
        if name.startswith("model/"):
            t = live.get(name.removeprefix("model/"))
        elif name.startswith("optim/") and not name.endswith("/step"):
            t = by_id.get(name.split("/")[1])
        return t if isinstance(t, DTensor) else None

    return like


def place(ts: TrainState, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint, with every full tensor of a sharded entry cut into the live DTensor layout."""
    like_of = layout(ts)
    out: dict[str, torch.Tensor] = {}
    for name, t in tensors.items():
        like = like_of(name)
        if like is not None and not isinstance(t, DTensor):
            # every rank holds the full tensor (a one-process step): cut its own slice, no collective
            t = distribute_tensor(t.to(like.device), like.device_mesh, like.placements, src_data_rank=None)
        out[name] = t
    return out
