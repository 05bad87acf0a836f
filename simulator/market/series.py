"""Pure time-series primitives: a price step function and an availability trace.

A spot price history is a list of change points: each price holds from its timestamp until the next
change point (AWS's ``describe-spot-price-history`` semantics). Billing needs the exact integral of
that step function, so ``PriceSeries.cost_usd`` integrates piecewise rather than sampling.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spotplan.errors import DataError

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSeries:
    """Step-function price of one pool. ``times_s`` are strictly increasing epoch seconds.

    The last price holds until ``end_s`` (the end of the observed span, at least the last change point).
    Queries outside ``[times_s[0], end_s]`` raise DataError: the history does not say what the price was.
    """

    times_s: np.ndarray
    prices_usd_per_h: np.ndarray
    end_s: float
    instance_type: str = ""
    region: str = ""
    zone: str = ""
    az_id: str = ""
    product: str = "Linux/UNIX"
    source: str = ""
    _cum_usd: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        t = np.asarray(self.times_s, dtype=float)
        p = np.asarray(self.prices_usd_per_h, dtype=float)
        if t.ndim != 1 or t.size == 0 or t.shape != p.shape:
            raise DataError("a price series needs matching, non-empty 1-D times and prices", path=self.source)
        if np.any(np.diff(t) <= 0):
            raise DataError("price change points must be strictly increasing in time", path=self.source)
        if np.any(~np.isfinite(p)) or np.any(p < 0):
            raise DataError("prices must be finite and >= 0 USD/h", path=self.source)
        if self.end_s < t[-1]:
            raise DataError(f"end_s={self.end_s} is before the last change point {t[-1]}", path=self.source)
        object.__setattr__(self, "times_s", t)
        object.__setattr__(self, "prices_usd_per_h", p)
        # Cumulative cost (USD) at each change point, for O(log n) exact integrals.
        seg_usd = p[:-1] * np.diff(t) / SECONDS_PER_HOUR
        object.__setattr__(self, "_cum_usd", np.concatenate([[0.0], np.cumsum(seg_usd)]))

    @property
    def start_s(self) -> float:
        """First change point: the earliest time the price is known."""
        return float(self.times_s[0])

    @property
    def span_s(self) -> float:
        """Length of the observed span in seconds."""
        return float(self.end_s - self.times_s[0])

    def _check(self, t_s: float) -> None:
        if not (self.times_s[0] <= t_s <= self.end_s):
            raise DataError(
                f"time {t_s:.0f} is outside the price history [{self.times_s[0]:.0f}, {self.end_s:.0f}]",
                path=self.source or None,
            )

    def price_at(self, t_s: float) -> float:
        """Price in USD/h in effect at ``t_s`` (the latest change point at or before it)."""
        self._check(t_s)
        i = int(np.searchsorted(self.times_s, t_s, side="right")) - 1
        return float(self.prices_usd_per_h[i])

    def cumulative_usd(self, t_s: float) -> float:
        """Cost in USD of running one instance from the first change point to ``t_s``."""
        self._check(t_s)
        i = int(np.searchsorted(self.times_s, t_s, side="right")) - 1
        return float(self._cum_usd[i] + self.prices_usd_per_h[i] * (t_s - self.times_s[i]) / SECONDS_PER_HOUR)

    def cost_usd(self, t0_s: float, t1_s: float) -> float:
        """Exact integral of price over [t0_s, t1_s], in USD (per-second billing, no minimum)."""
        if t1_s < t0_s:
            raise ValueError(f"t1_s={t1_s} < t0_s={t0_s}")
        return self.cumulative_usd(t1_s) - self.cumulative_usd(t0_s)

    def mean_usd_per_h(self) -> float:
        """Time-weighted mean price over the observed span (the last price if the span is empty)."""
        if self.span_s <= 0:
            return float(self.prices_usd_per_h[-1])
        return self.cost_usd(self.start_s, self.end_s) * SECONDS_PER_HOUR / self.span_s


@dataclass(frozen=True, slots=True, kw_only=True)
class AvailabilityTrace:
    """Spot availability sampled every ``gap_s``: ``values[i]`` instances obtainable at ``start_s + i*gap_s``.

    1-node traces hold 0/1 (1 = available or running); multi-node traces hold 0..``capacity``.
    ``prices_usd_per_h`` is the optional per-tick spot price some Can't Be Late files carry.
    """

    gap_s: float
    values: np.ndarray
    start_s: float = 0.0
    capacity: int = 1
    prices_usd_per_h: np.ndarray | None = None
    instance_type: str = ""
    zone: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        v = np.asarray(self.values)
        if not (self.gap_s > 0) or v.ndim != 1 or v.size == 0:
            raise DataError("an availability trace needs gap_s > 0 and a non-empty 1-D data list", path=self.source)
        if np.any(v < 0):
            raise DataError("availability values must be >= 0", path=self.source)
        object.__setattr__(self, "values", v.astype(np.int64))
        if self.prices_usd_per_h is not None:
            pr = np.asarray(self.prices_usd_per_h, dtype=float)
            if pr.shape != v.shape:
                raise DataError("'prices' must have the same length as 'data'", path=self.source)
            object.__setattr__(self, "prices_usd_per_h", pr)

    @property
    def duration_s(self) -> float:
        """Covered time: ticks times gap."""
        return float(self.values.size * self.gap_s)

    def up(self, need: int = 1) -> np.ndarray:
        """Boolean per tick: at least ``need`` instances available (gang scheduling needs all)."""
        return self.values >= need

    def interruption_ticks(self, need: int = 1) -> np.ndarray:
        """Indices i where availability falls from up (tick i-1) to down (tick i)."""
        u = self.up(need)
        return np.flatnonzero(u[:-1] & ~u[1:]) + 1

    def run_lengths_s(self, need: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Durations in seconds of complete up-runs and down-runs (censored first/last runs excluded)."""
        u = self.up(need).astype(np.int8)
        edges = np.flatnonzero(np.diff(u)) + 1
        bounds = np.concatenate([[0], edges, [u.size]])
        lengths = np.diff(bounds) * self.gap_s
        states = u[bounds[:-1]]
        inner = slice(1, -1)  # first and last runs are censored by the window
        return lengths[inner][states[inner] == 1], lengths[inner][states[inner] == 0]
