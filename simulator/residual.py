"""What a pool's availability source says about the time left in its current up (or down) period.

From the source's own periods: a replayed trace's up and down runs (the whole trace, the same statistics a fit
of it would use), or, for a renewal source, a fixed-seed draw of ``DRAWS`` periods (its own generator, so a run's
random stream is not touched). Given the age of the current period (observable: when it began is in the past),
the expected remaining time is ``E[L - age | L > age]`` over the empirical lengths, and the chance that it ends
within ``h`` is ``P(L - age < h | L > age)``. Past the longest length seen, the remaining time is taken as the
longest seen period's mean residual (no information says it will be long). Seconds throughout.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from spotplan.simulator.availability import AlwaysUp, Availability, RenewalAvailability, TraceAvailability

DRAWS = 4096
SEED = 20231215  # fixed: the statistics of a renewal source, not a replay of one run
INF = math.inf


@dataclass(frozen=True, slots=True)
class Lengths:
    """Sorted period lengths and their suffix sums, for conditional residuals in O(log n)."""

    sorted_s: np.ndarray
    suffix_s: np.ndarray  # suffix_s[i] = sum(sorted_s[i:])

    @classmethod
    def of(cls, lengths_s: np.ndarray) -> Lengths:
        """From raw lengths (any order; non-positive ones dropped)."""
        x = np.sort(np.asarray(lengths_s, dtype=float)[np.asarray(lengths_s) > 0])
        return cls(x, np.concatenate([np.cumsum(x[::-1])[::-1], [0.0]]))

    def remaining_s(self, age_s: float) -> float:
        """E[L - age | L > age]; INF when the source has no finite periods."""
        n = self.sorted_s.size
        if n == 0:
            return INF
        i = int(np.searchsorted(self.sorted_s, age_s, side="right"))
        if i >= n:
            return float(self.sorted_s.mean())
        return float(self.suffix_s[i] / (n - i) - age_s)

    def billed_beyond_s(self, age_s: float, free_s: float) -> float:
        """E[(L - age) 1{L - age >= free_s} | L > age]: the expected remaining time, counting only lives that
        outlast ``free_s`` (AWS bills nothing for a spot instance the cloud interrupts within its first hour)."""
        n = self.sorted_s.size
        if n == 0:
            return INF
        i = int(np.searchsorted(self.sorted_s, age_s, side="right"))
        if i >= n:
            return float(self.sorted_s.mean())
        j = int(np.searchsorted(self.sorted_s, age_s + free_s, side="left"))
        return float((self.suffix_s[j] - (n - j) * age_s) / (n - i))

    def ends_within(self, age_s: float, horizon_s: float) -> float:
        """P(L - age < horizon | L > age)."""
        n = self.sorted_s.size
        if n == 0:
            return 0.0
        i = int(np.searchsorted(self.sorted_s, age_s, side="right"))
        if i >= n:
            return 1.0
        j = int(np.searchsorted(self.sorted_s, age_s + horizon_s, side="left"))
        return (j - i) / (n - i)


@dataclass(frozen=True, slots=True)
class Residuals:
    """A pool's up and down period lengths."""

    up: Lengths
    down: Lengths
    mean_up_s: float


_CACHE: OrderedDict[int, tuple[Availability, Residuals]] = OrderedDict()
CACHE_SOURCES = 64  # the sources of the last few scenarios; a long-lived process (dashboard) must not grow forever


def residuals(av: Availability) -> Residuals:
    """The pool's statistics (computed once per source object, for the most recently used sources)."""
    hit = _CACHE.get(id(av))
    if hit is not None and hit[0] is av:  # the entry holds ``av``, so its id cannot have been reused
        _CACHE.move_to_end(id(av))
        return hit[1]
    out = _compute(av)
    _CACHE[id(av)] = (av, out)
    if len(_CACHE) > CACHE_SOURCES:
        _CACHE.popitem(last=False)
    return out


def _compute(av: Availability) -> Residuals:
    empty = Lengths.of(np.zeros(0))
    if isinstance(av, AlwaysUp):
        return Residuals(empty, empty, INF)
    if isinstance(av, TraceAvailability):
        runs = av._runs()
        gap = av.trace.gap_s
        up = (runs[:, 1] - runs[:, 0]) * gap
        down = (runs[1:, 0] - runs[:-1, 1]) * gap
        return Residuals(Lengths.of(up), Lengths.of(down), av.mean_up_s())
    if isinstance(av, RenewalAvailability):
        rng = np.random.default_rng(SEED)
        ups = av.sample_up_s(rng, DRAWS * av.nodes).reshape(DRAWS, av.nodes).min(axis=1) / av.rate_multiplier
        return Residuals(Lengths.of(ups), Lengths.of(av.sample_down_s(rng, DRAWS)), av.mean_up_s())
    return Residuals(empty, empty, INF)  # pragma: no cover - every source is one of the above
