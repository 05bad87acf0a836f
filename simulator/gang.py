"""The pool clock of an elastic gang: a ``PoolClock`` over the count process (``spotplan.simulator.counts``).

Its up periods are those of c(t) >= ``min_nodes``, so launches, waits and the retry grid work as for any pool;
``width_at`` says how many nodes a launch gets. Times are simulation seconds.
"""

from __future__ import annotations

import math

import numpy as np

from spotplan.simulator.availability import AlwaysUp, RenewalAvailability, TraceAvailability
from spotplan.simulator.compile import CompiledPool
from spotplan.simulator.counts import CountProcess, renewal_chunks, trace_chunks
from spotplan.simulator.pools import PoolClock

INF = math.inf


def count_process(cp: CompiledPool, rng: np.random.Generator, offset_s: float, wrap: bool,
                  horizon_s: float = INF) -> CountProcess:
    """The count process of a compiled pool's availability source (drawn up to ``horizon_s``)."""
    av, n = cp.availability, cp.nodes
    if isinstance(av, TraceAvailability):
        v = av.trace.values
        return CountProcess(n, trace_chunks(v, av.trace.gap_s, n, offset_s, wrap), floor=min(n, int(v.min())),
                            ceiling=min(n, int(v.max())), horizon_s=horizon_s)
    if isinstance(av, RenewalAvailability):
        if cp.common_shock is not None:
            return CountProcess(n, cp.common_shock.chunks(n, av.rate_multiplier, rng), horizon_s=horizon_s)
        return CountProcess(n, renewal_chunks(av.sample_up_s, av.sample_down_s, n, av.rate_multiplier, rng),
                            horizon_s=horizon_s)
    assert isinstance(av, AlwaysUp)
    return CountProcess(n, iter([([0.0], [n])]), floor=n)


class GangClock(PoolClock):
    """A pool's clock for an elastic gang: up while c >= ``min_nodes``; knows the width it can run at."""

    __slots__ = ("count", "min_nodes")

    def __init__(self, cp: CompiledPool, rng: np.random.Generator, offset_s: float, wrap: bool,
                 horizon_s: float = INF) -> None:
        super().__init__(cp, rng, offset_s, wrap)
        self.count = count_process(cp, rng, offset_s, wrap, horizon_s)
        self.min_nodes = cp.min_nodes
        self._batches = self.count.up_batches(cp.min_nodes)

    def width_at(self, t_s: float, notice_s: float) -> int:
        """Nodes the gang can start on at ``t_s``: up and not under notice (at least ``min_nodes`` if available)."""
        return self.count.usable(t_s, notice_s)


def uses_counts(cp: CompiledPool) -> bool:
    """The pool is read through its count process: an elastic gang, or a gang whose nodes fail together."""
    return (cp.elastic or cp.common_shock is not None) and not isinstance(cp.availability, AlwaysUp)


def make_clock(cp: CompiledPool, rng: np.random.Generator, offset_s: float, wrap: bool,
               horizon_s: float = INF) -> PoolClock:
    """The clock of one pool: a ``GangClock`` where the count process is read (market drawn to ``horizon_s``; a
    waiting gang's ``min_nodes`` is all its nodes), else the plain ``PoolClock``."""
    if uses_counts(cp):
        return GangClock(cp, rng, offset_s, wrap, horizon_s)
    return PoolClock(cp, rng, offset_s, wrap)
