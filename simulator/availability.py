"""Per-pool availability processes as sequences of up periods in simulation seconds.

Semantics (one for every source): a pool is *up* when a gang of ``nodes`` instances can run there. A launch
succeeds only while the pool is up, and a running instance is interrupted when its pool goes down. Sources:

- ``AlwaysUp``: on-demand capacity.
- ``TraceAvailability``: a Can't Be Late trace replayed from the run's start offset. ``values[i] >= nodes`` means
  up over [i*gap, (i+1)*gap); an interruption happens exactly at a 1->0 tick. Past the trace's end it wraps to
  the start (an up run crossing the seam is not an interruption) or clamps (holds the last tick's state).
- ``RenewalAvailability``: alternating up and down periods drawn from samplers (exponential with an MTBF, or the
  fitted per-pool distributions). A gang's up period is the shortest of ``nodes`` instance lifetimes. A zero
  down period means capacity is back at once (Daly's model). Sampled up periods start fresh at time 0 and
  after each outage (no residual-life correction for non-exponential fits).

This is the classic gang (``job.gang: wait`` with independent nodes). An elastic gang, and any gang with
``gang_model: common-shock``, reads the same sources as a count of available nodes instead
(``spotplan.simulator.counts``, ``spotplan.simulator.gang``). The real 16-node traces show the shortest of N
independent lifetimes to be 4-6x too short for a 16-node gang (BENCHMARKS.md, "Gang model against real multi-node
traces"); it stays the default so that recorded figures do not move.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from spotplan.errors import ConfigError
from spotplan.simulator.market.series import AvailabilityTrace

INF = math.inf
RENEWAL_BATCH = 64  # periods drawn per generator call (pools.period_batches draws the same batches)
Sampler = Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlwaysUp:
    """Capacity that never runs out (on-demand)."""

    def periods(self, rng: np.random.Generator, offset_s: float) -> Iterator[tuple[float, float]]:
        """A single up period covering all time."""
        yield 0.0, INF

    @property
    def replay_span_s(self) -> float | None:
        """Nothing is replayed."""
        return None

    def mean_up_s(self) -> float:
        """Infinite mean up time."""
        return INF


@dataclass(frozen=True, slots=True, kw_only=True)
class TraceAvailability:
    """A replayed availability trace; ``runs`` are up runs as [start_tick, end_tick) pairs."""

    trace: AvailabilityTrace
    nodes: int = 1
    wrap: bool = True

    def __post_init__(self) -> None:
        up = self.trace.up(self.nodes)
        if not up.any():
            raise ConfigError(
                f"{self.trace.source or 'trace'}: never has {self.nodes} instance(s) available; "
                f"lower job.nodes or pick another trace"
            )

    def _runs(self) -> np.ndarray:
        u = self.trace.up(self.nodes).astype(np.int8)
        edges = np.diff(np.concatenate([[0], u, [0]]))
        return np.column_stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)])

    @property
    def replay_span_s(self) -> float:
        """Length of the trace in seconds."""
        return self.trace.duration_s

    def mean_up_s(self) -> float:
        """MTBF: time up divided by the number of 1->0 interruptions (censoring-aware; the span if none)."""
        up_s = float(self.trace.up(self.nodes).sum()) * self.trace.gap_s
        n = self.trace.interruption_ticks(self.nodes).size
        return up_s / n if n else self.trace.duration_s

    def _tick_periods(self) -> Iterator[tuple[int, float]]:
        """Up runs as (start_tick, end_tick) over successive cycles; end is inf when clamped up."""
        runs = self._runs()
        n = self.trace.values.size
        cycle = 0
        while True:
            for a, b in runs:
                start, end = int(a) + cycle * n, int(b) + cycle * n
                if not self.wrap and b == n:
                    yield start, INF
                    return
                yield start, end
            if not self.wrap:
                return
            cycle += 1

    def periods(self, rng: np.random.Generator, offset_s: float) -> Iterator[tuple[float, float]]:
        """Up periods in simulation time for a replay starting ``offset_s`` into the trace."""
        gap = self.trace.gap_s
        if self.trace.up(self.nodes).all():
            yield 0.0, INF
            return
        pending: tuple[float, float] | None = None
        for a, b in self._tick_periods():
            # Merge runs that touch across the wrap seam: no interruption happens there.
            if pending is not None and pending[1] == a:
                pending = (pending[0], b)
                continue
            if pending is not None:
                out = self._to_sim(pending, gap, offset_s)
                if out is not None:
                    yield out
            pending = (a, b)
        if pending is not None:
            out = self._to_sim(pending, gap, offset_s)
            if out is not None:
                yield out

    @staticmethod
    def _to_sim(run: tuple[float, float], gap: float, offset_s: float) -> tuple[float, float] | None:
        end = run[1] * gap - offset_s if run[1] != INF else INF
        if end <= 0:
            return None
        return max(0.0, run[0] * gap - offset_s), end


@dataclass(frozen=True, slots=True, kw_only=True)
class ExponentialSampler:
    """Exponential up periods of mean ``mean_s`` (per instance); a picklable sampler."""

    mean_s: float

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws in seconds (zeros when the mean is 0)."""
        if self.mean_s <= 0:
            return np.zeros(n)
        return rng.exponential(self.mean_s, n)


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalAvailability:
    """Alternating up/down periods from samplers; up periods are gang minima divided by ``rate_multiplier``."""

    sample_up_s: Sampler
    sample_down_s: Sampler
    nodes: int = 1
    rate_multiplier: float = 1.0
    mean_instance_up_s: float = INF
    source: str = ""

    def periods(self, rng: np.random.Generator, offset_s: float) -> Iterator[tuple[float, float]]:
        """Up periods in simulation time; the offset does not matter for a stationary process."""
        t, batch = 0.0, RENEWAL_BATCH  # draw in batches: one numpy call per 64 periods, not two per period
        while True:
            ups = self.sample_up_s(rng, batch * self.nodes).reshape(batch, self.nodes).min(axis=1)
            downs = self.sample_down_s(rng, batch)
            for up, down in zip((ups / self.rate_multiplier).tolist(), downs.tolist(), strict=True):
                yield t, t + up
                t += up + down

    @property
    def replay_span_s(self) -> float | None:
        """Nothing is replayed."""
        return None

    def mean_up_s(self) -> float:
        """Mean gang up time (exact for exponential lifetimes: instance mean / nodes)."""
        return self.mean_instance_up_s / self.nodes / self.rate_multiplier


Availability = AlwaysUp | TraceAvailability | RenewalAvailability


def exponential(mtbf_s: float, downtime_s: float, *, nodes: int, rate_multiplier: float = 1.0,
                source: str = "") -> RenewalAvailability:
    """Poisson interruptions with per-instance mean up time ``mtbf_s`` and mean outage ``downtime_s``."""
    return RenewalAvailability(
        sample_up_s=ExponentialSampler(mean_s=mtbf_s), sample_down_s=ExponentialSampler(mean_s=downtime_s),
        nodes=nodes, rate_multiplier=rate_multiplier, mean_instance_up_s=mtbf_s, source=source,
    )
