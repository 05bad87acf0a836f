"""Fast-forward over the middle of a long run: the job's decisions and lifetimes without SimPy events.

A 28,000-hour job meets thousands of interruptions, and each one costs the event path a SimPy resume, a ``Plan``
with its ``Cycles`` and ``Segment`` records, a cut, two ``State`` walks, a notice reaction and a ledger entry. In the
middle of a run none of that can change course: with no deadline policy, flat prices (nothing to integrate, no
max price) and renewal or always-up capacity, what the job does between two decisions depends on the market and on
its recovery point only, and far from the end of the work every lifetime ends inside the regular save cycles.
``FastForward.run`` walks the decisions (``Job._run``, ``_first_up``, ``_wait``, a launch lost while provisioning)
with the event path's float operations, and ``spotplan.simulator.lifetimes`` books the lifetimes into the ledger
in chunks: the same counts, times, costs and bills, so a run's result is the event path's up to float rounding.
It hands back at the first decision it does not cover (the run can no longer finish by the horizon, a lifetime
could reach the end of the work or the horizon, an instance that never ends, no capacity ever again) and the event
path takes it from there. ``tests/simulator/test_skip.py`` checks it against the event path run by run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from spotplan.schemas.scenario import DeadlinePolicy
from spotplan.simulator.availability import AlwaysUp, ExponentialSampler, RenewalAvailability
from spotplan.simulator.compile import CompiledScenario
from spotplan.simulator.ledger import Ledger
from spotplan.simulator.lifetimes import book_arrays, book_exact
from spotplan.simulator.pools import PoolClock
from spotplan.simulator.result import Activity

INF = math.inf
CHUNK = 2048  # lifetimes booked at once
ARRAYS = True  # book lifetimes as arrays where the scenario allows (tests switch it off to check both ways)
ARRAYS_MIN = 128  # fewer lifetimes than this are booked one by one (cheaper than the arrays' fixed cost)
PROV, WAITING = Activity.PROVISIONING, Activity.WAITING


def eligible(cs: CompiledScenario) -> bool:
    """The scenario's lifetimes can be fast-forwarded: no deadline policy, flat prices, renewal or always-up pools.

    Not where a decision can meet an exact tie, which the event path resolves by the last bit of its clock: SimPy's
    clock cannot always be set to the fast-forward's instant to the bit when the event path takes over (a sum of
    two doubles does not reach every double). Ties are certain with a zero outage (Daly's model: the next period
    starts where the last ended), without a notice (the pool just lost is up until the very instant of its end)
    and with notices seen at once (a launch lost while provisioning is retried the instant the notice is issued).
    """
    def ok(av: object) -> bool:
        if isinstance(av, AlwaysUp):
            return True
        down = getattr(av, "sample_down_s", None)
        return isinstance(av, RenewalAvailability) and not (isinstance(down, ExponentialSampler) and down.mean_s <= 0)

    if cs.notice_s <= 0 or (cs.emergency_save and cs.detection_lag_s <= 0):
        return False
    return (cs.deadline_policy is DeadlinePolicy.NONE and cs.retry_gap_s > 0 and cs.interval_s > 0
            and all(p.series is None and ok(p.availability) for p in cs.pools))


@dataclass(frozen=True, slots=True)
class Rung:
    """Per-rung constants of the closed-form cycles (as ``training_plan`` computes them)."""

    rate: float
    compute_s: float
    wait_s: float
    period_s: float
    usd_per_h: float
    nodes: int
    spot: bool
    label: str
    region: str


@dataclass(slots=True)
class Handover:
    """Where the event path takes over: a decision at ``t_s`` with the job's state then."""

    t_s: float
    region: str | None
    recovery: float
    recovery_at_s: float
    steps: int  # decisions fast-forwarded (lifetimes, failed launches, waits)
    held: frozenset[str] = frozenset()  # regions holding the latest checkpoint (spotplan.simulator.migration)


