"""A small GPT-style decoder-only transformer over bytes (vocabulary 256), sized by name or parameter count.

Weights are initialised from an explicit ``torch.Generator`` (no global seeding), and the model has no dropout,
so training is a deterministic function of (seed, data position, optimizer state).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from spotplan.errors import ConfigError, did_you_mean

VOCAB_SIZE = 256  # byte-level tokens


@dataclass(frozen=True, slots=True, kw_only=True)
class GPTConfig:
    """Shape of the transformer; ``seq_len`` tokens of context, ``batch_size`` sequences per step."""

    n_layer: int
    n_head: int
    d_model: int
    seq_len: int
    batch_size: int

    def __post_init__(self) -> None:
        if min(self.n_layer, self.n_head, self.d_model, self.seq_len, self.batch_size) < 1:
            raise ConfigError(f"model config {self}: every dimension must be >= 1")
        if self.d_model % self.n_head:
            raise ConfigError(f"model config: d_model={self.d_model} is not divisible by n_head={self.n_head}")

    def as_dict(self) -> dict[str, int]:
        """Plain dict, for the config hash and the run report."""
        return asdict(self)


# Named sizes for CPU work and tests; parameter counts are approximate (see ``count_params``).
SIZES: dict[str, GPTConfig] = {
    "tiny": GPTConfig(n_layer=1, n_head=2, d_model=32, seq_len=32, batch_size=4),  # ~30 k params
    "small": GPTConfig(n_layer=2, n_head=4, d_model=64, seq_len=64, batch_size=8),  # ~120 k
    "base": GPTConfig(n_layer=4, n_head=4, d_model=256, seq_len=128, batch_size=8),  # ~3.3 M
    "medium": GPTConfig(n_layer=6, n_head=8, d_model=512, seq_len=256, batch_size=8),  # ~19 M
    "large": GPTConfig(n_layer=12, n_head=12, d_model=768, seq_len=256, batch_size=8),  # ~85 M
}


def named_config(name: str) -> GPTConfig:
    """The config of a named size; ConfigError with a suggestion for unknown names."""
    if name not in SIZES:
        raise ConfigError(
            f"model size {name!r} is not a runner size; expected one of {', '.join(SIZES)}"
            + did_you_mean(name, SIZES)
        )
    return SIZES[name]


def config_for_params(n_params: int, *, seq_len: int, batch_size: int) -> GPTConfig:
    """A GPT shape with about ``n_params`` parameters: head size 64, d_model = 64 * n_layer (GPT-2 aspect)."""
    # parameters ~ 12 * L * d^2 with d = 64 L  ->  L = (n / 49152)^(1/3)
    n_layer = max(1, round((n_params / 49152) ** (1 / 3)))
    return GPTConfig(
        n_layer=n_layer, n_head=n_layer, d_model=64 * n_layer, seq_len=seq_len, batch_size=batch_size
    )


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention then an MLP, each with a residual."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Linear(cfg.d_model, 4 * cfg.d_model)
        self.out = nn.Linear(4 * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        shape = (b, t, self.n_head, d // self.n_head)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """Token and position embeddings, ``n_layer`` blocks, a final norm and a tied output head."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(VOCAB_SIZE, cfg.d_model)
        self.pos = nn.Embedding(cfg.seq_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, seq, 256)."""
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.tok(idx) + self.pos(pos)
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x) @ self.tok.weight.T

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean next-byte cross-entropy."""
        logits = self.forward(x)
        return F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1))


def build_model(cfg: GPTConfig, *, seed: int, device: torch.device) -> GPT:
    """A GPT initialised from ``seed`` through an explicit generator (GPT-2 scheme), moved to ``device``."""
    model = GPT(cfg)
    gen = torch.Generator().manual_seed(seed)
    resid_std = 0.02 / math.sqrt(2 * cfg.n_layer)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif ".ln" in name or name.startswith("ln_"):
                p.fill_(1.0)
            else:
                std = resid_std if name.endswith(("proj.weight", "out.weight")) else 0.02
                nn.init.normal_(p, 0.0, std, generator=gen)
    return model.to(device)


def count_params(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters())
