"""Job sizing: parameters, memory, checkpoint bytes, throughput and tokens of a training job.

Every figure carries its source so the plan can print it as an assumption. Units are in names:
``_bytes``, ``_s``, ``_per_s``. FLOP counts follow Kaplan et al. 2020 (6·N FLOPs per token for
a forward and backward pass of an N-parameter decoder); activations follow Korthikanti et al. 2022.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from spotplan.errors import ConfigError
from spotplan.schemas.plan import TrainingMode
from spotplan.simulator.counts import dp_speedup

GIB = 1024**3

# Named sizes: (parameters, layers, hidden size, attention heads, source).
_PRESETS: dict[str, tuple[float, int, int, int, str]] = {
    "125M": (125e6, 12, 768, 12, "GPT-3 Small, Brown et al. 2020 Table 2.1"),
    "1.3B": (1.3e9, 24, 2048, 16, "GPT-3 XL, Brown et al. 2020 Table 2.1"),
    "7B": (6.74e9, 32, 4096, 32, "Llama 2 7B, Touvron et al. 2023"),
    "13B": (13.0e9, 40, 5120, 40, "Llama 2 13B, Touvron et al. 2023"),
    "70B": (68.98e9, 80, 8192, 64, "Llama 2 70B, Touvron et al. 2023"),
}
_SUFFIX = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([KMBGT]?)\s*$", re.IGNORECASE)

# Defaults stated in every plan (name -> (value, source)).
DEFAULT_MFU = 0.40
MFU_SOURCE = (
    "spotplan default 0.40: typical dense-transformer MFU on A100/H100 "
    "(PaLM reports 46%, Megatron-LM 3D parallel 40-52%; Chowdhery et al. 2022 Table 3)"
)
CHINCHILLA_TOKENS_PER_PARAM = 20
LORA_DEFAULT_TOKENS = 100_000_000
DEFAULT_SEQ_LEN = 2048
SEQ_LEN_SOURCE = "spotplan default 2048 (GPT-3 context length, Brown et al. 2020)"
LORA_RANK = 16
ACTIVATION_RESERVE_FRACTION = 0.10  # allocator fragmentation and CUDA context, on top of activations
CUDA_CONTEXT_BYTES = 2 * GIB


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelShape:
    """A decoder-only transformer's size and shape."""

    label: str
    n_params: int
    layers: int
    hidden: int
    heads: int
    source: str

    def __post_init__(self) -> None:
        if self.n_params <= 0 or self.layers <= 0 or self.hidden <= 0 or self.heads <= 0:
            raise ConfigError(f"model shape {self.label}: every dimension must be > 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSizing:
    """Memory, checkpoint and compute figures of one training job (whole job, all GPUs)."""

    shape: ModelShape
    mode: TrainingMode
    tokens: int
    tokens_source: str
    seq_len: int
    global_batch_tokens: int
    global_batch_source: str
    trainable_params: int
    state_bytes: int  # weights + gradients + optimizer state resident on GPUs
    checkpoint_bytes: int  # what one checkpoint writes
    activation_bytes_per_gpu: int
    flops_per_token: float
    mfu: float
    mfu_source: str

    @property
    def total_flops(self) -> float:
        """FLOPs of the whole run."""
        return self.flops_per_token * self.tokens

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run."""
        return max(1, math.ceil(self.tokens / self.global_batch_tokens))


def parse_model_size(text: str) -> ModelShape:
    """Parse ``7B``, ``1.3B``, ``125M``, ``6.7e9`` or a plain count into a model shape."""
    key = text.strip().upper()
    for name, (n, layers, hidden, heads, src) in _PRESETS.items():
        if key == name.upper():
            return ModelShape(label=name, n_params=int(n), layers=layers, hidden=hidden, heads=heads, source=src)
    m = _SIZE_RE.match(text)
    if not m:
        raise ConfigError(
            f"--model-size {text!r} is not a model size; use 125M, 1.3B, 7B, 13B, 70B or a parameter count "
            "such as 3B or 3e9"
        )
    n = float(m.group(1)) * _SUFFIX[m.group(2).upper()]
    if not (1e6 <= n <= 5e12):
        raise ConfigError(f"--model-size {text!r} = {n:.3g} parameters; expected between 1M and 5T")
    return _shape_for(text.strip(), int(n))


def _shape_for(label: str, n_params: int) -> ModelShape:
    """Shape of an unnamed size: hidden from N ≈ 0.12·h³ (fit to the presets), 128 heads dim, N = 12·L·h²."""
    hidden = max(256, round((n_params / 0.12) ** (1 / 3) / 128) * 128)
    layers = max(2, round(n_params / (12 * hidden * hidden)))
    return ModelShape(
        label=label,
        n_params=n_params,
        layers=layers,
        hidden=hidden,
        heads=max(1, hidden // 128),
        source="derived: hidden ≈ (N/0.12)^(1/3) fitted to the GPT-3/Llama 2 presets, layers = N/(12·h²)",
    )


def default_global_batch_tokens(n_params: int) -> tuple[int, str]:
    """Tokens per optimizer step: GPT-3 Table 2.1 up to 13B, Llama 2's 4M tokens beyond."""
    if n_params < 1e9:
        return 524_288, "GPT-3 Table 2.1 (0.5M tokens for models below 1B)"
    if n_params < 5e9:
        return 1_048_576, "GPT-3 Table 2.1 (1M tokens for 1.3B-2.7B)"
    if n_params <= 20e9:
        return 2_097_152, "GPT-3 Table 2.1 (2M tokens for 6.7B-13B)"
    return 4_194_304, "Llama 2 (4M tokens per step, Touvron et al. 2023)"


def lora_trainable_params(shape: ModelShape, rank: int = LORA_RANK) -> int:
    """Adapter parameters of rank-r LoRA on every linear layer: r·(d_in + d_out) each, ≈ 19·r·h per layer."""
    # Attention q,k,v,o: 4 × r·2h; MLP gate/up/down (h ↔ 8h/3): 3 × r·(h + 8h/3) = 11·r·h.
    return int(shape.layers * rank * shape.hidden * 19)


def activation_bytes_per_gpu(shape: ModelShape, seq_len: int) -> int:
    """Activations at micro-batch 1 with full recomputation (Korthikanti et al. 2022, eq. 2 and §4).

    Kept: each layer's bf16 input (2·s·h bytes); live: one layer's full activations
    s·h·(34 + 5·a·s/h) bytes while it is recomputed.
    """
    s, h, a = seq_len, shape.hidden, shape.heads
    kept = 2 * s * h * shape.layers
    live = s * h * (34 + 5 * a * s / h)
    return int(kept + live)


def size_job(
    shape: ModelShape,
    *,
    mode: TrainingMode,
    tokens: int | None = None,
    seq_len: int = DEFAULT_SEQ_LEN,
    mfu: float | None = None,
) -> JobSizing:
    """Size a training job; ``tokens``/``mfu`` None take the stated defaults."""
    if tokens is not None and tokens <= 0:
        raise ConfigError(f"--tokens {tokens} must be > 0; e.g. --tokens 2e10 for 20B tokens")
    if mfu is not None and not (0 < mfu <= 1):
        raise ConfigError(f"--mfu {mfu} must be in (0, 1]; e.g. --mfu 0.4")
    n = shape.n_params
    batch, batch_src = default_global_batch_tokens(n)
    if mode is TrainingMode.FULL:
        trainable = n
        # bf16 weights 2 + bf16 grads 2 + fp32 master 4 + Adam m 4 + v 4 = 16 bytes per parameter.
        state = 16 * n
        ckpt = 14 * n  # weights 2 + fp32 master 4 + Adam moments 8 (gradients are not saved)
        flops = 6.0 * n
        default_tokens = CHINCHILLA_TOKENS_PER_PARAM * n
        tok_src = "Chinchilla compute-optimal 20 tokens per parameter (Hoffmann et al. 2022)"
    else:
        trainable = lora_trainable_params(shape)
        state = 2 * n + 16 * trainable  # frozen bf16 base + full AdamW state of the adapters
        ckpt = 14 * trainable  # adapters, their fp32 master copy and Adam moments; base weights reload
        flops = 4.0 * n + 6.0 * trainable  # no weight gradients for the frozen base (derived from 6·N)
        default_tokens = LORA_DEFAULT_TOKENS
        tok_src = "spotplan default 1e8 tokens for LoRA fine-tuning (e.g. 3 epochs of a ~33M-token dataset)"
    return JobSizing(
        shape=shape,
        mode=mode,
        tokens=int(tokens) if tokens is not None else int(default_tokens),
        tokens_source="--tokens" if tokens is not None else tok_src,
        seq_len=seq_len,
        global_batch_tokens=batch,
        global_batch_source=batch_src,
        trainable_params=trainable,
        state_bytes=int(state),
        checkpoint_bytes=int(ckpt),
        activation_bytes_per_gpu=activation_bytes_per_gpu(shape, seq_len),
        flops_per_token=flops,
        mfu=mfu if mfu is not None else DEFAULT_MFU,
        mfu_source="--mfu" if mfu is not None else MFU_SOURCE,
    )


def per_gpu_bytes(job: JobSizing, total_gpus: int) -> int:
    """GPU memory one GPU needs with the state fully sharded (ZeRO-3/FSDP) over ``total_gpus``."""
    sharded = job.state_bytes / total_gpus
    return int((sharded + job.activation_bytes_per_gpu) * (1 + ACTIVATION_RESERVE_FRACTION) + CUDA_CONTEXT_BYTES)


def nodes_to_fit(job: JobSizing, *, gpus_per_node: int, gpu_mem_gib: float, max_nodes: int) -> int | None:
    """Smallest node count whose GPUs hold the sharded job, or None if even ``max_nodes`` do not."""
    capacity = gpu_mem_gib * GIB
    for nodes in range(1, max_nodes + 1):
        if per_gpu_bytes(job, nodes * gpus_per_node) <= capacity:
            return nodes
    return None


def tokens_per_s(job: JobSizing, *, gpus: int, peak_bf16_tflops: float) -> float:
    """Training throughput: gpus · peak · MFU / FLOPs per token."""
    return gpus * peak_bf16_tflops * 1e12 * job.mfu / job.flops_per_token


# Node count as a decision: how throughput scales past the smallest gang that holds the job.
DEFAULT_DP_EFFICIENCY = 0.93
DP_EFFICIENCY_SOURCE = (
    "spotplan default 0.93 of the linear speed-up kept per doubling of the nodes past the smallest gang that holds "
    "the job: Llama 3 (Grattafiori et al. 2024, Table 4) ran 430 TFLOPS per H100 on 8,192 GPUs and 400 on 16,384 "
    "at the same 16M-token batch (400/430 = 0.93); override with --dp-efficiency"
)


def max_data_parallel_gpus(job: JobSizing) -> int:
    """Most GPUs one optimizer step can keep busy: one sequence each (micro-batch 1) of the global batch."""
    return max(1, job.global_batch_tokens // job.seq_len)


def scaled_tokens_per_s(base_tokens_per_s: float, base_nodes: int, nodes: int, dp_efficiency: float) -> float:
    """Throughput of ``nodes`` nodes from that of ``base_nodes`` (the memory minimum): each doubling of the node
    count multiplies the speed by ``2 * dp_efficiency`` (``simulator.counts.dp_speedup``)."""
    if nodes < base_nodes:
        raise ConfigError(f"nodes={nodes} is below the {base_nodes} node(s) that hold the job")
    return base_tokens_per_s * dp_speedup(nodes / base_nodes, dp_efficiency)
