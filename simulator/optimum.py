"""The offline optimum: the least a replay on traces can cost with the whole future known, by dynamic programming.

Given every pool's availability and price over the replay (traces and price histories are known in advance), the
optimum is the minimum cost of finishing ``work_s`` by ``deadline_s`` under the simulator's rules: each launch
pays an unbilled provisioning, then billed setup, a checkpoint transfer when the checkpoint lives in another region
(egress USD/GB x GB, ``spotplan.simulator.migration``) and a restore when a checkpoint exists; training makes
durable progress at ``throughput x interval / (interval + save x throughput)`` per wall second (a lifetime of
``c`` reference seconds needs at least ``c / interval`` blocking saves); billing is the exact integral of the
price; a spot instance the cloud interrupts in its first billed hour is free (``spotplan.simulator.billing``);
on-demand is always up. Regret is a plan's cost divided by this figure on the same replay.

Discretisation, chosen so the figure is a **lower bound** on every policy's cost on the same replay:

- time in steps of ``step_s`` (a divisor of the trace's tick); a step is up for a pool only if capacity covers all
  of it, and a step's cost is the exact price integral over it. A real instance lifetime [a, b) becomes the steps
  wholly inside it, launched at ``s = ceil(a/step)`` and ended at ``e = floor(b/step)``: the steps the optimum
  pays for lie inside the real billed time, so it never pays more;
- a lifetime of steps [s, e) is credited ``max(0, e - s - J)`` steps of progress with ``J = floor(overhead/step)
  - 2`` (overhead = provisioning + setup + transfer + restore): two steps more than any real lifetime that
  contains it could make, which absorbs the two partial steps at its ends;
- progress counts in units ``unit_s`` and every step's gain is rounded up; the target is ``ceil(work/unit)``;
- billing minimums, whole-hour rounding, lost work, notices, persist waits, failed launches and max prices are
  left out (each only adds cost or time to a real run); a free first hour is granted whenever the step count
  says the real lifetime was under an hour (the whole bill for one node; for a gang, the reclaimed node's
  share, as ``billing.bill_usd`` refunds, of the steps inside the real billed time); egress between regions is the cheapest chain of moves
  (Floyd-Warshall), so dropping a real lifetime that made no progress never raises it.

Any real schedule that meets the deadline maps (dropping lifetimes with no durable progress) onto a schedule of the
programme with no more cost, so the programme's minimum is at most the real cost. The state is (step, progress
units, where the job is: running on pool p, or stopped with its checkpoint in region R); waiting is free and the
job can stop at any step. The work is O(steps x pools x regions x progress units), vectorised over progress.
Times are seconds, prices USD per hour, costs USD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SECONDS_PER_HOUR = 3600.0
FREE_HOUR_S = 3600.0  # AWS: a spot instance interrupted by the cloud in its first hour is not charged (Linux)
EDGE_STEPS = 2  # partial steps at the two ends of a real lifetime, credited to every lifetime
INF = math.inf


@dataclass(frozen=True, slots=True, kw_only=True)
class OptimumPool:
    """One rung as the programme sees it: per-step capacity and cost over the replay."""

    label: str
    region: str
    spot: bool
    up: np.ndarray  # bool per step: capacity covers the whole step (always True for on-demand)
    step_cost_usd: np.ndarray  # exact cost of the pool's nodes over each step
    rate: float  # durable progress (reference seconds) per wall second of training
    refund_share: float = 1.0  # share of a lifetime's cost refunded when the cloud ends it in its first hour:
    # 1 / nodes (AWS refunds only the reclaimed instance of a gang, ``billing.bill_usd``)

    def __post_init__(self) -> None:
        if self.up.shape != self.step_cost_usd.shape or self.up.ndim != 1:
            raise ValueError(f"{self.label}: up and step_cost_usd need the same 1-D shape")
        if not self.rate > 0 or np.any(self.step_cost_usd < 0) or not 0.0 <= self.refund_share <= 1.0:
            raise ValueError(f"{self.label}: rate must be > 0, costs >= 0 and refund_share in [0, 1]")


@dataclass(frozen=True, slots=True, kw_only=True)
class OptimumProblem:
    """A replay with its future known: pools over ``steps`` steps of ``step_s`` and the job's rules."""

    step_s: float
    pools: tuple[OptimumPool, ...]
    work_s: float
    deadline_s: float
    provisioning_s: float
    setup_s: float
    restore_s: float
    migration_s: float  # checkpoint transfer time between two regions (0 within one)
    egress_usd: dict[tuple[str, str], float]  # USD to move the checkpoint from one region to another
    first_hour_free: bool = True

    @property
    def steps(self) -> int:
        """Steps up to the deadline (a step ending after it is never used)."""
        return math.floor(self.deadline_s / self.step_s + 1e-9)

    def __post_init__(self) -> None:
        if not self.pools:
            raise ValueError("the optimum needs at least one pool")
        if any(p.up.size < self.steps + 1 for p in self.pools):
            raise ValueError(f"every pool needs {self.steps + 1} steps of capacity and cost")
        if self.provisioning_s + self.setup_s < EDGE_STEPS * self.step_s:
            # A real lifetime shorter than two steps could make progress inside steps the programme cannot see.
            raise ValueError(f"step_s={self.step_s:g} is over half of provisioning + setup "
                             f"({self.provisioning_s + self.setup_s:g} s); use a shorter step")


