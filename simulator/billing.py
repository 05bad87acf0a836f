"""Prices in simulation time and the billing rules applied to one instance lifetime.

A ``ReplayedPrice`` maps simulation seconds onto a replayed ``PriceSeries`` (epoch seconds) shifted by the run's
start offset. Past the history's end it either wraps to the history's start or clamps (holds the last price).
``bill_usd`` applies per-second billing with a minimum, whole-hour rounding when per-second is off, and AWS's
rule that a spot instance AWS interrupts in its first hour is not charged (Linux). For a gang the rule covers the
instance the cloud reclaimed, one per interruption: the job stops the others, and those are billed (AWS's table:
an instance *you* stop is charged per second). Prices are USD per hour.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from spotplan.simulator.market.series import PriceSeries

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingRules:
    """The billing flags of a scenario (see spotplan.schemas.scenario.BillingSpec)."""

    per_second: bool = True
    minimum_s: float = 60.0
    first_hour_free_on_interruption: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class FlatPrice:
    """A constant price (catalog snapshot, fitted mean or a fixed figure)."""

    usd_per_h: float

    def price_at(self, t_s: float) -> float:
        """Price in USD/h at simulation time ``t_s``."""
        return self.usd_per_h

    def cost_usd(self, t0_s: float, t1_s: float) -> float:
        """Cost of one instance over [t0_s, t1_s] in USD."""
        return self.usd_per_h * (t1_s - t0_s) / SECONDS_PER_HOUR

    def changes(self, after_s: float) -> Iterator[tuple[float, float]]:
        """Price change points after ``after_s``: none."""
        return iter(())


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayedPrice:
    """A price history replayed from ``offset_s`` after its first change point; ``wrap`` or clamp at its end."""

    series: PriceSeries
    offset_s: float
    wrap: bool = True

    def _src(self, t_s: float) -> tuple[int, float]:
        """(completed cycles, source time) of simulation time ``t_s``."""
        span = self.series.span_s
        x = self.offset_s + t_s
        if not self.wrap or span <= 0:
            return 0, self.series.start_s + min(x, span)
        k = math.floor(x / span)
        return k, self.series.start_s + (x - k * span)

    def _cum(self, t_s: float) -> float:
        """Cost of one instance from simulation time -offset_s (history start) to ``t_s``."""
        s = self.series
        span = s.span_s
        x = self.offset_s + t_s
        if not self.wrap or span <= 0:
            extra = max(0.0, x - span)
            return s.cumulative_usd(s.start_s + min(x, span)) + s.prices_usd_per_h[-1] * extra / SECONDS_PER_HOUR
        k, src = self._src(t_s)
        return k * s.cumulative_usd(s.end_s) + s.cumulative_usd(src)

    def price_at(self, t_s: float) -> float:
        """Price in USD/h at simulation time ``t_s``."""
        return self.series.price_at(self._src(t_s)[1])

    def cost_usd(self, t0_s: float, t1_s: float) -> float:
        """Exact integral of the replayed step price over [t0_s, t1_s] in USD."""
        return self._cum(t1_s) - self._cum(t0_s)

    def costs_usd(self, t0_s: np.ndarray, t1_s: np.ndarray) -> np.ndarray:
        """``cost_usd`` of many intervals at once (one instance each)."""
        return self._cum_many(np.asarray(t1_s, dtype=float)) - self._cum_many(np.asarray(t0_s, dtype=float))

    def _cum_many(self, t_s: np.ndarray) -> np.ndarray:
        s = self.series
        span = s.span_s
        x = self.offset_s + t_s
        if not self.wrap or span <= 0:
            src = s.start_s + np.minimum(x, span)
            extra = np.maximum(0.0, x - span) * s.prices_usd_per_h[-1] / SECONDS_PER_HOUR
            return _cum_at(s, src) + extra
        k = np.floor(x / span)
        return k * s.cumulative_usd(s.end_s) + _cum_at(s, s.start_s + (x - k * span))

    def changes(self, after_s: float) -> Iterator[tuple[float, float]]:
        """(simulation time, new price) of every change point after ``after_s``, forever when wrapping."""
        s = self.series
        span = s.span_s
        rel = s.times_s - s.start_s  # change points relative to the history start
        k, src = self._src(after_s)
        i = int(rel.searchsorted(src - s.start_s, side="right"))
        while True:
            base = k * span - self.offset_s
            for j in range(i, rel.size):
                yield base + float(rel[j]), float(s.prices_usd_per_h[j])
            if not self.wrap or span <= 0:
                return
            k, i = k + 1, 0


def _cum_at(s: PriceSeries, t_s: np.ndarray) -> np.ndarray:
    """``PriceSeries.cumulative_usd`` at many times inside the history."""
    i = np.clip(np.searchsorted(s.times_s, t_s, side="right") - 1, 0, s.times_s.size - 1)
    return s._cum_usd[i] + s.prices_usd_per_h[i] * (t_s - s.times_s[i]) / SECONDS_PER_HOUR


def billed_seconds(duration_s: float, rules: BillingRules) -> float:
    """Seconds charged for a lifetime of ``duration_s``: the minimum, and whole hours unless per-second."""
    charged = max(duration_s, rules.minimum_s)
    if not rules.per_second:
        charged = math.ceil(charged / SECONDS_PER_HOUR - 1e-12) * SECONDS_PER_HOUR
    return charged


def bill_usd(
    price: FlatPrice | ReplayedPrice, start_s: float, end_s: float, *, nodes: int, spot: bool,
    interrupted: bool, rules: BillingRules,
) -> tuple[float, float]:
    """(raw, billed) USD for ``nodes`` instances that ran over [start_s, end_s].

    Raw is the exact integral of the price; billed applies the rules. The first-hour rule only covers the spot
    instance the cloud interrupted, not the rest of its gang, which the job stopped (``nodes - 1`` billed).
    """
    duration = end_s - start_s
    raw = nodes * price.cost_usd(start_s, end_s)
    free = spot and interrupted and rules.first_hour_free_on_interruption and duration < SECONDS_PER_HOUR
    if free and nodes == 1:
        return raw, 0.0
    charged = billed_seconds(duration, rules)
    if free:
        return raw, (nodes - 1) * price.cost_usd(start_s, start_s + charged)
    billed = raw if charged == duration else nodes * price.cost_usd(start_s, start_s + charged)
    return raw, billed