class FastForward:
    """The fast-forward of one compiled scenario (built once per run; holds no run state)."""

    def __init__(self, cs: CompiledScenario) -> None:
        self.cs = cs
        interval, snap, persist = cs.interval_s, cs.save_blocking_s, cs.persist_s
        rungs = []
        for p in cs.pools:
            compute_s = interval / p.throughput
            wait_s = max(0.0, persist - compute_s)
            rungs.append(Rung(rate=p.throughput, compute_s=compute_s, wait_s=wait_s,
                              period_s=compute_s + wait_s + snap, usd_per_h=p.flat_usd_per_h, nodes=p.nodes,
                              spot=p.spot, label=p.label, region=p.region))
        self.rungs = tuple(rungs)
        self.best_rate = max(p.throughput for p in cs.pools)
        self.margin = 2.0 * interval + (cs.step_time_s or 0.0) + 1.0  # progress kept clear of the end of the work
        self.orders = {r: o for (r, spot_only), o in cs.rung_orders.items() if not spot_only}
        # Booking as arrays works in progress relative to the recovery point at the launch, which moves the step
        # boundary of an emergency save only when the point is off the step grid: saves start on it when the
        # interval is whole steps (checked again at each entry).
        step = cs.step_time_s
        # Migrations depend on where each lifetime's checkpoint landed: one by one (book_exact) only.
        self.arrays = ARRAYS and not cs.migrates and (not step or abs(interval / step - round(interval / step)) < 1e-9)
        self.rate_of = tuple(r.rate for r in rungs)
        self.region_of = tuple(r.region for r in rungs)
        self.r_rate = np.array([r.rate for r in rungs])
        self.r_compute = np.array([r.compute_s for r in rungs])
        self.r_wait = np.array([r.wait_s for r in rungs])
        self.r_period = np.array([r.period_s for r in rungs])
        self.r_nodes = np.array([r.nodes for r in rungs], dtype=float)
        self.r_usd = np.array([r.usd_per_h for r in rungs])
        self.r_spot = np.array([r.spot for r in rungs])

    def run(self, t: float, region: str | None, recovery: float, recovery_at: float, clocks: list[PoolClock],
            ledger: Ledger, held: frozenset[str] = frozenset()) -> Handover:
        """Walk lifetimes from a decision at ``t`` (the job between instances) and book them; where to hand over.

        The decisions (which rung, when it is lost, waits, launches lost while provisioning) are walked one by one;
        the lifetimes are booked in chunks (``lifetimes.book_exact`` one by one, ``lifetimes.book_arrays`` as arrays). The recovery
        point is known at the end of a chunk only, so inside one the checks that need it use bounds: the point at
        the chunk's start (it only grows) for the horizon cut, and that plus the most each lifetime can add for the
        end of the work. Where a bound says stop, the chunk is booked and the check is made again with the real
        point.
        """
        cs = self.cs
        work, max_sim, best_rate, margin = cs.work_s, cs.max_sim_s, self.best_rate, self.margin
        notice, lag, react, prov = cs.notice_s, cs.detection_lag_s, cs.emergency_save, cs.provisioning_s
        gap = cs.retry_gap_s
        orders = self.orders
        full_orders = {r: len(set(o)) == len(clocks) for r, o in orders.items()}
        step = cs.step_time_s
        as_arrays = self.arrays and (not step or abs(recovery / step - round(recovery / step)) < 1e-6)
        def book(*chunk: Any) -> tuple[float, float, frozenset[str]]:  # arrays pay a fixed numpy cost: small chunks go one by one
            return (book_arrays if as_arrays and len(chunk[0]) >= ARRAYS_MIN else book_exact)(self, *chunk)

        R, R_at = recovery, recovery_at
        if not R > 0:  # no checkpoint yet: the first restore is the event path's
            return Handover(t_s=t, region=region, recovery=R, recovery_at_s=R_at, steps=0, held=held)
        R_up = R  # the most the recovery point can be after the lifetimes in hand
        lim = max_sim - 1.0  # an instance (or wait) that ends by then is clear of the horizon
        end_goal = work - margin
        rate_of, region_of = self.rate_of, self.region_of
        t_wait, t_prov = ledger.time_a[WAITING], ledger.time_a[PROV]
        launches = failed = waits = 0
        c_launch: list[float] = []  # the lifetimes in hand: launch time, rung, end of its up period, notice seen
        c_rung: list[int] = []
        c_end: list[float] = []
        c_warned: list[bool] = []

        while True:
            # ---- the decision at t (Job._run's loop top) ---------------------------------------------------
            if t + (work - R) / best_rate > max_sim:
                if c_launch:  # R is the point at the chunk's start: book the chunk and look again
                    R, R_at, held = book(c_launch, c_rung, c_end, c_warned, R, R_at, ledger, held)
                    R_up = R
                    c_launch, c_rung, c_end, c_warned = [], [], [], []
                    continue
                break
            chosen = -1
            for i in orders[region]:  # Job._first_up: PoolClock.available_at, inlined
                c = clocks[i]
                ends = c.ends
                k = c.i0
                while True:
                    try:
                        while ends[k] <= t:
                            k += 1
                        break
                    except IndexError:
                        c._more()
                c.i0 = k
                E = ends[k]
                if c.starts[k] <= t < E - notice:
                    chosen = i
                    break
            if chosen < 0:  # wait for capacity on the retry grid (Job._wait with no deadline to look again at)
                all_checked = full_orders[region]  # every clock was just brought up to t
                wake = INF
                for c in clocks:  # PoolClock.next_capacity_s, inlined
                    ends, starts = c.ends, c.starts
                    k = c.i0
                    if not all_checked:
                        while True:
                            try:
                                while ends[k] <= t:
                                    k += 1
                                break
                            except IndexError:
                                c._more()
                        c.i0 = k
                    while True:
                        try:
                            while starts[k] <= t:
                                k += 1
                            break
                        except IndexError:
                            c._more()
                    wake = min(wake, starts[k])
                if wake == INF:
                    break
                target = max(wake, t + math.ceil((wake - t) / gap - 1e-9) * gap)
                if target >= lim:
                    break
                now = t + (target - t)
                if now > t:
                    t_wait += now - t
                waits += 1
                t = now
                continue
            if E >= lim:
                break  # an instance that never ends (the job finishes on it) or one past the horizon
            issued = E - notice
            warned = react and issued + lag < E
            at = issued + lag if warned else E
            L = t
            if at < L + prov:  # the capacity is lost while provisioning: nothing billed
                now = L + (at - L)
                launches += 1
                failed += 1
                if now > L:
                    t_prov += now - L
                region = region_of[chosen]
                t = now
                continue
            start = L + prov
            gain_max = (E - start) * rate_of[chosen]
            if R_up + gain_max >= end_goal:
                if c_launch:  # the bound is loose: book the chunk and look again
                    R, R_at, held = book(c_launch, c_rung, c_end, c_warned, R, R_at, ledger, held)
                    R_up = R
                    c_launch, c_rung, c_end, c_warned = [], [], [], []
                    continue
                break  # the end of the work (remainder, final save) could be reached on this instance
            launches += 1
            t_prov += start - L
            region = region_of[chosen]
            c_launch.append(L)
            c_rung.append(chosen)
            c_end.append(E)
            c_warned.append(warned)
            R_up += gain_max
            x = start + (at - start)
            t = x + (E - x) if warned else x  # env.now once the instance is settled
            if len(c_launch) >= CHUNK:
                R, R_at, held = book(c_launch, c_rung, c_end, c_warned, R, R_at, ledger, held)
                R_up = R
                c_launch, c_rung, c_end, c_warned = [], [], [], []

        if c_launch:
            R, R_at, held = book(c_launch, c_rung, c_end, c_warned, R, R_at, ledger, held)
        n = ledger.counts
        n.launches += launches
        n.failed_launches += failed
        n.interruptions += launches - failed
        ledger.time_a[WAITING], ledger.time_a[PROV] = t_wait, t_prov
        return Handover(t_s=t, region=region, recovery=R, recovery_at_s=R_at, steps=launches + waits,
                        held=held)