@dataclass(frozen=True, slots=True, kw_only=True)
class Optimum:
    """The programme's answer: the least cost (inf when even on-demand cannot meet the deadline)."""

    cost_usd: float
    step_s: float
    unit_s: float  # reference seconds of progress per unit
    units: int  # progress units the job needs

    @property
    def feasible(self) -> bool:
        """Some schedule meets the deadline."""
        return math.isfinite(self.cost_usd)


def egress_closure(regions: tuple[str, ...], egress: dict[tuple[str, str], float]) -> np.ndarray:
    """Cheapest USD to move a checkpoint between every pair of ``regions`` through any chain of moves."""
    n = len(regions)
    d = np.array([[0.0 if a == b else egress.get((a, b), 0.0) for b in regions] for a in regions]).reshape(n, n)
    for k in range(n):
        d = np.minimum(d, d[:, k:k + 1] + d[k:k + 1, :])
    return d


def _shift(v: np.ndarray, d: int) -> np.ndarray:
    """``v`` moved ``d`` progress units up, the overflow capped at the last unit (the job is done there)."""
    if d <= 0:
        return v.copy()
    k = v.size - 1
    out = np.full_like(v, INF)
    if d < k:
        out[d:k] = v[:k - d]
    out[k] = v[max(0, k - d):].min()
    return out


def _next_down(up: np.ndarray) -> np.ndarray:
    """For every step, the first step at or after it without capacity (``up.size`` when none)."""
    n = up.size
    idx = np.where(~up, np.arange(n), n)
    return np.minimum.accumulate(idx[::-1])[::-1]


@dataclass(frozen=True, slots=True)
class _Launch:
    """A launch of one pool from one state kind: offset J, arrival offset, pre-credit and billing offset."""

    j: int  # floor(overhead/step) - EDGE_STEPS: steps before progress is credited
    arrive: int  # steps from the launch to the running state (>= billing start)
    bill: int  # first billed step after the launch (provisioning is not billed)

    @staticmethod
    def of(overhead_s: float, provisioning_s: float, step_s: float) -> _Launch:
        j = math.floor(overhead_s / step_s + 1e-9) - EDGE_STEPS
        bill = math.ceil(provisioning_s / step_s - 1e-9)
        return _Launch(j=j, arrive=max(j, bill, 0), bill=bill)

    @property
    def pre(self) -> int:
        """Steps of progress already credited on arrival."""
        return self.arrive - self.j


class _Programme:
    """The arrays and launch constants of one problem."""

    def __init__(self, pb: OptimumProblem) -> None:
        self.pb, self.T = pb, pb.steps
        self.regions = tuple(sorted({p.region for p in pb.pools}))
        self.reg = [self.regions.index(p.region) for p in pb.pools]
        self.egress = egress_closure(self.regions, pb.egress_usd)
        fastest = max(p.rate for p in pb.pools)
        slowest = min(p.rate for p in pb.pools)
        # One unit per step at the fastest rate; finer when rates differ, so rounding each step's gain up is small.
        sub = 1 if math.isclose(fastest, slowest) else 8
        self.unit_s = pb.step_s * fastest / sub
        self.gain = [math.ceil(p.rate * pb.step_s / self.unit_s - 1e-9) for p in pb.pools]
        self.K = max(1, math.ceil(pb.work_s / self.unit_s - 1e-9))
        n = self.T + 1
        self.up = [p.up[:n].astype(bool) | (not p.spot) for p in pb.pools]
        self.cost = [np.asarray(p.step_cost_usd[:n], dtype=float) for p in pb.pools]
        self.cum = [np.concatenate([[0.0], np.cumsum(c)]) for c in self.cost]
        self.down = [_next_down(u) for u in self.up]
        st = pb.step_s
        self.first = _Launch.of(pb.provisioning_s + pb.setup_s, pb.provisioning_s, st)
        base = pb.provisioning_s + pb.setup_s + pb.restore_s
        self.later = [[_Launch.of(base + (pb.migration_s if r != self.reg[i] else 0.0), pb.provisioning_s, st)
                       for r in range(len(self.regions))] for i in range(len(pb.pools))]
        reach = max(x.arrive for row in self.later for x in row) if self.later else 0
        self.W = max(self.first.arrive, reach, math.ceil((FREE_HOUR_S + pb.provisioning_s) / st) + 1) + 2

    def setup_cost(self, i: int, s: int, ln: _Launch) -> float:
        """Billed steps between the billing start and the arrival."""
        a, b = s + ln.bill, s + ln.arrive
        return float(self.cum[i][b] - self.cum[i][a]) if b > a else 0.0

    def free_gain(self, i: int, s: int, ln: _Launch) -> tuple[int, int, float] | None:
        """(end step, progress units, cost) of a first hour from ``s`` to the pool's next interruption, if any:
        the cloud refunds its bill, all of it for one node and the reclaimed node's share for a gang (the other
        nodes' share of the billed steps is still paid, as ``billing.bill_usd`` bills it)."""
        pb = self.pb
        if not (pb.first_hour_free and pb.pools[i].spot):
            return None
        e = int(self.down[i][s])
        if e <= s or e > self.T or (e - s) * pb.step_s - pb.provisioning_s >= FREE_HOUR_S:
            return None
        steps = e - s - ln.j
        if steps <= 0:
            return None
        b = min(s + ln.bill, e)
        kept = 1.0 - pb.pools[i].refund_share
        return e, steps * self.gain[i], float(self.cum[i][e] - self.cum[i][b]) * kept if kept > 0 else 0.0

    def short_ends(self, i: int, s: int, ln: _Launch) -> range:
        """Ends before the arrival that still earn progress (only when the billing start comes after J)."""
        return range(max(s + ln.j + 1, s + 1), min(s + ln.arrive, int(self.down[i][s]) + 1, self.T + 1))


