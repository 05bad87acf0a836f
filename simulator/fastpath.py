"""Vectorised numpy Monte Carlo of the exponential single-pool case (Daly's model), for sweeps and cross-checks.

Model (identical to ``theory.exact_expected_wall_s``): the work is cut into segments of ``interval_s`` compute
(plus a remainder), each followed by a blocking save of ``save_s``. Interruptions arrive as a Poisson process
with mean gap ``mtbf_s``. A failure loses the segment in progress; the next attempt first pays ``restart_s``
(itself interruptible), then redoes the segment. All times are seconds; prices USD per hour.

Instead of stepping through events, each batch of equal-length segments is sampled in closed form:
the number of segments whose first attempt fails is Binomial, the further failures before each of those
succeeds are Negative Binomial, and each failure's lost time is a truncated exponential.
"""

from __future__ import annotations

import math

import numpy as np

from spotplan.simulator.theory import _positive, segments

SECONDS_PER_HOUR = 3600.0


def _truncated_exp_sum(
    counts: np.ndarray, upper_s: float, mtbf_s: float, rng: np.random.Generator
) -> np.ndarray:
    """Per run, the sum of ``counts[i]`` draws of an exponential(mean mtbf_s) truncated to [0, upper_s]."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(counts.size)
    u = rng.random(total)
    # Inverse CDF of Exp(1/M) conditioned on X < upper: X = -M·ln(1 - u·(1 - e^{-upper/M})).
    draws = -mtbf_s * np.log1p(-u * -math.expm1(-upper_s / mtbf_s))
    owner = np.repeat(np.arange(counts.size), counts)
    return np.bincount(owner, weights=draws, minlength=counts.size)


def _batch_s(
    n_segments: int, compute_s: float, save_s: float, restart_s: float, mtbf_s: float, runs: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Wall time of ``n_segments`` equal segments for each of ``runs`` runs."""
    if n_segments == 0:
        return np.zeros(runs)
    length_s = compute_s + save_s
    p_first_ok = math.exp(-length_s / mtbf_s)
    p_retry_ok = math.exp(-(length_s + restart_s) / mtbf_s)
    first_fail = rng.binomial(n_segments, 1.0 - p_first_ok, size=runs)
    # Failures before each of the first_fail retried segments succeeds (a retry is restart + segment).
    extra = np.zeros(runs, dtype=np.int64)
    has = first_fail > 0
    if has.any():
        extra[has] = rng.negative_binomial(first_fail[has], p_retry_ok)
    lost_first = _truncated_exp_sum(first_fail, length_s, mtbf_s, rng)
    lost_retry = _truncated_exp_sum(extra, length_s + restart_s, mtbf_s, rng)
    return n_segments * length_s + first_fail * restart_s + lost_first + lost_retry


def simulate_exponential(
    work_s: float, interval_s: float, save_s: float, restart_s: float, mtbf_s: float, runs: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Makespans in seconds of ``runs`` independent runs of Daly's model (array of shape (runs,))."""
    _positive("mtbf_s", mtbf_s)
    _positive("save_s", save_s, allow_zero=True)
    _positive("restart_s", restart_s, allow_zero=True)
    if runs < 1:
        raise ValueError(f"runs={runs}: expected >= 1")
    n_full, rem_s = segments(work_s, interval_s)
    total = _batch_s(n_full, interval_s, save_s, restart_s, mtbf_s, runs, rng)
    if rem_s > 0:
        total += _batch_s(1, rem_s, save_s, restart_s, mtbf_s, runs, rng)
    return total


def exponential_cost_usd(makespans_s: np.ndarray, price_usd_per_h: float) -> np.ndarray:
    """Cost in USD when the instance is billed for the whole makespan at a flat ``price_usd_per_h``.

    In Daly's model the machine is held through restarts and lost work, so every second is billed.
    """
    if not (price_usd_per_h >= 0):
        raise ValueError(f"price_usd_per_h={price_usd_per_h}: expected >= 0")
    return np.asarray(makespans_s, dtype=float) * price_usd_per_h / SECONDS_PER_HOUR


def sweep_intervals(
    work_s: float, intervals_s: np.ndarray, save_s: float, restart_s: float, mtbf_s: float, runs: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean makespan (s) and its standard error for each candidate interval; one child RNG per interval."""
    children = rng.spawn(len(intervals_s))
    means = np.empty(len(intervals_s))
    sems = np.empty(len(intervals_s))
    for i, (tau, child) in enumerate(zip(intervals_s, children, strict=True)):
        m = simulate_exponential(work_s, float(tau), save_s, restart_s, mtbf_s, runs, child)
        means[i] = m.mean()
        sems[i] = m.std(ddof=1) / math.sqrt(runs) if runs > 1 else 0.0
    return means, sems
