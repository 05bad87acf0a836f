"""Gangs of nodes: how many of a pool's instances can run at each instant (the count process), and width speed.

A pool's *count process* c(t) is the number of the gang's ``nodes`` instances that can run at simulation time t
(seconds), piecewise constant between market events (a node lost, a node back). One process serves every source:

- a Can't Be Late trace: the value is the count (capped at ``nodes``), replayed from the run's offset; past the
  end it wraps or holds the last value, as ``availability.TraceAvailability`` does;
- renewal sources (exponential, fitted): ``nodes`` independent instances, each alternating an up period drawn from
  the pool's up-time sampler (divided by ``rate_multiplier``) and a down period from its down-time sampler, all
  fresh at time 0. For one node this draws exactly the periods of ``availability.RenewalAvailability``;
- a common shock (``common_shock_chunks``, fitted in ``data/fitted/gang_correlation.json``): zone-wide up and
  down periods (every node lost together), and inside a zone's up period each node's own exponential blips.

The process is drawn lazily from the pool's own generator in time order, so its cost is proportional to the
market events the run meets, not to nodes times checkpoints. A node lost and replaced at the same instant (a zero
down period) is a zero-length dip: still a lost node.

Gang policies (``spotplan.schemas.scenario.GangPolicy``): ``wait`` runs only while all ``nodes`` are up (the
classic model in ``availability``); ``elastic`` runs at width k = min(nodes, c) whenever k >= ``min_nodes``
(``spotplan.simulator.gang_job``), at ``width_factor(k)`` of the full gang's throughput; ``spotplan.simulator.gang``
reads the process through a pool clock.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from spotplan.simulator.availability import RENEWAL_BATCH, Sampler

INF = math.inf
Chunk = tuple[list[float], list[int]]  # change instants (non-decreasing) and the count from each


def dp_speedup(ratio: float, dp_efficiency_per_doubling: float) -> float:
    """Speed of ``ratio`` times the nodes relative to the original gang, data-parallel: each doubling multiplies the
    speed by ``2 * eff`` (fractional doublings by the same law), i.e. ratio * eff^log2(ratio). The one law the
    advisor's node scaling (``advisor.sizing.scaled_tokens_per_s``) and an elastic gang's width both use."""
    return ratio * dp_efficiency_per_doubling ** math.log2(ratio)


def width_factor(width: int, nodes: int, dp_efficiency_per_doubling: float = 1.0) -> float:
    """Throughput of ``width`` nodes relative to the full gang of ``nodes`` (``dp_speedup`` of width / nodes).

    Width k runs at (k/N) * eff^(log2 k - log2 N), which is at least k/N when eff <= 1 (a narrower gang loses less
    to communication). eff = 1 is linear.
    """
    if not 1 <= width <= nodes:
        raise ValueError(f"width {width} outside 1..{nodes}")
    return dp_speedup(width / nodes, dp_efficiency_per_doubling)


class CountProcess:
    """Piecewise-constant c(t): ``counts[i]`` holds on [times[i], times[i+1]); drawn lazily in chunks.

    ``times[0]`` is 0. Once the source is exhausted a sentinel (inf, last count) closes the lists.
    """

    __slots__ = ("_chunks", "ceiling", "counts", "cursor", "done", "floor", "horizon_s", "nodes", "times")

    def __init__(self, nodes: int, chunks: Iterator[Chunk], floor: int = 0, ceiling: int | None = None,
                 horizon_s: float = INF) -> None:
        self.nodes = nodes
        # Nothing is drawn past the run's horizon: the last count holds from there (a gang of 128 nodes with 64
        # needed may stay up for longer than any run; looking for the end of that would never stop).
        self.horizon_s = horizon_s
        # Bounds the count never leaves (a wrapped trace's minimum and maximum): searches past them would not end.
        self.floor = floor
        self.ceiling = nodes if ceiling is None else ceiling
        self._chunks = chunks
        self.times: list[float] = []
        self.counts: list[int] = []
        self.done = False
        self.cursor = 0  # segment holding the latest time asked by ``index_at`` (queries go forward in time)
        self._more()

    def _more(self) -> None:
        nxt = next(self._chunks, None) if not self.times or self.times[-1] <= self.horizon_s else None
        if nxt is None:
            self.times.append(INF)
            self.counts.append(self.counts[-1])
            self.done = True
            return
        ts, cs = nxt
        if self.counts and cs and cs[0] == self.counts[-1]:  # a seam that changes nothing
            ts, cs = ts[1:], cs[1:]
        self.times += ts
        self.counts += cs

    def start(self, i: int) -> float:
        """Start of segment ``i`` (inf past the sentinel)."""
        while len(self.times) <= i:
            if self.done:
                return INF
            self._more()
        return self.times[i]

    def index_at(self, t_s: float) -> int:
        """The segment holding ``t_s`` (half-open; zero-length dips at ``t_s`` are over by then).

        Walks forward from the latest time asked (the job's clock only goes forward); a look back from a query
        about the future (a rejoin check) bisects instead.
        """
        i = self.cursor
        if self.times[i] > t_s:
            return bisect.bisect_right(self.times, t_s) - 1
        while self.start(i + 1) <= t_s:
            i += 1
        self.cursor = i
        return i

    def count_at(self, t_s: float) -> int:
        """c(t_s)."""
        return self.counts[self.index_at(t_s)]

    def first_change(self, after_s: float, *, below: int | None = None, at_least: int | None = None,
                     until_s: float = INF) -> float:
        """First change instant in (after_s, until_s) to a count < ``below`` (or >= ``at_least``); inf if none."""
        if (below is not None and below <= self.floor) or (at_least is not None and at_least > self.ceiling):
            return INF
        i = self.index_at(after_s) + 1
        while True:
            t = self.start(i)
            if t >= until_s:
                return INF
            c = self.counts[i]
            if (below is not None and c < below) or (at_least is not None and c >= at_least):
                return t
            i += 1

    def usable(self, t_s: float, notice_s: float) -> int:
        """Nodes up at ``t_s`` and not under notice: the least count over [t_s, t_s + notice_s]."""
        i = self.index_at(t_s)
        c = self.counts[i]
        while self.start(i + 1) <= t_s + notice_s:
            i += 1
            c = min(c, self.counts[i])
        return c

    def up_batches(self, need: int) -> Iterator[tuple[list[float], list[float]]]:
        """Up periods of c >= ``need`` as batches of (starts, ends), the lists a ``PoolClock`` reads."""
        if self.floor >= need:
            yield [0.0], [INF]
            return
        i, starts, ends = 0, [], []
        while True:
            while self.counts[i] < need:
                if self.start(i + 1) == INF:
                    if starts:
                        yield starts, ends
                    return
                i += 1
            s = self.start(i)
            while self.counts[i] >= need and self.start(i + 1) < INF:
                i += 1
            e = self.start(i) if self.counts[i] < need else INF
            starts.append(s)
            ends.append(e)
            if e == INF or len(starts) >= RENEWAL_BATCH:
                yield starts, ends
                starts, ends = [], []
                if e == INF:
                    return


def trace_chunks(values: np.ndarray, gap_s: float, nodes: int, offset_s: float, wrap: bool) -> Iterator[Chunk]:
    """The count of a replayed trace from ``offset_s`` (tick i holds on [i*gap - offset, (i+1)*gap - offset))."""
    v = np.minimum(np.asarray(values, dtype=np.int64), nodes)
    span = v.size * gap_s
    idx = np.concatenate([[0], np.flatnonzero(np.diff(v)) + 1])
    rel, vals = idx * gap_s, v[idx].tolist()
    cycle = math.floor(offset_s / span) if wrap else 0
    first = True
    while True:
        t = (cycle * span + rel - offset_s).tolist()
        c = vals
        if first:
            j = max(0, int(np.searchsorted(t, 0.0, side="right")) - 1)
            t, c = [0.0] + t[j + 1:], c[j:]
            first = False
        yield t, c
        if not wrap or len(vals) == 1:
            return
        cycle += 1


def renewal_chunks(sample_up_s: Sampler, sample_down_s: Sampler, nodes: int, rate_multiplier: float,
                   rng: np.random.Generator) -> Iterator[Chunk]:
    """``nodes`` independent alternating instances, all fresh and up at 0; batches of 64 cycles per node.

    The draws and float operations per node are those of ``pools.period_batches`` (ups, then downs, a running
    sum), so one node gives the very periods the ``wait`` model draws. A batch is released up to the earliest
    last event over the nodes; later events wait for the next batch.
    """
    batch = RENEWAL_BATCH
    t_node = np.zeros(nodes)
    pend_t, pend_d = np.empty(0), np.empty(0, dtype=np.int64)
    count = nodes
    yield [0.0], [nodes]
    while True:
        ups = sample_up_s(rng, batch * nodes)
        if rate_multiplier != 1.0:
            ups = ups / rate_multiplier
        downs = sample_down_s(rng, batch * nodes)
        ups, downs = ups.reshape(nodes, batch), downs.reshape(nodes, batch)
        steps = ups + downs
        steps[:, 0] += t_node
        ends = steps.cumsum(axis=1)  # each cycle's return
        starts = np.empty_like(ends)
        starts[:, 0] = t_node
        starts[:, 1:] = ends[:, :-1]
        t_node = ends[:, -1].copy()
        ev_t = np.concatenate([pend_t, (starts + ups).ravel(), ends.ravel()])
        ev_d = np.concatenate([pend_d, np.full(ups.size, -1), np.full(ups.size, 1)])
        order = np.lexsort((ev_d, ev_t))  # by time; a loss before a return at the same instant
        ev_t, ev_d = ev_t[order], ev_d[order]
        k = int(np.searchsorted(ev_t, t_node.min(), side="right"))
        counts = count + np.cumsum(ev_d[:k])
        if k:
            count = int(counts[-1])
            yield ev_t[:k].tolist(), counts.tolist()
        pend_t, pend_d = ev_t[k:], ev_d[k:]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScaledSampler:
    """``base``'s draws times ``factor`` (a picklable sampler: compiled scenarios go to worker processes)."""

    base: Sampler
    factor: float

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws in seconds."""
        return self.base(rng, n) * self.factor


@dataclass(frozen=True, slots=True, kw_only=True)
class CommonShock:
    """Correlated reclaims: zone-wide up/down periods, and partial shocks that take a group of nodes inside them.

    ``zone_up_s``/``zone_down_s`` sample zone periods (seconds): a zone-up starts with all nodes up, a zone-down
    takes them all. Inside a zone-up, partial shocks (Poisson) each take g = ceil(``shock_fraction`` x nodes)
    nodes, which come back together after an exponential time of mean ``shock_down_mean_s``; they arrive at
    ``shock_node_rate_per_s`` x nodes / g, so that one node is hit at ``shock_node_rate_per_s`` whatever the gang's
    size (one node: every shock takes it). Overlapping shocks floor the count at 0. Fitted by ``scripts/fit_gang.py`` into
    ``data/fitted/gang_correlation.json`` (``spotplan.simulator.market.gang_fit``).
    """

    zone_up_s: Sampler
    zone_down_s: Sampler
    shock_node_rate_per_s: float
    shock_fraction: float
    shock_down_mean_s: float

    @classmethod
    def split(cls, sample_up_s: Sampler, sample_down_s: Sampler, instance_mean_up_s: float, *, zone_share: float,
              fraction: float, down_mean_s: float) -> CommonShock:
        """A single-instance process split into zone-wide reclaims (``zone_share`` of them: zone up-times are the
        instance's divided by the share) and partial shocks carrying the rest of one node's reclaim rate
        ((1 - share) / mean up-time; each takes ``fraction`` of the gang); one node keeps its reclaim rate."""
        return cls(zone_up_s=ScaledSampler(base=sample_up_s, factor=1.0 / zone_share), zone_down_s=sample_down_s,
                   shock_node_rate_per_s=(1.0 - zone_share) / instance_mean_up_s,
                   shock_fraction=fraction, shock_down_mean_s=down_mean_s)

    def chunks(self, nodes: int, rate_multiplier: float, rng: np.random.Generator) -> Iterator[Chunk]:
        """The count process, zone period by zone period (``rate_multiplier`` scales both kinds of reclaim)."""
        t = 0.0
        group = max(1, math.ceil(self.shock_fraction * nodes - 1e-9))
        while True:
            ups = self.zone_up_s(rng, RENEWAL_BATCH) / rate_multiplier
            downs = self.zone_down_s(rng, RENEWAL_BATCH)
            for up, down in zip(ups.tolist(), downs.tolist(), strict=True):
                ts, cs = self._partial(rng, nodes, group, t, t + up, rate_multiplier)
                yield [t, *ts, t + up], [nodes, *cs, 0]
                t += up + down

    def _partial(self, rng: np.random.Generator, nodes: int, group: int, a: float, b: float,
                 mult: float) -> tuple[list[float], list[int]]:
        rate = self.shock_node_rate_per_s * nodes / group * mult
        k = int(rng.poisson(rate * (b - a))) if rate > 0 else 0
        if k == 0:
            return [], []
        hit = np.sort(rng.uniform(a, b, k))
        back = hit + rng.exponential(self.shock_down_mean_s, k)
        ev_t = np.concatenate([hit, back[back < b]])
        ev_d = np.concatenate([np.full(k, -group), np.full(int((back < b).sum()), group)])
        order = np.lexsort((ev_d, ev_t))
        counts = np.maximum(0, nodes + np.cumsum(ev_d[order]))
        return ev_t[order].tolist(), counts.tolist()
