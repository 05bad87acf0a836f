"""Closed forms for the checkpoint interval: Young (1974) and Daly (2006).

All times are seconds. Notation (domain reference §1): ``save_s`` is the blocking checkpoint time δ,
``mtbf_s`` the mean time between interrupts M (Poisson failures with rate 1/M), ``restart_s`` the restart
cost R paid after every failure (itself interruptible), ``interval_s`` the compute time τ between
checkpoints, ``work_s`` the total solve time T_s.

These formulas assume exponential failures and one pool; the SimPy model relaxes both and is
cross-checked against them in the tests.
"""

from __future__ import annotations

import math

import numpy as np

from spotplan.errors import ConfigError


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{name}={value!r}: expected a finite number {bound}")


def young_interval_s(save_s: float, mtbf_s: float) -> float:
    """Young's first-order optimum τ = √(2·δ·M), in seconds."""
    _positive("save_s", save_s)
    _positive("mtbf_s", mtbf_s)
    return math.sqrt(2.0 * save_s * mtbf_s)


def daly_interval_s(save_s: float, mtbf_s: float) -> float:
    """Daly's higher-order optimum (2006, eq. 37) in seconds; equals M when δ >= 2M."""
    _positive("save_s", save_s)
    _positive("mtbf_s", mtbf_s)
    if save_s >= 2.0 * mtbf_s:
        return mtbf_s
    x = save_s / (2.0 * mtbf_s)
    return math.sqrt(2.0 * save_s * mtbf_s) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - save_s


def expected_segment_s(compute_s: float, save_s: float, restart_s: float, mtbf_s: float) -> float:
    """Expected wall time of one segment (compute + save) under Daly's model: M·e^{R/M}·(e^{(s+δ)/M} − 1)."""
    _positive("mtbf_s", mtbf_s)
    try:
        return mtbf_s * math.exp(restart_s / mtbf_s) * math.expm1((compute_s + save_s) / mtbf_s)
    except OverflowError:  # e^{x} past 1.8e308: segments that (almost) never complete
        return math.inf


def daly_expected_wall_s(
    work_s: float, interval_s: float, save_s: float, restart_s: float, mtbf_s: float
) -> float:
    """Daly's complete model T_w = M·e^{R/M}·(e^{(τ+δ)/M} − 1)·T_s/τ, in seconds (T_s/τ taken as real)."""
    _positive("work_s", work_s)
    _positive("interval_s", interval_s)
    _positive("save_s", save_s, allow_zero=True)
    _positive("restart_s", restart_s, allow_zero=True)
    return expected_segment_s(interval_s, save_s, restart_s, mtbf_s) * work_s / interval_s


def segments(work_s: float, interval_s: float) -> tuple[int, float]:
    """Split the work into ``n`` full segments of ``interval_s`` plus a remainder (0 when it divides)."""
    _positive("work_s", work_s)
    _positive("interval_s", interval_s)
    n = math.floor(work_s / interval_s + 1e-9)
    rem = work_s - n * interval_s
    if rem <= 1e-9 * max(work_s, 1.0):
        rem = 0.0
    return n, rem


def exact_expected_wall_s(
    work_s: float, interval_s: float, save_s: float, restart_s: float, mtbf_s: float
) -> float:
    """Σ over the actual segments (n full + remainder, each followed by a save) of the expected segment time.

    This is Daly's model without the "T_s/τ is real" shortcut; the simulator matches it exactly.
    """
    n, rem = segments(work_s, interval_s)
    total = n * expected_segment_s(interval_s, save_s, restart_s, mtbf_s)
    if rem > 0:
        total += expected_segment_s(rem, save_s, restart_s, mtbf_s)
    return total


def brute_force_optimum_s(
    work_s: float, save_s: float, restart_s: float, mtbf_s: float, *, points: int = 4001
) -> float:
    """Argmin of Daly's T_w over a log grid of τ from δ/100 to 20·M (a check on eq. 37)."""
    _positive("save_s", save_s)
    grid = np.geomspace(save_s / 100.0, 20.0 * mtbf_s, points)
    seg = mtbf_s * math.exp(restart_s / mtbf_s) * np.expm1((grid + save_s) / mtbf_s)
    return float(grid[int(np.argmin(seg / grid))])
