"""The market of one run: each pool's availability, price block and notices, read lazily in simulation time.

A pool is *available* at t when an up period [start, end) holds t, its notice has not been issued yet
(t < end - notice_s), and, with a max price, the replayed price is at most the max price. Up periods come from
the pool's availability source, drawn from the pool's own generator in time order, so reading them only when the
job asks (a launch, a wait) gives exactly the periods an eagerly simulated market would: pools the job is not
using cost no events at all.

The job asks three things: whether a pool is available now, when the next capacity event happens (a pool comes up,
or its price falls back under the max price), and the *fate* of an instance launched now: the first of its
availability notice (issued ``notice_s`` before the end of the up period), a price notice (the price rises above
the max price: termination ``notice_s`` later) and the plain terminations. A notice reaches the job
``detection_lag_s`` after it is issued, and only if emergency saves are on and it arrives before termination;
the first notice the job sees fixes the termination time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np

from spotplan.simulator.availability import RENEWAL_BATCH, Availability, RenewalAvailability
from spotplan.simulator.billing import FlatPrice, ReplayedPrice
from spotplan.simulator.compile import CompiledPool, CompiledScenario

INF = math.inf


@dataclass(frozen=True, slots=True)
class Fate:
    """How an instance launched now ends if the job keeps it: at ``at_s``, warned (a notice seen) or not."""

    at_s: float
    warned: bool
    term_s: float  # termination time (= at_s when not warned)


NEVER = Fate(INF, False, INF)


class PoolClock:
    """Lazy availability of one pool in simulation time (queries must not go back in time).

    Up periods are kept as two lists (starts, ends) filled in batches from the pool's generator, with ``i0`` the
    first period not over yet; a sentinel (inf, inf) closes a finite source. The lists are what the fast-forward
    (``spotplan.simulator.skip``) reads as arrays: drawing ahead does not change any period, because each pool
    has its own generator and draws in time order.
    """

    __slots__ = ("_batches", "_cap", "cp", "done", "ends", "i0", "offset_s", "price", "starts")

    def __init__(self, cp: CompiledPool, rng: np.random.Generator, offset_s: float, wrap: bool) -> None:
        self.cp = cp
        self.offset_s = offset_s  # where the replay starts in the pool's history (a policy reads only its past)
        self.price: FlatPrice | ReplayedPrice = cp.price(offset_s, wrap)
        self._batches: Iterator[tuple[list[float], list[float]]] = period_batches(cp.availability, rng, offset_s)
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.i0 = 0
        self.done = False  # the source is exhausted (the sentinel is in the lists)
        self._cap = cp.max_price_usd_per_h if isinstance(self.price, ReplayedPrice) else None

    def _more(self) -> None:
        """Draw the next batch of periods (or the sentinel)."""
        nxt = next(self._batches, None)
        if nxt is None:
            self.starts.append(INF)
            self.ends.append(INF)
            self.done = True
        else:
            self.starts += nxt[0]
            self.ends += nxt[1]

    def draw_until(self, t_s: float) -> None:
        """Draw until the last period known starts at or after ``t_s`` (or the source is exhausted)."""
        while not self.done and (not self.starts or self.starts[-1] < t_s):
            self._more()

    def _peek(self, i: int) -> tuple[float, float]:
        while len(self.starts) <= i:
            self._more()
        return self.starts[i], self.ends[i]

    def period_at(self, t_s: float) -> tuple[float, float] | None:
        """The up period holding ``t_s`` (half-open), or None; drops the periods that ended by ``t_s``."""
        ends, i = self.ends, self.i0
        while True:
            if i >= len(ends):
                self._more()
            if ends[i] > t_s:
                break
            i += 1
        self.i0 = i
        start = self.starts[i]
        return (start, ends[i]) if start <= t_s else None

    def next_capacity_s(self, after_s: float) -> float:
        """The first capacity event strictly after ``after_s``: an up period starts, or the price falls to the cap."""
        self.period_at(after_s)
        i = self.i0
        while self._peek(i)[0] <= after_s:
            i += 1
        nxt = self.starts[i]
        if self._cap is not None:
            assert isinstance(self.price, ReplayedPrice)
            nxt = min(nxt, price_crossing(self.price, self._cap, after_s, to_over=False))
        return nxt

    def blocked_at(self, t_s: float) -> bool:
        """The replayed price is above the max price at ``t_s``."""
        return self._cap is not None and self.price.price_at(t_s) > self._cap

    def available_at(self, t_s: float, notice_s: float) -> bool:
        """Up, not under notice and not priced out at ``t_s``."""
        per = self.period_at(t_s)
        return per is not None and t_s < per[1] - notice_s and not self.blocked_at(t_s)

    def fate(self, launch_s: float, cs: CompiledScenario) -> Fate:
        """The first preemption of an instance launched at ``launch_s`` (the pool must be available then)."""
        per = self.period_at(launch_s)
        if per is None:  # pragma: no cover - the job launches only on available pools
            return Fate(launch_s, False, launch_s)
        return self.fate_until(launch_s, per[1], cs)

    def fate_until(self, launch_s: float, end: float, cs: CompiledScenario) -> Fate:
        """The first preemption of an instance launched at ``launch_s`` whose capacity ends at ``end``."""
        lag, notice, react = cs.detection_lag_s, cs.notice_s, cs.emergency_save
        cands: list[Fate] = []
        if end < INF:
            issued = end - notice
            if react and issued + lag < end:
                cands.append(Fate(issued + lag, True, end))
            cands.append(Fate(end, False, end))
        if self._cap is not None:
            assert isinstance(self.price, ReplayedPrice)
            tau = price_crossing(self.price, self._cap, launch_s, to_over=True)
            if tau < end:
                if react and lag < notice:
                    cands.append(Fate(tau + lag, True, tau + notice))
                cands.append(Fate(tau + notice, False, tau + notice))
        if not cands:
            return NEVER
        return min(cands, key=lambda f: (f.at_s, not f.warned))


def price_crossing(price: ReplayedPrice, cap: float, after_s: float, *, to_over: bool) -> float:
    """First change point strictly after ``after_s`` where the replayed price goes above ``cap`` (or back under).

    A change point counts only where the state changes: the price before it (across the wrap seam, the history's
    last price) is on the other side of the cap.
    """
    s = price.series
    span = s.span_s
    rel = s.times_s - s.start_s
    over = s.prices_usd_per_h > cap
    prev = np.concatenate([[over[-1]], over[:-1]])
    idx = np.flatnonzero((over & ~prev) if to_over else (~over & prev))
    if not price.wrap or span <= 0:
        times = rel[idx[idx > 0]] - price.offset_s
        j = int(np.searchsorted(times, after_s, side="right"))
        return float(times[j]) if j < times.size else INF
    if idx.size == 0:
        return INF
    k = math.floor((price.offset_s + after_s) / span)
    for cycle in (k, k + 1):
        times = cycle * span - price.offset_s + rel[idx]
        j = int(np.searchsorted(times, after_s, side="right"))
        if j < times.size:
            return float(times[j])
    return INF


def period_batches(av: Availability, rng: np.random.Generator,
                   offset_s: float) -> Iterator[tuple[list[float], list[float]]]:
    """The source's up periods as batches of (starts, ends) lists, exactly the values of ``av.periods``.

    A renewal source is drawn in its own batches of 64 (the same generator calls in the same order, and the same
    float operations: ``np.cumsum`` adds in order like the scalar loop); other sources are chunked.
    """
    if isinstance(av, RenewalAvailability):
        t, batch, nodes, mult = 0.0, RENEWAL_BATCH, av.nodes, av.rate_multiplier
        up, down = av.sample_up_s, av.sample_down_s
        while True:
            raw = up(rng, batch * nodes)
            if nodes == 1:
                ups = raw
            elif nodes == 2:
                ups = np.minimum(raw[0::2], raw[1::2])  # the row minima of raw.reshape(batch, 2)
            else:
                ups = raw.reshape(batch, nodes).min(axis=1)
            if mult != 1.0:  # x / 1.0 is x: skip the division
                ups = ups / mult
            steps = ups + down(rng, batch)
            # periods() does: yield (t, t + up); t += up + down -- a running sum in order, as np.cumsum adds
            steps[0] += t
            ts = steps.cumsum()
            starts = np.empty(batch)
            starts[0] = t
            starts[1:] = ts[:-1]
            yield starts.tolist(), (starts + ups).tolist()
            t = float(ts[-1])
    else:
        it = av.periods(rng, offset_s)
        while True:
            chunk = list(islice(it, 64))
            if not chunk:
                return
            yield [a for a, _ in chunk], [b for _, b in chunk]
