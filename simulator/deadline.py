"""Deadline policies (Can't Be Late, NSDI '24) as pure decisions: spot, on-demand or idle.

Quantities are seconds. ``work_s`` is the job's reference compute C(0), ``progress_s`` the reference compute
done so far (cp), ``deadline_s`` the deadline measured from the job's start, ``changeover_s`` the changeover
delay d (provisioning + setup + restore, plus one checkpoint transfer where the ladder spans regions), ``od_rate`` the on-demand pool's progress per wall second (throughput
factor times the fraction of time not spent in blocking saves).

- Safety net (both policies): once R(t) < C(t) + 2d, where R is time left and C the on-demand time still
  needed, go on-demand and stay to the end.
- greedy: spot whenever a spot rung has capacity, idle otherwise, until the safety net.
- cost-aware: every choice priced in dollars across pools and regions (``spotplan.simulator.cost_aware``);
  here only its safety net and its on-demand commit trigger.
- uniform-progress: expected progress ep(t) = t·C(0)/R(0). Take spot whenever available (even when behind);
  when idle and behind (cp < ep(t)) go on-demand; once on on-demand stay until cp >= ep(t + 2d) (the
  hysteresis: 2d of lead, so a leave is not undone by the next changeover) *and* a spot rung has capacity, then
  leave for spot. While no spot pool has capacity the job stays on on-demand (the no-thrash rule): leaving to
  idle would only let it fall behind ep(t) and pay another changeover to come back (measured on Can't Be Late's
  us-east-1c trace: 32 on-demand launches and $141 against $122.8 for on-demand throughout). The job leaves at
  the first spot capacity event after the threshold, unless the safety net fires first (then it stays to the end).

``next_check_s`` gives the earliest time the decision could change with no capacity event (the model
re-evaluates then), so the policy costs a handful of events per run rather than one per tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from spotplan.schemas.scenario import DeadlinePolicy

INF = math.inf
TOL_S = 1e-6  # seconds; a wake-up scheduled at a threshold must see it crossed despite float rounding


class Choice(str, Enum):
    """What the job should be running on."""

    SPOT = "spot"
    ON_DEMAND = "on-demand"
    IDLE = "idle"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadlineState:
    """What a policy sees at one decision point."""

    now_s: float
    progress_s: float
    work_s: float
    deadline_s: float
    changeover_s: float
    od_rate: float
    on_demand_now: bool
    spot_available: bool
    committed: bool  # the safety net already fired


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """A choice, whether it commits to on-demand for good, and when to look again."""

    choice: Choice
    commit: bool
    next_check_s: float


def _od_need_s(st: DeadlineState) -> float:
    """C(t): wall seconds on on-demand to finish, including one changeover unless already there."""
    need = max(0.0, st.work_s - st.progress_s) / st.od_rate
    return need + (0.0 if st.on_demand_now else st.changeover_s)


def safety_net(st: DeadlineState) -> bool:
    """R(t) < C(t) + 2d."""
    return st.deadline_s - st.now_s < _od_need_s(st) + 2.0 * st.changeover_s + TOL_S


def _safety_time_s(st: DeadlineState, rate_s: float) -> float:
    """When the safety net fires if progress grows at ``rate_s`` per second from now."""
    slack = st.deadline_s - st.now_s - _od_need_s(st) - 2.0 * st.changeover_s
    shrink = 1.0 - rate_s / st.od_rate  # slack lost per wall second
    if shrink <= 1e-12:
        return INF
    return st.now_s + max(0.0, slack) / shrink


def decide(policy: DeadlinePolicy, st: DeadlineState, *, spot_rate_s: float = 0.0) -> Decision:
    """The policy's choice now; ``spot_rate_s`` is progress per second on the current spot rung (0 if idle)."""
    if st.committed or safety_net(st):
        return Decision(choice=Choice.ON_DEMAND, commit=True, next_check_s=INF)
    if policy is DeadlinePolicy.GREEDY:
        choice = Choice.SPOT if st.spot_available else Choice.IDLE
        rate = spot_rate_s if choice is Choice.SPOT else 0.0
        return Decision(choice=choice, commit=False, next_check_s=_safety_time_s(st, rate))
    return _uniform_progress(st, spot_rate_s)


