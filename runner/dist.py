"""The runner's process group: who this process is under torchrun, and the few collectives the loop needs.

Under ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in the environment) the runner trains data-parallel
(DDP): gloo on CPU, NCCL on CUDA with each rank on ``cuda:LOCAL_RANK``. Without those variables it is one
process with no process group, exactly as before. Every collective here is bounded by the process group's
timeout, so a rank that died without notice makes the survivors fail (and exit) instead of hanging for ever.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from spotplan.errors import ConfigError

COLLECTIVE_TIMEOUT_S = 600.0  # a save of a large state between two collectives stays well inside this


@dataclass(frozen=True, slots=True, kw_only=True)
class World:
    """This process's place in the job: global rank, rank on its node, number of processes."""

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the run log, the report and the manifest."""
        return self.rank == 0

    @property
    def is_node_main(self) -> bool:
        """Local rank 0: the one process per node that polls the instance metadata service."""
        return self.local_rank == 0


def _env_int(name: str, default: int, lo: int, hi: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment {name}={raw!r}: expected an integer (set by torchrun)") from None
    if not lo <= value <= hi:
        raise ConfigError(f"environment {name}={value}: expected an integer in [{lo}, {hi}] (set by torchrun)")
    return value


def world_from_env() -> World:
    """The world torchrun describes in the environment, or a single process."""
    size = _env_int("WORLD_SIZE", 1, 1, 1 << 20)
    rank = _env_int("RANK", 0, 0, size - 1)
    local = _env_int("LOCAL_RANK", 0, 0, size - 1)
    return World(rank=rank, local_rank=local, size=size)


def rank_device(world: World, device: torch.device) -> torch.device:
    """``cuda:LOCAL_RANK`` for a CUDA run (and make it current), else ``device`` unchanged."""
    if device.type != "cuda":
        return device
    if world.local_rank >= torch.cuda.device_count():
        raise ConfigError(f"LOCAL_RANK {world.local_rank}: this node has only {torch.cuda.device_count()} CUDA "
                          "devices; use --nproc_per_node at most that")
    torch.cuda.set_device(world.local_rank)
    return torch.device("cuda", world.local_rank)


def start(world: World, device: torch.device) -> None:
    """Join the process group (a no-op for one process)."""
    if not world.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs = {"device_id": device} if device.type == "cuda" else {}
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S), **kwargs)


def stop(world: World, *, clean: bool = True) -> None:
    """Leave the process group. ``clean``: a barrier first, so no rank tears down while another still talks to
    it (and none exits before the others are done); otherwise at once, so peers waiting on us fail fast."""
    if not world.distributed or not dist.is_initialized():
        return
    try:
        if clean:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def _tensor(value: float, device: torch.device) -> torch.Tensor:
    return torch.tensor([value], dtype=torch.float64, device=device)


def any_rank(world: World, flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (a notice seen by one rank reaches all)."""
    if not world.distributed:
        return flag
    t = _tensor(1.0 if flag else 0.0, device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_over_ranks(world: World, value: float, device: torch.device) -> float:
    """The mean of ``value`` over ranks (the global batch's loss from each rank's share)."""
    if not world.distributed:
        return value
    t = _tensor(value, device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / world.size


def from_main(world: World, value: object) -> object:
    """Rank 0's ``value`` on every rank (a decision: which step to resume, or why not)."""
    if not world.distributed:
        return value
    box = [value if world.is_main else None]
    dist.broadcast_object_list(box, src=0)  # objects from our own rank 0, never from a file
    return box[0]


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


def gather_to_main(world: World, value: object) -> list[object] | None:
    """Every rank's ``value``, in rank order, on rank 0 (None elsewhere)."""
    if not world.distributed:
        return [value]
    out: list[object] | None = [None] * world.size if world.is_main else None
    dist.gather_object(value, out, dst=0)
    return out