def solve(pb: OptimumProblem) -> Optimum:
    """The least cost of meeting the deadline on this replay (a lower bound on any policy's, see the module)."""
    g = _Programme(pb)
    T, K, W, nP, nR = g.T, g.K, g.W, len(pb.pools), len(g.regions)
    run = np.full((nP, K + 1), INF)
    idle = np.full((nR, K + 1), INF)
    idle[:, 0] = 0.0  # nothing saved yet: the start is the same in every region
    arr_run = np.full((W, nP, K + 1), INF)
    arr_idle = np.full((W, nR, K + 1), INF)
    best = INF
    for t in range(T + 1):
        slot = t % W
        np.minimum(run, arr_run[slot], out=run)
        np.minimum(idle, arr_idle[slot], out=idle)
        arr_run[slot] = INF
        arr_idle[slot] = INF
        best = min(best, float(run[:, K].min()), float(idle[:, K].min()))
        for i in range(nP):  # stopping is free and instant: the checkpoint stays in the pool's region
            np.minimum(idle[g.reg[i]], run[i], out=idle[g.reg[i]])
        if t == T:
            break
        _launches(g, t, idle, arr_run, arr_idle)
        np.minimum(run, arr_run[slot], out=run)  # launches with nothing to wait for arrive at once
        arr_run[slot] = INF
        for i in range(nP):
            if g.up[i][t]:
                run[i] = _shift(run[i], g.gain[i]) + g.cost[i][t]
            else:
                run[i] = INF
    return Optimum(cost_usd=best, step_s=pb.step_s, unit_s=g.unit_s, units=K)


def _launches(g: _Programme, t: int, idle: np.ndarray, arr_run: np.ndarray, arr_idle: np.ndarray) -> None:
    """Every launch at step ``t``: the first one (nothing saved) and later ones from each checkpoint region."""
    W = g.W
    saved = idle.copy()
    saved[:, 0] = INF  # later launches restore a checkpoint: progress > 0
    for i in range(len(g.pb.pools)):
        _first_launch(g, i, t, arr_run, arr_idle)
        for r in range(len(g.regions)):
            ln = g.later[i][r]
            move = float(g.egress[r, g.reg[i]])
            src = saved[r]
            a = t + ln.arrive
            if a <= g.T and g.down[i][t] >= a:
                cand = _shift(src, ln.pre * g.gain[i]) + (g.setup_cost(i, t, ln) + move)
                np.minimum(arr_run[a % W, i], cand, out=arr_run[a % W, i])
            free = g.free_gain(i, t, ln)
            if free is not None:
                e, units, paid = free
                np.minimum(arr_idle[e % W, g.reg[i]], _shift(src, units) + (move + paid),
                           out=arr_idle[e % W, g.reg[i]])
            for e in g.short_ends(i, t, ln):
                units = (e - t - ln.j) * g.gain[i]
                np.minimum(arr_idle[e % W, g.reg[i]], _shift(src, units) + move, out=arr_idle[e % W, g.reg[i]])


def _first_launch(g: _Programme, i: int, t: int, arr_run: np.ndarray, arr_idle: np.ndarray) -> None:
    """The first launch: no checkpoint to move or restore, from cost 0 at progress 0."""
    ln, W, K = g.first, g.W, g.K
    a = t + ln.arrive
    if a <= g.T and g.down[i][t] >= a:
        k = min(K, ln.pre * g.gain[i])
        slot = arr_run[a % W, i]
        slot[k] = min(slot[k], g.setup_cost(i, t, ln))
    ends = [(e, (e - t - ln.j) * g.gain[i], 0.0) for e in g.short_ends(i, t, ln)]
    free = g.free_gain(i, t, ln)
    if free is not None:
        ends.append(free)
    for e, units, paid in ends:
        slot = arr_idle[e % W, g.reg[i]]
        k = min(K, units)
        slot[k] = min(slot[k], paid)
