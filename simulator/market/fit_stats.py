"""Pure statistics behind ``spotplan data fit``: price-change rates and up/down-time fits. Units: s, h, USD/h.

Up/down-times come from availability/preemption ticks. Runs cut by the window's ends are censored: they count in
the time at risk but not as events, so ``mean_s = time in state / transitions out of it`` (the exponential MLE with
right-censoring). The lognormal shape ``sigma_log`` is the standard deviation of log run length over complete runs;
its scale is set so the lognormal mean equals the censoring-aware mean (complete runs alone under-state long runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spotplan.simulator.market.series import AvailabilityTrace, PriceSeries


def sig(x: float, digits: int = 6) -> float:
    """Round to significant digits so the committed JSON is stable and readable."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStats:
    """Pooled run statistics of one state (up or down) over one or more traces."""

    time_s: float  # total time observed in the state, censored runs included
    events: int  # transitions out of the state
    complete_log_s: tuple[float, ...]  # log of complete run lengths (s)

    @property
    def mean_s(self) -> float:
        """Censoring-aware mean run length (inf when no run ended)."""
        return self.time_s / self.events if self.events else math.inf

    @property
    def sigma_log(self) -> float:
        """Std of log run length over complete runs (0 with fewer than 2)."""
        a = np.asarray(self.complete_log_s)
        return float(a.std()) if a.size >= 2 else 0.0

    def lognormal(self) -> dict[str, float]:
        """Lognormal params whose mean is ``mean_s`` and whose shape is the complete runs'."""
        s = self.sigma_log
        return {"mu_log_s": sig(math.log(self.mean_s) - s * s / 2), "sigma_log": sig(s)}

    def merge(self, other: RunStats) -> RunStats:
        """Pool two samples."""
        return RunStats(time_s=self.time_s + other.time_s, events=self.events + other.events,
                        complete_log_s=self.complete_log_s + other.complete_log_s)


def run_stats(trace: AvailabilityTrace, need: int = 1) -> tuple[RunStats, RunStats]:
    """(up, down) statistics of one trace for a gang of ``need`` instances."""
    u = trace.up(need)
    up_events = int(np.count_nonzero(u[:-1] & ~u[1:]))
    down_events = int(np.count_nonzero(~u[:-1] & u[1:]))
    up_runs, down_runs = trace.run_lengths_s(need)
    up = RunStats(time_s=float(u.sum()) * trace.gap_s, events=up_events,
                  complete_log_s=tuple(float(x) for x in np.log(up_runs)))
    down = RunStats(time_s=float((~u).sum()) * trace.gap_s, events=down_events,
                    complete_log_s=tuple(float(x) for x in np.log(down_runs)))
    return up, down


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceStats:
    """Change statistics of one price step function."""

    span_h: float
    change_points: int
    changes: int  # change points whose price differs from the previous one
    rel_changes: tuple[float, ...]  # p_i / p_{i-1} - 1 over real changes
    mean_usd_per_h: float
    min_usd_per_h: float
    max_usd_per_h: float


def price_stats(s: PriceSeries) -> PriceStats:
    """Statistics of one series over its observed span."""
    p = s.prices_usd_per_h
    prev, cur = p[:-1], p[1:]
    moved = cur != prev
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(prev[moved] > 0, cur[moved] / prev[moved] - 1.0, np.nan)
    rel = rel[np.isfinite(rel)]
    return PriceStats(span_h=s.span_s / 3600.0, change_points=int(p.size), changes=int(moved.sum()),
                      rel_changes=tuple(float(x) for x in rel), mean_usd_per_h=s.mean_usd_per_h(),
                      min_usd_per_h=float(p.min()), max_usd_per_h=float(p.max()))


def pooled_change_rate(stats: list[PriceStats]) -> tuple[float, float]:
    """(changes per hour, std of relative change) pooled over series."""
    hours = sum(x.span_h for x in stats)
    changes = sum(x.changes for x in stats)
    rel = np.concatenate([np.asarray(x.rel_changes) for x in stats]) if stats else np.zeros(0)
    return (changes / hours if hours > 0 else 0.0), (float(rel.std()) if rel.size >= 2 else 0.0)


def band_rate_per_h(p_month: float) -> float:
    """Hourly interruption rate if a share ``p_month`` of instances is reclaimed within 720 h (Poisson)."""
    return -math.log1p(-p_month) / 720.0