def _uniform_progress(st: DeadlineState, spot_rate_s: float) -> Decision:
    r = st.work_s / st.deadline_s  # expected progress per second
    two_d = 2.0 * st.changeover_s
    if st.on_demand_now:
        if st.progress_s < r * (st.now_s + two_d):  # hysteresis: stay until cp >= ep(t + 2d)
            gain = st.od_rate - r
            t_leave = st.now_s + (r * (st.now_s + two_d) - st.progress_s) / gain if gain > 0 else INF
            return Decision(choice=Choice.ON_DEMAND, commit=False, next_check_s=t_leave)
        if not st.spot_available:  # no-thrash: nowhere to go, stay until a spot capacity event
            return Decision(choice=Choice.ON_DEMAND, commit=False, next_check_s=INF)
        choice = Choice.SPOT
    elif st.spot_available:
        choice = Choice.SPOT
    elif st.progress_s < r * st.now_s + TOL_S:  # behind (the tolerance stops a wake-up at cp/r from idling again)
        return Decision(choice=Choice.ON_DEMAND, commit=False, next_check_s=st.now_s)
    else:
        choice = Choice.IDLE
    rate = spot_rate_s if choice is Choice.SPOT else 0.0
    t_next = _safety_time_s(st, rate)
    if choice is Choice.IDLE:
        t_next = min(t_next, st.progress_s / r)  # falls behind ep(t) at t = cp / r
    return Decision(choice=choice, commit=False, next_check_s=t_next)


@dataclass(frozen=True, slots=True)
class Trigger:
    """A rule that fires at the first instant where ``progress - a * t`` is below ``b`` (or at least ``b``)."""

    a: float
    b: float
    below: bool


def safety_trigger(*, work_s: float, deadline_s: float, changeover_s: float, od_rate: float,
                   on_demand_now: bool) -> Trigger:
    """The safety net R(t) < C(t) + 2d as a linear rule on (t, progress): p - od_rate t < b."""
    c = 0.0 if on_demand_now else changeover_s
    return Trigger(a=od_rate, b=work_s + od_rate * (c + 2.0 * changeover_s + TOL_S - deadline_s), below=True)


def training_triggers(policy: DeadlinePolicy, *, on_demand: bool, committed: bool, work_s: float,
                      deadline_s: float, changeover_s: float, od_rate: float) -> tuple[Trigger | None, Trigger | None]:
    """(switch, commit) rules while training; the job switches at the first instant its switch rule fires.

    On spot, both policies keep training until the safety net fires, then stop for on-demand. On on-demand,
    uniform progress leaves once cp >= ep(t + 2d) (the hysteresis) and a spot rung has capacity (the job checks
    that at the switch instant and otherwise waits for the next spot capacity event), unless the safety net fired first, which
    commits the job to on-demand for good. Greedy reaches on-demand only through the safety net (committed).
    Decisions are taken at these instants, computed in closed form, not polled.
    """
    if policy is DeadlinePolicy.NONE or committed:
        return None, None
    kw = {"work_s": work_s, "deadline_s": deadline_s, "changeover_s": changeover_s, "od_rate": od_rate}
    if not on_demand:
        return safety_trigger(**kw, on_demand_now=False), None
    if policy is DeadlinePolicy.GREEDY:
        return None, None
    if policy is DeadlinePolicy.COST_AWARE:  # leaves at spot capacity events it prices (simulator/cost_aware.py)
        return None, safety_trigger(**kw, on_demand_now=True)
    r = work_s / deadline_s
    return Trigger(a=r, b=2.0 * changeover_s * r, below=False), safety_trigger(**kw, on_demand_now=True)
