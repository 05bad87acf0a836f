"""The cost-aware deadline policy: every decision priced in dollars, across pools and regions.

At each decision the job looks at every pool as it is now: its current price, whether it has capacity, how long
its current up (or down) period has lasted, what restarting there costs in migration (egress and transfer time,
``spotplan.simulator.migration``) and what its availability source says about the time left
(``spotplan.simulator.residual``). From these it prices each option per reference second of durable progress:

- a spot pool with capacity: the expected bill of a lifetime started now, plus the egress, over the progress it
  is expected to keep (after setup, transfer and restore, less the work an interruption loses); expectations
  over the pool's past residual lifetimes given the period's age, and one more lifetime that outlasts the job
  (the next one outlives all ``k`` seen with probability ``1 / (k + 1)``: ``lifetimes_s``), a lifetime the cloud
  ends within its first billed hour billing nothing (AWS's rule; for a gang only the reclaimed node's share, and
  nothing is refunded where the scenario's billing turns the rule off);
- the spot instance in hand (at a capacity event elsewhere): priced the same way from its own bill so far, against
  a stop now, so inside its first hour staying keeps the chance of a refund;
- on-demand: its price over its rate, with the one-off changeover and egress spread over the remaining work.

The cheapest spot option is taken when it beats on-demand, unless a cheaper pool now down is expected back
within a quarter of the slack budget (``WAIT_SHARE``: waits add up, so each may spend only a share). With none,
deadline pressure becomes money: the *slack* (time the job could still idle and finish on on-demand after one
changeover) less a reserve for the
restarts still to come is what waiting may spend. Waiting risks the chance that every pool stays down past that
budget (from their residual down times, taken as independent), and then the rest of the work runs on on-demand
at its premium over spot; bridging on on-demand now costs that premium until spot is expected back, plus the
changeovers there and back. The job waits when the first is cheaper, else it bridges (with no completed outage
in any down pool's past, it follows uniform progress instead: on-demand when behind ``work x t / deadline``).
On on-demand it leaves at
a spot capacity event when a spot option beats staying (priced the same way) and the slack still covers the
changeover and the safety margin. The safety net of every policy (``spotplan.simulator.deadline``) still
commits the job to on-demand when the slack falls to two changeovers, so deadlines stay guaranteed.

With no information (a replayed pool with no completed period in its past, as at the start of a trace) the
decisions are uniform progress's: such a pool with capacity is priced at its plain rate, so a launch takes spot
whenever some pool has capacity; with no outage seen the wait-or-bridge choice is uniform progress's; a running
spot instance is never moved to such a pool (uniform progress never moves). Leaving on-demand for one is priced
(at its plain rate) against the slack, as for any pool.

Seconds, USD, progress in reference seconds; pure functions of the ``Situation`` and ``PoolNow`` values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from spotplan.simulator.availability import TraceAvailability
from spotplan.simulator.compile import CompiledScenario
from spotplan.simulator.migration import migration_for
from spotplan.simulator.pools import PoolClock
from spotplan.simulator.residual import Residuals, residuals

INF = math.inf
FREE_HOUR_S = 3600.0  # AWS: a spot instance interrupted by the cloud within its first hour is not charged
RECHECK_S = 900.0  # while idle, the decision is looked at again this often (besides capacity events)
TINY = 1e-9
WAIT_SHARE = 0.25  # one wait for a cheaper pool may spend at most this share of the slack budget
WAIT_GAIN = 0.05  # waiting for, or moving to, another pool must save at least this fraction (estimates are rough)


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolNow:
    """One rung as the policy sees it at the decision instant."""

    index: int
    spot: bool
    available: bool
    usd_per_s: float  # current price of the pool's nodes
    rate: float  # durable progress per wall second on it (net of blocking saves)
    age_s: float  # age of its current up period (available) or down period (not)
    move_usd: float  # egress to restart here (0 where the checkpoint is)
    move_s: float  # transfer time to restart here
    res: Residuals
    past_sample: bool = True  # res's lengths are a finite sample of the pool's past (a replayed trace), not a
    # fixed draw of a known process (a renewal source), so the next lifetime may outlast every one seen
    refund_share: float = 1.0  # share of the bill refunded when the cloud ends the lifetime in its first hour:
    # 1 / nodes (AWS refunds only the reclaimed instance of a gang, ``billing.bill_usd``), 0 without the rule


@dataclass(frozen=True, slots=True, kw_only=True)
class Situation:
    """The job at the decision instant."""

    now_s: float
    progress_s: float
    work_s: float
    deadline_s: float
    provisioning_s: float
    setup_s: float
    restore_s: float
    lost_per_restart_s: float  # expected progress an interruption loses (half an interval)
    safety_s: float  # the safety net's margin (2d)

    @property
    def remaining_s(self) -> float:
        """Reference work still to do."""
        return max(0.0, self.work_s - self.progress_s)


def spot_usd_per_progress(sit: Situation, p: PoolNow) -> float:
    """Expected USD per reference second of durable progress for a restart on spot pool ``p`` now.

    Over the pool's past residual lifetimes ``R`` (given the current period's age), a fresh lifetime bills
    ``min(R - provisioning, need)`` unless the cloud ends it within its first billed hour (then nothing for one
    node: a gang's other nodes are still billed, ``PoolNow.refund_share``), and keeps
    ``(R - provisioning - startup) x rate`` of progress less the work an interruption loses (all the remaining work
    if it outlives the job). The ratio of the two expectations, with the egress added to the bill of the lifetimes
    that outlast provisioning (the checkpoint moves once the instance is up).
    """
    startup = sit.setup_s + p.move_s + (sit.restore_s if sit.progress_s > 0 else 0.0)
    bill_s, gain = _lifetime(sit, p, sit.provisioning_s, startup, 0.0)
    if gain <= TINY:
        return INF
    moved = float(np.mean(lifetimes_s(p) > sit.provisioning_s))  # a launch lost while provisioning moves nothing
    return (p.usd_per_s * bill_s + p.move_usd * moved) / gain


def stay_usd_per_progress(sit: Situation, p: PoolNow, billed_s: float) -> float:
    """Expected USD per reference second for keeping the instance on spot pool ``p`` that has been billed for
    ``billed_s``, counted against stopping it now (which bills ``billed_s`` for sure): inside its first hour,
    staying also keeps the chance that the cloud ends it in time and nothing is billed at all."""
    bill_s, gain = _lifetime(sit, p, 0.0, 0.0, billed_s)
    if gain <= TINY:
        return INF
    return p.usd_per_s * bill_s / gain


def lifetimes_s(p: PoolNow) -> np.ndarray:
    """The residual lifetimes a launch (or the instance in hand) on ``p`` is priced over, equally likely.

    From a sample of the past (``past_sample``): the ``k`` residuals ``L - age`` of the periods seen that outlived
    the current age, plus one that outlives the job. The next lifetime is exchangeable with the ``k`` seen, so it
    is longer than all of them with probability ``1 / (k + 1)``; how long it then lasts the past does not say, and
    it is read as the no-history case reads every lifetime (outlasting the job). With no period seen (``k = 0``)
    that is the whole answer: the plain rate, on which a launch beats on-demand as uniform progress's "spot
    whenever available" does; with many it weighs little. Without it, one or two short periods seen priced a pool
    at infinity (no progress), however long the period before the trace began had lasted. A renewal source's
    draws are its known law, used as they are (empty: no finite period, outlasting the job).
    """
    r = p.res.up.residuals_s(p.age_s)
    if p.past_sample or r.size == 0:
        return np.append(r, INF)
    return r


def _lifetime(sit: Situation, p: PoolNow, wait_s: float, startup_s: float, billed_s: float) -> tuple[float, float]:
    """(expected billed seconds beyond ``billed_s``, expected progress) of an instance on ``p`` that has been billed
    ``billed_s`` and starts billing after ``wait_s`` (provisioning), over ``lifetimes_s(p)``."""
    need = startup_s + sit.remaining_s / p.rate  # billed seconds to finish there
    r = lifetimes_s(p)
    run = r - wait_s  # billed seconds the lifetime would still last
    done = run >= need
    free = ~done & (billed_s + run < FREE_HOUR_S)  # the cloud ends it within its first billed hour
    # the rest of the gang is still billed (the min keeps lifetimes that outlast the job finite; they are not free)
    refunded = (billed_s + np.minimum(run, FREE_HOUR_S)) * (1.0 - p.refund_share) - billed_s
    bill = np.where(done, need, np.where(free, refunded, run))
    gain = np.where(done, sit.remaining_s, np.maximum(0.0, (run - startup_s) * p.rate - sit.lost_per_restart_s))
    return float(bill.mean()), float(gain.mean())


def od_usd_per_progress(sit: Situation, od: PoolNow, *, running: bool) -> float:
    """USD per reference second on on-demand; a launch spreads its changeover and egress over the rest."""
    if running:
        return od.usd_per_s / od.rate
    once = od.usd_per_s * (sit.setup_s + od.move_s + sit.restore_s) + od.move_usd
    return od.usd_per_s / od.rate + once / max(sit.remaining_s, TINY)


def slack_s(sit: Situation, od: PoolNow, *, on_demand_now: bool) -> float:
    """Time the job could still idle and then finish on on-demand (after one changeover unless already there)."""
    change = 0.0 if on_demand_now else sit.provisioning_s + sit.setup_s + od.move_s + sit.restore_s
    return sit.deadline_s - sit.now_s - sit.remaining_s / od.rate - change


def _reserve_s(sit: Situation, spots: Sequence[PoolNow]) -> float:
    """Slack kept for the restarts still to come: their changeovers and lost work, plus the safety margin."""
    best = max((p.rate * p.res.mean_up_s for p in spots), default=INF)
    restarts = sit.remaining_s / best if math.isfinite(best) and best > 0 else 0.0
    per = sit.provisioning_s + sit.setup_s + sit.restore_s + max((p.move_s for p in spots), default=0.0)
    return sit.safety_s + restarts * (per + sit.lost_per_restart_s / max(min(p.rate for p in spots), TINY))


def best_spot(sit: Situation, spots: Sequence[PoolNow]) -> tuple[PoolNow | None, float]:
    """The available spot pool with the lowest expected USD per progress (and that figure)."""
    best, best_c = None, INF
    for p in spots:
        if p.available:
            c = spot_usd_per_progress(sit, p)
            if c < best_c:
                best, best_c = p, c
    return best, best_c


@dataclass(frozen=True, slots=True)
class Pick:
    """A rung to launch (or None: idle until ``next_check_s``)."""

    index: int | None
    next_check_s: float


def slack_value_usd_per_s(sit: Situation, spots: Sequence[PoolNow], od: PoolNow, budget_s: float) -> float:
    """What one second of slack is worth: on-demand's premium over spot (per wall second of work) times the chance
    that a fresh outage of every pool outlasts the budget (then the rest would run on on-demand)."""
    p_long = 1.0
    for p in spots:
        p_long *= 1.0 - p.res.down.ends_within(0.0, max(budget_s, 0.0))
    return _premium_usd_per_s(spots, od) * od.rate * p_long


def _worth_waiting_for(sit: Situation, spots: Sequence[PoolNow], od: PoolNow, budget_s: float,
                       best_c: float) -> float:
    """The expected wait for a pool now down that is cheaper, once the slack the wait uses is priced; INF if none."""
    lam = slack_value_usd_per_s(sit, spots, od, budget_s)
    best_wait = INF
    for p in spots:
        if p.available:
            continue
        wait = p.res.down.remaining_s(p.age_s)
        if not wait <= WAIT_SHARE * budget_s:  # a wait may spend only a share of the slack: waits add up
            continue
        fresh = PoolNow(index=p.index, spot=True, available=True, usd_per_s=p.usd_per_s, rate=p.rate, age_s=0.0,
                        move_usd=p.move_usd, move_s=p.move_s, res=p.res, past_sample=p.past_sample)
        c = spot_usd_per_progress(sit, fresh) + lam * wait / max(sit.remaining_s, TINY)
        if c < best_c * (1.0 - WAIT_GAIN):
            best_wait = min(best_wait, wait)
    return best_wait


def choose(sit: Situation, spots: Sequence[PoolNow], od: PoolNow) -> Pick:
    """The decision between instances (the safety net is checked by the caller first)."""
    p, c = best_spot(sit, spots)
    budget = slack_s(sit, od, on_demand_now=False) - _reserve_s(sit, spots)
    if p is not None and c < od_usd_per_progress(sit, od, running=False):
        wait = _worth_waiting_for(sit, spots, od, budget, c) if budget > 0 else INF
        if wait < INF:  # a cheaper pool is expected back soon enough: let it come (capacity events wake the job)
            return Pick(None, sit.now_s + min(wait, budget, RECHECK_S))
        return Pick(p.index, INF)
    if budget <= 0.0:
        return Pick(od.index, INF)
    down = [q for q in spots if not q.available]
    if down and not any(q.res.down.sorted_s.size for q in down):  # outages with no length seen yet
        return _uniform_progress_pick(sit, od)
    if _wait_usd(sit, spots, od, budget) > _bridge_usd(sit, spots, od):
        return Pick(od.index, INF)
    return Pick(None, sit.now_s + min(budget, RECHECK_S))


def _uniform_progress_pick(sit: Situation, od: PoolNow) -> Pick:
    """No pool now down has a completed outage in its past (no information on how long outages last): the plain
    rule of uniform progress, bridge on on-demand when behind ``work * t / deadline``, else idle until behind."""
    r = sit.work_s / sit.deadline_s
    if sit.progress_s < r * sit.now_s + TINY:
        return Pick(od.index, INF)
    return Pick(None, min(sit.progress_s / r, sit.now_s + RECHECK_S))


def leave_on_demand(sit: Situation, spots: Sequence[PoolNow], od: PoolNow) -> int | None:
    """On on-demand at a spot capacity event: the spot pool to leave for, or None to stay."""
    p, c = best_spot(sit, spots)
    if p is None or c >= od_usd_per_progress(sit, od, running=True):
        return None
    after = slack_s(sit, od, on_demand_now=True) - (sit.provisioning_s + sit.setup_s + p.move_s + sit.restore_s)
    back = sit.provisioning_s + sit.setup_s + od.move_s + sit.restore_s  # a later return to on-demand
    return p.index if after - back >= _reserve_s(sit, spots) else None


def lifetimes_known(p: PoolNow) -> bool:
    """Whether anything is known of ``p``'s lifetimes: a completed up period in the replayed past, or a source
    whose law is given (renewal, always up)."""
    return not p.past_sample or bool(p.res.up.sorted_s.size)


def move_from_spot(sit: Situation, spots: Sequence[PoolNow], od: PoolNow, here: int,
                   billed_s: float = FREE_HOUR_S) -> int | None:
    """On spot pool ``here`` (its instance billed for ``billed_s`` so far) at a capacity event: the pool to move to
    (stop, save, restart there), or None. Only to a pool whose lifetimes are known (``lifetimes_known``): for one
    with no completed up period in its past the price is the no-history reading (a lifetime outlasting the job),
    not an estimate to trade a running instance for, and uniform progress's rule (stay on spot) decides."""
    cur = next(p for p in spots if p.index == here)
    others = [p for p in spots if p.index != here and lifetimes_known(p)]
    p, c = best_spot(sit, others)
    if p is None:
        return None
    budget = slack_s(sit, od, on_demand_now=False) - _reserve_s(sit, spots)
    change = sit.provisioning_s + sit.setup_s + p.move_s + sit.restore_s  # a planned stop saves first: no loss
    if budget <= change:
        return None
    lam = slack_value_usd_per_s(sit, spots, od, budget - change)
    stay = stay_usd_per_progress(sit, cur, billed_s)
    return p.index if c + lam * change / max(sit.remaining_s, TINY) < stay * (1.0 - WAIT_GAIN) else None


def _premium_usd_per_s(spots: Sequence[PoolNow], od: PoolNow) -> float:
    """What on-demand costs over spot per reference second (spot at its cheapest current price)."""
    cheapest = min((p.usd_per_s / p.rate for p in spots), default=od.usd_per_s / od.rate)
    return max(0.0, od.usd_per_s / od.rate - cheapest)


def _wait_usd(sit: Situation, spots: Sequence[PoolNow], od: PoolNow, budget_s: float) -> float:
    """Expected cost of waiting: every pool still down past the budget, then the rest at on-demand's premium."""
    p_all_down = 1.0
    for p in spots:
        if not p.available:
            p_all_down *= 1.0 - p.res.down.ends_within(p.age_s, budget_s)
    return p_all_down * _premium_usd_per_s(spots, od) * sit.remaining_s


def _bridge_usd(sit: Situation, spots: Sequence[PoolNow], od: PoolNow) -> float:
    """Expected cost of bridging on on-demand until spot is back, with the changeovers there and back."""
    down = [p.res.down.remaining_s(p.age_s) for p in spots if not p.available]
    back_s = min(down, default=0.0)
    rate = od.rate
    cheapest = min(spots, key=lambda p: p.usd_per_s / p.rate) if spots else od
    there = od.usd_per_s * (sit.setup_s + od.move_s + sit.restore_s) + od.move_usd
    home = cheapest.usd_per_s * (sit.setup_s + cheapest.move_s + sit.restore_s) + cheapest.move_usd
    return _premium_usd_per_s(spots, od) * min(back_s, sit.remaining_s / rate) * rate + there + home


# ---- the job's view (reads the pool clocks; no SimPy) -------------------------------------------------------
def situation(cs: CompiledScenario, now_s: float, progress_s: float) -> Situation:
    """The job at ``now_s`` with durable progress ``progress_s``."""
    assert cs.deadline_s is not None
    return Situation(now_s=now_s, progress_s=progress_s, work_s=cs.work_s, deadline_s=cs.deadline_s,
                     provisioning_s=cs.provisioning_s, setup_s=cs.setup_s, restore_s=cs.restore_s,
                     lost_per_restart_s=0.5 * cs.interval_s, safety_s=2.0 * cs.changeover_s)


def pool_views(cs: CompiledScenario, clocks: Sequence[PoolClock], now_s: float, held: frozenset[str],
               recovery: float) -> tuple[list[PoolNow], PoolNow]:
    """(the spot rungs, the on-demand rung) as the policy sees them at ``now_s``."""
    out = []
    for i, clock in enumerate(clocks):
        cp = clock.cp
        per = clock.period_at(now_s)
        if per is not None:
            age = now_s - per[0]
        else:
            k = clock.i0
            age = now_s - clock.ends[k - 1] if k > 0 else 0.0
        mig = migration_for(held, cp.region, recovery=recovery, checkpoint_bytes=cs.checkpoint_bytes,
                            egress=cs.egress_usd_per_gb)
        rate = cp.throughput * cs.interval_s / (cs.interval_s + cs.save_blocking_s * cp.throughput)
        out.append(PoolNow(index=i, spot=cp.spot, available=clock.available_at(now_s, cs.notice_s),
                           usd_per_s=clock.price.price_at(now_s) * cp.nodes / 3600.0, rate=rate, age_s=age,
                           move_usd=mig.usd if mig else 0.0, move_s=mig.time_s if mig else 0.0,
                           res=residuals(cp.availability, clock.offset_s + now_s),
                           past_sample=isinstance(cp.availability, TraceAvailability),
                           refund_share=1.0 / cp.nodes if cs.billing.first_hour_free_on_interruption else 0.0))
    assert cs.od_rung is not None
    return [out[i] for i in cs.spot_rungs], out[cs.od_rung]
