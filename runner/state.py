"""Training state <-> checkpoint: model, optimizer, LR scheduler, RNG states and data position.

Tensors (weights, optimizer moments, torch/CUDA RNG states, numpy's MT19937 key) go to safetensors; everything
else (param groups, scheduler counters, Python's RNG tuple, data position) goes to JSON, which round-trips floats
exactly. Restore order matters: model, then optimizer (which carries the current LR in its param groups), then
the scheduler's counters; nothing rescales the LR afterwards (the seed articles' bug).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from spotplan.errors import CheckpointError
from spotplan.runner.checkpoint import Checkpoint
from spotplan.runner.corpus import DataPosition


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainState:
    """The live objects a checkpoint captures."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler


def capture(ts: TrainState, *, position: DataPosition) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Live tensors (still on their device; copy before training mutates them) and JSON-able state."""
    tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in ts.model.state_dict().items()}
    osd = ts.optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in osd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{pid}/{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    tensors["rng/torch_cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    np_kind, np_key, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    tensors["rng/numpy_key"] = torch.from_numpy(np.asarray(np_key, dtype=np.int64))
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "data_position": position.as_dict(),
        "optimizer": {"param_groups": osd["param_groups"], "scalars": scalars},
        "scheduler": ts.scheduler.state_dict(),
        "rng": {
            "python": [py_version, list(py_state), py_gauss],
            "numpy": [np_kind, int(np_pos), int(np_has_gauss), float(np_gauss)],
        },
    }
    return tensors, copy.deepcopy(state)  # serialised later on the persist thread: detach it from live objects


def _optimizer_state(ckpt: Checkpoint) -> dict[str, Any]:
    per_param: dict[int, dict[str, Any]] = {}
    for name, t in ckpt.tensors.items():
        if name.startswith("optim/"):
            _, pid, key = name.split("/", 2)
            per_param.setdefault(int(pid), {})[key] = t
    for pid, scalars in ckpt.state["optimizer"]["scalars"].items():
        per_param.setdefault(int(pid), {}).update(scalars)
    return {"state": per_param, "param_groups": ckpt.state["optimizer"]["param_groups"]}


def local_bytes(t: torch.Tensor) -> int:
    """Bytes this process holds of ``t`` (a DTensor's own slice, else the whole tensor)."""
    local = t.to_local() if type(t).__name__ == "DTensor" else t  # type: ignore[attr-defined]
    return local.numel() * local.element_size()


def restore(ts: TrainState, ckpt: Checkpoint) -> DataPosition:
    """Load ``ckpt`` into the live objects and the global RNGs; return the data position to continue from."""
    try:
        tensors = ckpt.tensors
        if any(type(p).__name__ == "DTensor" for p in ts.model.parameters()):  # FSDP2: into the live shards
            from spotplan.runner.fsdp import place

            ckpt = replace(ckpt, tensors=place(ts, tensors))
        model_sd = {k.removeprefix("model/"): v for k, v in ckpt.tensors.items() if k.startswith("model/")}
        ts.model.load_state_dict(model_sd, strict=True)
        ts.optimizer.load_state_dict(_optimizer_state(ckpt))
        ts.scheduler.load_state_dict(ckpt.state["scheduler"])
        torch.set_rng_state(ckpt.tensors["rng/torch_cpu"])
        cuda_states = [ckpt.tensors[k] for k in sorted(ckpt.tensors) if k.startswith("rng/cuda/")]
        if cuda_states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda_states[: torch.cuda.device_count()])
        kind, pos, has_gauss, gauss = ckpt.state["rng"]["numpy"]
        key = ckpt.tensors["rng/numpy_key"].numpy().astype(np.uint32)
        np.random.set_state((kind, key, pos, has_gauss, gauss))
        version, py_state, py_gauss = ckpt.state["rng"]["python"]
        random.setstate((version, tuple(py_state), py_gauss))
        return DataPosition(**ckpt.state["data_position"])
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint step {ckpt.step}: state does not fit this model ({exc})") from None
