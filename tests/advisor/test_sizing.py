"""Sizing: model sizes, memory, checkpoint bytes, fit, throughput, save times and notice feasibility."""

from __future__ import annotations

import math

import pytest

from spotplan.advisor.request import RecommendRequest, parse_count, parse_duration_h
from spotplan.advisor.savecost import notice_checks, parse_bandwidth, save_costs
from spotplan.advisor.sizing import (
    nodes_to_fit,
    parse_model_size,
    per_gpu_bytes,
    size_job,
    tokens_per_s,
)
from spotplan.errors import ConfigError
from spotplan.schemas.calibration import Calibration, CalibrationPoint, LinearCostFit, MachineInfo
from spotplan.schemas.plan import TrainingMode


@pytest.mark.parametrize(
    ("text", "n"),
    [("7B", 6.74e9), ("7b", 6.74e9), ("125M", 125e6), ("1.3B", 1.3e9), ("70B", 68.98e9), ("3e9", 3e9),
     ("2.5B", 2.5e9), ("350M", 350e6), ("1000000000", 1e9)],
)
def test_parse_model_size_accepts_presets_and_counts(text: str, n: float) -> None:
    """Named sizes map to their published parameter counts; other counts parse with suffixes or exponents."""
    assert parse_model_size(text).n_params == pytest.approx(n, rel=1e-9)


@pytest.mark.parametrize("text", ["7X", "", "B7", "seven", "-7B", "1e20"])
def test_parse_model_size_rejects_garbage(text: str) -> None:
    """A size that is not a number with K/M/B/T raises ConfigError naming the flag."""
    with pytest.raises(ConfigError, match="--model-size"):
        parse_model_size(text)


def test_full_mode_bytes_follow_mixed_precision_adamw() -> None:
    """Full mode holds 16 B/param on GPU and checkpoints 14 B/param (no gradients)."""
    job = size_job(parse_model_size("7B"), mode=TrainingMode.FULL)
    assert job.state_bytes == 16 * 6_740_000_000
    assert job.checkpoint_bytes == 14 * 6_740_000_000
    assert job.tokens == 20 * 6_740_000_000  # Chinchilla default
    assert "Chinchilla" in job.tokens_source
    assert job.flops_per_token == 6 * 6.74e9


def test_lora_checkpoint_is_adapters_only() -> None:
    """LoRA checkpoints hold adapters and their optimizer state: well under 1% of a full checkpoint."""
    shape = parse_model_size("7B")
    full = size_job(shape, mode=TrainingMode.FULL)
    lora = size_job(shape, mode=TrainingMode.LORA)
    # rank 16 on every linear layer of Llama-2-7B: 32 layers x 19·16·4096 ≈ 40M adapter parameters
    assert lora.trainable_params == 32 * 19 * 16 * 4096
    assert lora.checkpoint_bytes == 14 * lora.trainable_params
    assert lora.checkpoint_bytes < 0.01 * full.checkpoint_bytes
    assert lora.flops_per_token < full.flops_per_token


def test_fit_shards_over_nodes() -> None:
    """7B full fits one 8x A100-40GB node; 70B full needs several; per-GPU bytes fall with more GPUs."""
    j7 = size_job(parse_model_size("7B"), mode=TrainingMode.FULL)
    j70 = size_job(parse_model_size("70B"), mode=TrainingMode.FULL)
    assert nodes_to_fit(j7, gpus_per_node=8, gpu_mem_gib=40, max_nodes=8) == 1
    n70 = nodes_to_fit(j70, gpus_per_node=8, gpu_mem_gib=80, max_nodes=8)
    assert n70 is not None and n70 >= 2
    assert nodes_to_fit(j70, gpus_per_node=1, gpu_mem_gib=16, max_nodes=1) is None
    assert per_gpu_bytes(j70, 16) < per_gpu_bytes(j70, 8)


def test_throughput_is_6n_over_peak_times_mfu() -> None:
    """Tokens/s = GPUs x peak x MFU / 6N: 8 A100 at 312 TFLOP/s, MFU 0.4, 7B ≈ 24.7k tokens/s."""
    job = size_job(parse_model_size("7B"), mode=TrainingMode.FULL, mfu=0.4)
    tps = tokens_per_s(job, gpus=8, peak_bf16_tflops=312.0)
    assert tps == pytest.approx(8 * 312e12 * 0.4 / (6 * 6.74e9))


