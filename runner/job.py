"""Building the training job from a Plan: device, model shape, optimizer, LR schedule and config hash.

The config hash covers everything that changes the training trajectory (shape, seed, optimizer and schedule
settings, corpus digest), so a checkpoint from another configuration is refused instead of silently resumed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass

import torch

from spotplan.errors import ConfigError
from spotplan.runner.checkpoint import FORMAT_VERSION
from spotplan.runner.corpus import Corpus, load_stdlib_bytes
from spotplan.runner.model import GPT, GPTConfig, build_model, config_for_params, named_config
from spotplan.runner.state import TrainState
from spotplan.schemas.plan import Plan

LR = 3e-4
BETAS = (0.9, 0.95)
WEIGHT_DECAY = 0.1
GRAD_CLIP = 1.0


def resolve_device(requested: str | None) -> torch.device:
    """``None`` picks CUDA when present, else CPU; asking for CUDA where there is none is a ConfigError."""
    if requested is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested not in ("cpu", "cuda"):
        raise ConfigError(f"--device {requested!r}: expected cpu or cuda")
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is visible to torch; use --device cpu")
    return torch.device(requested)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def model_config(plan: Plan, model_size: str | None) -> GPTConfig:
    """A named runner size, or a shape with the plan's parameter count and sequence length."""
    if model_size is not None:
        return named_config(model_size)
    seq_len = plan.model.seq_len
    return config_for_params(
        plan.model.n_params, seq_len=seq_len, batch_size=max(1, plan.model.global_batch_tokens // seq_len)
    )


TRAIN_BYTES_PER_PARAM = 16  # fp32 weights, gradients and two AdamW moments


def fits_one_device(cfg: GPTConfig, device: torch.device) -> bool:
    """Whether the whole training state (weights, gradients, AdamW moments) fits in 80% of one device's memory."""
    return _train_bytes(cfg) <= 0.8 * _device_bytes(device)


def _n_params(cfg: GPTConfig) -> int:
    """Parameters of ``cfg`` without building it: 12 L d^2 in the blocks, plus token and position embeddings."""
    return 12 * cfg.n_layer * cfg.d_model**2 + (256 + cfg.seq_len) * cfg.d_model


def _train_bytes(cfg: GPTConfig) -> int:
    return _n_params(cfg) * TRAIN_BYTES_PER_PARAM


def _device_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[1])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(cfg: GPTConfig, device: torch.device, model_size: str | None, shards: int = 1) -> None:
    """Refuse, with the fix, a plan-sized model that cannot fit in this device's memory (instead of an OOM kill);
    with ``shards`` > 1 (FSDP) each device holds 1/shards of the state."""
    need, have, n_params = _train_bytes(cfg) / shards, _device_bytes(device), _n_params(cfg)
    if need > 0.8 * have:
        what = f"--model-size {model_size}" if model_size else "the plan's model"
        raise ConfigError(
            f"{what} (~{n_params / 1e9:.2f} B parameters) needs ~{need / 2**30:.0f} GiB to train, this {device.type} "
            f"has {have / 2**30:.0f} GiB; use a smaller --model-size (tiny, small, base, medium, large)"
        )


def lr_factor(step: int, total_steps: int) -> float:
    """Linear warm-up over min(100, total/10) steps, then cosine decay to 10% at ``total_steps``."""
    warmup = max(1, min(100, total_steps // 10))
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """Everything the loop trains with."""

    cfg: GPTConfig
    corpus: Corpus
    train: TrainState
    device: torch.device
    total_steps: int
    config: dict[str, object]  # every setting that changes the trajectory; see ``config_hash``

    @property
    def config_hash(self) -> str:
        """sha256 of ``config``: checkpoints of another configuration are refused, not resumed."""
        return hashlib.sha256(json.dumps(self.config, sort_keys=True).encode()).hexdigest()

    @property
    def model(self) -> GPT:
        assert isinstance(self.train.model, GPT)
        return self.train.model


def build_job(plan: Plan, *, model_size: str | None, device: torch.device, seed: int,
              corpus_bytes: int, shards: int = 1) -> Job:
    """Model, AdamW, LambdaLR and corpus for ``plan``; nothing here touches a global RNG. ``shards``: the ranks
    an FSDP run spreads the state over (the memory check divides by it)."""
    cfg = model_config(plan, model_size)
    check_fits(cfg, device, model_size, shards)
    corpus = Corpus(data=load_stdlib_bytes(corpus_bytes), seq_len=cfg.seq_len, seed=seed)
    model = build_model(cfg, seed=seed, device=device)
    total = plan.model.total_steps
    opt = torch.optim.AdamW(model.parameters(), lr=LR, betas=BETAS, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total))
    settings = {
        "format_version": FORMAT_VERSION, "model": cfg.as_dict(), "seed": seed, "lr": LR, "betas": list(BETAS),
        "weight_decay": WEIGHT_DECAY, "grad_clip": GRAD_CLIP, "total_steps": total, "corpus": corpus.digest,
    }
    return Job(cfg=cfg, corpus=corpus, train=TrainState(model=model, optimizer=opt, scheduler=sched),
               device=device, total_steps=total, config=settings)
