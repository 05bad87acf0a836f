"""Plan assembly: the Plan schema from the chosen configuration, with assumptions, as-of dates and an inputs hash.

The inputs hash is the sha256 of the canonical JSON of the request plus the sha256 of every data file the
advisor read (catalog, fitted behaviour, a replayed price history, a calibration), so two plans with the
same hash were made from the same inputs. Units: seconds, hours, USD, bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.request import RecommendRequest
from spotplan.advisor.savecost import SaveCosts
from spotplan.advisor.sizing import JobSizing
from spotplan.schemas.plan import Assumption, Expected, ModelSpec, NoticeHandling, Plan, Pool

KEEP_LAST_K = 3
KEEP_LAST_K_SOURCE = "spotplan default: 3 (survives one torn and one corrupt checkpoint; torchtitan keep_latest_k style)"


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def inputs_sha256(request: RecommendRequest, data_files: dict[str, Path]) -> str:
    """sha256 over the canonical request and the bytes of the data files it was planned from."""
    req = {k: v for k, v in asdict(request).items() if k not in ("calibration", "prices_path")}
    req["mode"] = request.mode.value
    if request.calibration is not None:
        req["calibration"] = request.calibration.model_dump(mode="json")
    req["data"] = {name: _file_digest(p) for name, p in sorted(data_files.items()) if p.exists()}
    blob = json.dumps(req, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def to_pool(opt: PoolOption, ref_tokens_per_s: float) -> Pool:
    """A ladder rung for the Plan file."""
    return Pool(
        instance_type=opt.instance_type, market=opt.market, region=opt.region, zone=opt.zone, az_id=opt.az_id,
        nodes=opt.nodes, price_usd_per_h=round(opt.price_usd_per_h, 6),
        throughput_factor=round(opt.tokens_per_s / ref_tokens_per_s, 6),
        interruption_source=opt.interruption_source,
        mtbf_h=None if opt.mtbf_s is None else round(opt.mtbf_s / 3600.0, 4),
    )


def model_spec(request: RecommendRequest, job: JobSizing, ref: PoolOption) -> ModelSpec:
    """The job block of the plan, timed on the reference (first) rung."""
    step_time_s = job.global_batch_tokens / ref.tokens_per_s
    return ModelSpec(
        model_size=request.model_size, n_params=job.shape.n_params, mode=job.mode, tokens=job.tokens,
        seq_len=job.seq_len, global_batch_tokens=job.global_batch_tokens, step_time_s=step_time_s,
        total_steps=job.total_steps, checkpoint_bytes=job.checkpoint_bytes,
    )


def assumptions(
    request: RecommendRequest, job: JobSizing, costs: SaveCosts, ref: PoolOption, extra: list[Assumption],
) -> list[Assumption]:
    """Every default and input with its source."""
    a = [
        Assumption(name="parameters", value=job.shape.n_params, source=job.shape.source),
        Assumption(name="layers x hidden x heads", value=f"{job.shape.layers}x{job.shape.hidden}x{job.shape.heads}",
                   source=job.shape.source),
        Assumption(name="mode", value=job.mode.value,
                   source="--mode; full = mixed-precision AdamW, lora = rank-16 adapters on every linear layer"),
        Assumption(name="tokens", value=job.tokens, source=job.tokens_source),
        Assumption(name="sequence length", value=job.seq_len, unit="tokens", source="spotplan default 2048 "
                   "(GPT-3 context length, Brown et al. 2020)"),
        Assumption(name="global batch", value=job.global_batch_tokens, unit="tokens/step",
                   source=job.global_batch_source),
        Assumption(name="MFU", value=job.mfu, source=job.mfu_source),
        Assumption(name="FLOPs per token", value=job.flops_per_token, unit="FLOP",
                   source="6·N (Kaplan et al. 2020) for full; 4·N + 6·adapters for LoRA (no base weight gradients)"),
        Assumption(name="training state", value=job.state_bytes, unit="bytes",
                   source="16 B/param full (bf16 weights+grads, fp32 master, Adam m,v); LoRA: 2 B/param + 16 B/adapter param"),
        Assumption(name="activations per GPU", value=job.activation_bytes_per_gpu, unit="bytes",
                   source="Korthikanti et al. 2022, full recomputation, micro-batch 1; +10% and 2 GiB CUDA context"),
        Assumption(name="checkpoint size", value=job.checkpoint_bytes, unit="bytes",
                   source="14 B per trainable param: bf16 weights, fp32 master, Adam m and v"),
        Assumption(name="checkpoint bytes per node", value=costs.bytes_per_node, unit="bytes",
                   source=f"sharded over {ref.nodes} node(s), each writes its shard in parallel"),
        Assumption(name="save stall (snapshot)", value=round(costs.snapshot_s, 3), unit="s", source=costs.source
                   if request.calibration else "10 GB/s per node GPU->pinned CPU (PCIe 4.0 x16 ~25 GB/s per GPU)"),
        Assumption(name="save persist", value=round(costs.persist_s, 3), unit="s", source=costs.source),
        Assumption(name="restore", value=round(costs.restore_s, 3), unit="s", source=costs.source),
        Assumption(name="reference pool throughput", value=round(ref.tokens_per_s, 1), unit="tokens/s",
                   source=f"{ref.nodes}x {ref.instance_type}: GPUs x peak dense 16-bit TFLOP/s (embedded catalog) "
                   "x MFU / FLOPs per token"),
        Assumption(name="keep last K", value=KEEP_LAST_K, source=KEEP_LAST_K_SOURCE),
        Assumption(name="interruption multiplier", value=request.interruption_multiplier,
                   source="request (1.0 = as measured/fitted)"),
        Assumption(name="spot price multiplier", value=request.price_multiplier, source="request (1.0 = as data)"),
    ]
    if costs.extrapolated and request.calibration is not None:
        factor = costs.bytes_per_node / request.calibration.max_measured_bytes
        a.append(Assumption(name="calibration extrapolated", value=round(factor, 3), unit="x largest measured",
                            source=f"checkpoint bytes per node over the largest calibrated state "
                                   f"({request.calibration.max_measured_bytes:,} B, measured on "
                                   f"{request.calibration.machine.device}); save times extrapolated"))
    return a + extra


def build_plan(
    *, request: RecommendRequest, job: JobSizing, costs: SaveCosts, ladder: list[PoolOption], interval_s: float,
    recovery_strategy: str, deadline_policy: str, notice: NoticeHandling, expected: Expected,
    assumption_list: list[Assumption], data_as_of: dict[str, str], digest: str, created_utc: str | None = None,
) -> Plan:
    """Assemble and validate the Plan."""
    ref = ladder[0]
    spec = model_spec(request, job, ref)
    return Plan(
        plan_id=digest[:12],
        created_utc=created_utc or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        model=spec,
        ladder=[to_pool(p, ref.tokens_per_s) for p in ladder],
        recovery_strategy=recovery_strategy,
        deadline_policy=deadline_policy,
        deadline_h=request.deadline_h,
        checkpoint_interval_s=round(interval_s, 3),
        checkpoint_interval_steps=max(1, math.ceil(interval_s / spec.step_time_s - 1e-9)),
        keep_last_k=KEEP_LAST_K,
        async_save=True,
        save_blocking_s=round(costs.snapshot_s, 3),
        save_persist_s=round(costs.persist_s, 3),
        restore_s=round(costs.restore_s, 3),
        notice=notice,
        expected=expected,
        assumptions=assumption_list,
        data_as_of=data_as_of,
        inputs_sha256=digest,
    )


def json_safe(value: Any) -> Any:
    """Round floats for stable JSON (golden files compare with a tolerance anyway)."""
    if isinstance(value, float):
        return round(value, 6)
    return value