@pytest.mark.parametrize("kwargs", [{"tokens": 0}, {"tokens": -5}, {"mfu": 0.0}, {"mfu": 1.5}])
def test_size_job_rejects_bad_numbers(kwargs: dict) -> None:
    """Zero/negative tokens and MFU outside (0, 1] are user errors."""
    with pytest.raises(ConfigError):
        size_job(parse_model_size("7B"), mode=TrainingMode.FULL, **kwargs)


def test_default_save_costs_and_notice_feasibility_7b() -> None:
    """7B full at 1 GB/s: ~94 s persist fits AWS 120 s only when the step is short, never GCP's 30 s."""
    job = size_job(parse_model_size("7B"), mode=TrainingMode.FULL)
    c = save_costs(job.checkpoint_bytes, 1)
    assert c.persist_s == pytest.approx(94.36, rel=1e-3)
    assert c.snapshot_s == pytest.approx(9.436, rel=1e-3)
    short_step = {k.cloud: k for k in notice_checks(c, step_time_s=2.0)}
    assert short_step["aws"].fits and not short_step["gcp"].fits
    long_step = {k.cloud: k for k in notice_checks(c, step_time_s=80.0)}
    assert not long_step["aws"].fits  # 5 + 40 + 9.4 + 94.4 > 120


def test_calibration_replaces_default_bandwidth() -> None:
    """A calibration's fitted lines give the save times and flag extrapolation."""
    cal = Calibration(
        created_utc="2026-11-24T00:00:00Z", machine=MachineInfo(platform="linux", device="cpu"),
        points=[CalibrationPoint(state_bytes=10**9, snapshot_s=0.5, persist_s=1.0, restore_s=1.2)],
        snapshot=LinearCostFit(overhead_s=0.1, bandwidth_bytes_per_s=2e9),
        persist=LinearCostFit(overhead_s=0.2, bandwidth_bytes_per_s=1e9),
        restore=LinearCostFit(overhead_s=0.3, bandwidth_bytes_per_s=5e8),
    )
    c = save_costs(4 * 10**9, 2, calibration=cal)
    assert c.bytes_per_node == 2 * 10**9
    assert c.snapshot_s == pytest.approx(1.1) and c.persist_s == pytest.approx(2.2) and c.restore_s == pytest.approx(4.3)
    assert c.extrapolated


@pytest.mark.parametrize(("text", "bps"), [("1e9", 1e9), ("500MB/s", 5e8), ("2GB/s", 2e9), ("1GiB/s", 2**30)])
def test_parse_bandwidth(text: str, bps: float) -> None:
    """Bandwidths accept SI and binary units."""
    assert parse_bandwidth(text) == pytest.approx(bps)


def test_parse_duration_and_count() -> None:
    """48h, 2d and 90m parse to hours; 20B and 2e10 to counts; garbage raises ConfigError."""
    assert parse_duration_h("48h", "--deadline") == 48
    assert parse_duration_h("2d", "--deadline") == 48
    assert math.isclose(parse_duration_h("90m", "--deadline"), 1.5)
    assert parse_count("20B", "--tokens") == 20_000_000_000
    assert parse_count("2e10", "--tokens") == 20_000_000_000
    for bad in ("soon", "-3h", "0"):
        with pytest.raises(ConfigError):
            parse_duration_h(bad, "--deadline")
    with pytest.raises(ConfigError, match="--tokens"):
        parse_count("-1", "--tokens")


def test_request_validates_fields() -> None:
    """The request dataclass rejects non-positive tokens, deadlines and multipliers."""
    with pytest.raises(ConfigError):
        RecommendRequest(model_size="7B", tokens=0)
    with pytest.raises(ConfigError):
        RecommendRequest(model_size="7B", deadline_h=-1)
    with pytest.raises(ConfigError):
        RecommendRequest(model_size="7B", interruption_multiplier=0)
    r = RecommendRequest(model_size="7B", mode="lora", regions=["us-east-1"])  # type: ignore[arg-type]
    assert r.mode is TrainingMode.LORA and r.regions == ("us-east-1",)
