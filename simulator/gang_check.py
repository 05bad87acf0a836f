"""Checking gang models against real multi-node traces: k-of-N up-time distributions, trace vs model.

A model's count process (``spotplan.simulator.counts``) is sampled at the trace's tick (the traces are samples
every ``gap_s``, so blips shorter than a tick are invisible in them, and must be in the model's sample too), and
both are summarised by the complete runs of ticks with at least k of N available
(``AvailabilityTrace.run_lengths_s``): count, mean and median (hours), and the two-sample Kolmogorov-Smirnov
distance between the trace's and the model's run lengths. Times are seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import ks_2samp

from spotplan.simulator.availability import Sampler
from spotplan.simulator.counts import CommonShock, CountProcess, renewal_chunks
from spotplan.simulator.market.gang_fit import ShockFit
from spotplan.simulator.market.series import AvailabilityTrace


def sample_counts(cp: CountProcess, gap_s: float, ticks: int) -> np.ndarray:
    """c(i * gap_s) for i in 0..ticks-1."""
    horizon = ticks * gap_s
    while not cp.done and cp.times[-1] <= horizon:  # draw past the horizon
        cp.start(len(cp.times))
    times = np.asarray(cp.times)
    counts = np.asarray(cp.counts)
    idx = np.searchsorted(times, np.arange(ticks) * gap_s, side="right") - 1
    return counts[idx]


def independent_counts(sample_up_s: Sampler, sample_down_s: Sampler, nodes: int, gap_s: float, ticks: int,
                       rng: np.random.Generator) -> np.ndarray:
    """Sampled count of ``nodes`` independent instances (the model that ``wait``'s min of lifetimes assumes)."""
    return sample_counts(CountProcess(nodes, renewal_chunks(sample_up_s, sample_down_s, nodes, 1.0, rng)), gap_s,
                         ticks)


def shock_counts(fit: ShockFit, nodes: int, gap_s: float, ticks: int, rng: np.random.Generator) -> np.ndarray:
    """Sampled count of the common-shock model."""
    group = max(1, math.ceil(fit.shock_fraction * nodes - 1e-9))  # the fit's shock rate is per zone at this size
    shock = CommonShock(zone_up_s=fit.zone_up.sample_s, zone_down_s=fit.zone_down.sample_s,
                        shock_node_rate_per_s=fit.shock_rate_per_s * group / nodes, shock_fraction=fit.shock_fraction,
                        shock_down_mean_s=fit.shock_down_mean_s)
    return sample_counts(CountProcess(nodes, shock.chunks(nodes, 1.0, rng)), gap_s, ticks)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    """Complete k-of-N up-runs of one series: how many, mean and median hours, KS distance to the trace."""

    k: int
    runs: int
    mean_h: float
    median_h: float
    ks: float | None  # None for the trace itself


def k_of_n(values: np.ndarray, gap_s: float, k: int, reference_s: np.ndarray | None = None) -> RunSummary:
    """The k-of-N up-runs of a sampled count (KS distance to ``reference_s`` when given)."""
    runs = AvailabilityTrace(gap_s=gap_s, values=values, capacity=int(values.max(initial=1))).run_lengths_s(k)[0]
    ks = None
    if reference_s is not None:
        ks = float(ks_2samp(runs, reference_s).statistic) if runs.size and reference_s.size else 1.0
    return RunSummary(k=k, runs=int(runs.size), mean_h=float(runs.mean() / 3600) if runs.size else 0.0,
                      median_h=float(np.median(runs) / 3600) if runs.size else 0.0, ks=ks)


def compare(trace: AvailabilityTrace, models: dict[str, np.ndarray], ks: tuple[int, ...]) -> dict[str, list[RunSummary]]:
    """For each k: the trace's up-runs and each model's, with the models' KS distance to the trace."""
    out: dict[str, list[RunSummary]] = {"trace": [], **{m: [] for m in models}}
    for k in ks:
        ref = trace.run_lengths_s(k)[0]
        out["trace"].append(k_of_n(trace.values, trace.gap_s, k))
        for name, values in models.items():
            out[name].append(k_of_n(values, trace.gap_s, k, ref))
    return out
