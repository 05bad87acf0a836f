"""What a pool's availability source says about the time left in its current up (or down) period.

From the source's own periods, online: a replayed trace gives only the up and down periods that *ended* before
the decision's trace position (the run's start offset plus the simulation time; past the end, the tiled cycles
for ``wrap`` or nothing new for ``clamp``), never the rest of the trace, which is the future of the window being
scored (domain.md 9.1: lifetimes fitted on the whole trace and scored on its own windows is look-ahead). A period
that began before the trace's first tick is left out (its length is unknown). With no completed period yet the
lengths are empty, which the policy reads as "no information" (remaining time unknown: it prices spot at its plain
rate and waits for no pool). A renewal source has a fixed-seed draw of ``DRAWS`` periods (its own generator, so a
run's random stream is not touched; the process is stationary, so these are not the replayed future).

Given the age of the current period (observable: when it began is in the past), the expected remaining time is
``E[L - age | L > age]`` over the empirical lengths, and the chance that it ends within ``h`` is
``P(L - age < h | L > age)``. Past the longest length seen, the remaining time is taken as the mean length (no
information says it will be long). Seconds throughout; trace positions in seconds from the trace's first tick.
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

    def residuals_s(self, age_s: float) -> np.ndarray:
        """The remaining times ``L - age`` of the lengths longer than ``age`` (ascending). Past the longest length
        seen, the lengths themselves (as if the period began afresh: the mean is ``remaining_s``'s answer there);
        empty when the source has no finite periods."""
        i = int(np.searchsorted(self.sorted_s, age_s, side="right"))
        if i >= self.sorted_s.size:
            return self.sorted_s
        return self.sorted_s[i:] - age_s

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
    """A pool's up and down period lengths, and its MTBF (up time over interruptions; 0 with no history)."""

    up: Lengths
    down: Lengths
    mean_up_s: float


@dataclass(frozen=True, slots=True)
class _Periods:
    """Completed periods of one state in trace ticks: those of the first cycle, and (``wrap``) of every later one."""

    first_end: np.ndarray  # ascending end ticks of the periods that end in the first cycle (known start)
    first_len: np.ndarray
    cycle_end: np.ndarray  # ascending end ticks, in (0, n], of the periods ending in any later cycle (wrap only)
    cycle_len: np.ndarray

    def before(self, q: float, n: int, wrap: bool) -> np.ndarray:
        """Lengths (ticks) of the periods that ended at or before tick position ``q``, in time order."""
        k = int(np.searchsorted(self.first_end, q, side="right"))
        if not wrap or q <= n:
            return self.first_len[:k]
        full = int((q - n) // n)  # later cycles wholly in the past
        rest = q - (full + 1) * n
        j = int(np.searchsorted(self.cycle_end, rest, side="right"))
        return np.concatenate([self.first_len, np.tile(self.cycle_len, full), self.cycle_len[:j]])


class TraceHistory:
    """A replayed trace's past as seen from any trace position: O(log n) prefix look-ups, one ``Residuals`` per
    distinct prefix (a run's decisions mostly fall between the same two period ends)."""

    __slots__ = ("_cum_up", "_down", "_intr", "_memo", "_up", "gap_s", "n", "up_last", "wrap")

    def __init__(self, up: np.ndarray, gap_s: float, wrap: bool) -> None:
        u = np.asarray(up, dtype=bool)
        self.n, self.gap_s, self.wrap, self.up_last = int(u.size), float(gap_s), wrap, bool(u[-1])
        self._cum_up = np.concatenate([[0], np.cumsum(u)])
        # interruptions: ticks t (1..n) where up at t-1 and down at t; the seam (t = n) only when the trace wraps
        nxt = np.roll(u, -1)
        t = np.flatnonzero(u & ~nxt) + 1
        self._intr = t if wrap else t[t < self.n]
        self._up, self._down = _completed(u, wrap)
        self._memo: dict[tuple[int, int], tuple[Lengths, Lengths]] = {}

    def at(self, position_s: float) -> Residuals:
        """The statistics of the periods that ended at or before ``position_s`` (seconds into the trace)."""
        q = max(0.0, position_s / self.gap_s)
        up = self._up.before(q, self.n, self.wrap)
        down = self._down.before(q, self.n, self.wrap)
        key = (up.size, down.size)
        lengths = self._memo.get(key)
        if lengths is None:
            lengths = (Lengths.of(up * self.gap_s), Lengths.of(down * self.gap_s))
            if len(self._memo) < MEMO_PREFIXES:
                self._memo[key] = lengths
        intr = self._count_intr(q)
        mean_up = self._up_ticks(q) * self.gap_s / max(intr, 1)  # censoring-aware MTBF; the up time so far if none
        return Residuals(lengths[0], lengths[1], mean_up)

    def _count_intr(self, q: float) -> int:
        if not self.wrap:
            return int(np.searchsorted(self._intr, q, side="right"))
        c = int(q // self.n)
        return c * self._intr.size + int(np.searchsorted(self._intr, q - c * self.n, side="right"))

    def _up_ticks(self, q: float) -> float:
        n = self.n
        if not self.wrap:
            extra = max(0.0, q - n) if self.up_last else 0.0  # clamp: the last tick's state holds
            return float(self._cum_up[min(int(q), n)]) + extra
        c = int(q // n)
        return float(c * self._cum_up[n] + self._cum_up[int(q - c * n)])


def _completed(u: np.ndarray, wrap: bool) -> tuple[_Periods, _Periods]:
    """(up, down) completed periods: between two state changes, in the first cycle and in every later one."""
    n = u.size

    def segments(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ch = np.flatnonzero(v[1:] != v[:-1]) + 1  # ticks where the state changes
        return ch[:-1], ch[1:], v[ch[:-1]]  # start, end, state of the periods between changes

    if not wrap:
        s, e, st = segments(u)  # a period before the first change began before the trace; the last never ends
        cyc_e = cyc_l = np.zeros(0, dtype=np.int64)
        return (_Periods(e[st], (e - s)[st], cyc_e, cyc_l), _Periods(e[~st], (e - s)[~st], cyc_e, cyc_l))
    s, e, st = segments(np.tile(u, 3))  # three cycles: the middle one shows every seam-crossing period whole
    first = (e <= n) & (s > 0)
    later = (e > n) & (e <= 2 * n)
    out = []
    for state in (True, False):
        a, b = first & (st == state), later & (st == state)
        out.append(_Periods(e[a], (e - s)[a], e[b] - n, (e - s)[b]))
    return out[0], out[1]


_CACHE: OrderedDict[int, tuple[Availability, Residuals | TraceHistory]] = OrderedDict()
CACHE_SOURCES = 64  # the sources of the last few scenarios; a long-lived process (dashboard) must not grow forever
MEMO_PREFIXES = 4096  # distinct history prefixes kept per trace source


def residuals(av: Availability, position_s: float) -> Residuals:
    """The pool's statistics at trace position ``position_s`` (the run's start offset plus the simulation time;
    ignored by sources that replay nothing). Computed once per source object, for the most recent sources."""
    hit = _CACHE.get(id(av))
    if hit is not None and hit[0] is av:  # the entry holds ``av``, so its id cannot have been reused
        _CACHE.move_to_end(id(av))
        got = hit[1]
    else:
        got = _compute(av)
        _CACHE[id(av)] = (av, got)
        if len(_CACHE) > CACHE_SOURCES:
            _CACHE.popitem(last=False)
    return got.at(position_s) if isinstance(got, TraceHistory) else got


def _compute(av: Availability) -> Residuals | TraceHistory:
    empty = Lengths.of(np.zeros(0))
    if isinstance(av, AlwaysUp):
        return Residuals(empty, empty, INF)
    if isinstance(av, TraceAvailability):
        up = av.trace.up(av.nodes)
        if up.all():  # never interrupted: the replay is one endless up period
            return Residuals(empty, empty, INF)
        return TraceHistory(up, av.trace.gap_s, av.wrap)
    if isinstance(av, RenewalAvailability):
        rng = np.random.default_rng(SEED)
        ups = av.sample_up_s(rng, DRAWS * av.nodes).reshape(DRAWS, av.nodes).min(axis=1) / av.rate_multiplier
        return Residuals(Lengths.of(ups), Lengths.of(av.sample_down_s(rng, DRAWS)), av.mean_up_s())
    return Residuals(empty, empty, INF)  # pragma: no cover - every source is one of the above
