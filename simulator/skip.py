"""Fast-forward over the middle of a long run: instance lifetimes in plain float arithmetic, no SimPy events.

A 28,000-hour job meets thousands of interruptions, and each one costs the event path a SimPy resume, a ``Plan``
with its ``Cycles`` and ``Segment`` records, a cut, two ``State`` walks, a notice reaction and a ledger entry. In the
middle of a run none of that can change course: with no deadline policy, flat prices (nothing to integrate, no
max price) and renewal or always-up capacity, what the job does between two decisions depends on the market and on
its recovery point only, and far from the end of the work every lifetime ends inside the regular save cycles.
``FastForward.run`` walks exactly those lifetimes with the same float operations, in the same order, as the event
path (``spotplan.simulator.job``, ``schedule``, ``reaction``, ``ledger``) and books them into the ledger in one go:
the same counts, times, costs and bills, so a run's result is the event path's up to the rounding of the one
clock jump back into SimPy. It hands back at the first decision it does not cover (the run can no longer finish
by the horizon, a lifetime could reach the end of the work or the horizon, an instance that never ends, no
capacity ever again) and the event path takes it from there. ``tests/simulator/test_skip.py`` checks it against
the event path run by run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from spotplan.schemas.scenario import DeadlinePolicy
from spotplan.simulator.availability import AlwaysUp, RenewalAvailability
from spotplan.simulator.billing import BillingRules, FlatPrice, bill_usd
from spotplan.simulator.compile import CompiledScenario
from spotplan.simulator.ledger import Ledger
from spotplan.simulator.pools import PoolClock
from spotplan.simulator.result import Activity, BillBlock
from spotplan.simulator.schedule import EPS

INF = math.inf
LOOK_AGAIN_MIN_S = 1e-3
SETUP, RESTORE, COMPUTE, LOST = Activity.SETUP, Activity.RESTORE, Activity.COMPUTE, Activity.LOST
CKPT, EMERG, IDLE = Activity.CHECKPOINT, Activity.EMERGENCY_SAVE, Activity.NOTICE_IDLE
PROV, WAITING = Activity.PROVISIONING, Activity.WAITING


def eligible(cs: CompiledScenario) -> bool:
    """The scenario's lifetimes can be fast-forwarded: no deadline policy, flat prices, renewal or always-up pools."""
    return (cs.deadline_policy is DeadlinePolicy.NONE and cs.retry_gap_s > 0 and cs.interval_s > 0
            and all(p.series is None and isinstance(p.availability, RenewalAvailability | AlwaysUp)
                    for p in cs.pools))


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

    def run(self, t: float, region: str | None, recovery: float, recovery_at: float, clocks: list[PoolClock],
            ledger: Ledger) -> Handover:
        """Walk lifetimes from a decision at ``t`` (the job between instances) and book them; where to hand over."""
        cs, rungs = self.cs, self.rungs
        work, max_sim, best_rate, margin = cs.work_s, cs.max_sim_s, self.best_rate, self.margin
        notice, lag, react, prov = cs.notice_s, cs.detection_lag_s, cs.emergency_save, cs.provisioning_s
        setup, restore, snap, persist = cs.setup_s, cs.restore_s, cs.save_blocking_s, cs.persist_s
        interval, step, gap = cs.interval_s, cs.step_time_s, cs.retry_gap_s
        rules: BillingRules = cs.billing
        orders = cs.rung_orders
        R, R_at = recovery, recovery_at
        # what the ledger gets, in booking order (sums are taken in this order, as the event path adds them)
        time_add: dict[Activity, list[float]] = {a: [] for a in Activity}
        cost_add: dict[Activity, list[float]] = {a: [] for a in Activity}
        b_pool: list[str] = []
        b_start: list[float] = []
        b_end: list[float] = []
        b_nodes: list[int] = []
        b_raw: list[float] = []
        b_billed: list[float] = []
        launches = failed = interrupted = checkpoints = em_ok = em_failed = waits = 0
        lost_add: list[float] = []

        while True:
            # ---- the decision at t (Job._run's loop top) ---------------------------------------------------
            if t + (work - R) / best_rate > max_sim:
                break
            chosen = -1
            for i in orders[(region, False)]:
                c = clocks[i]
                ends = c.ends
                k = c.i0
                while True:
                    if k >= len(ends):
                        c._more()
                    if ends[k] > t:
                        break
                    k += 1
                c.i0 = k
                if c.starts[k] <= t < ends[k] - notice:
                    chosen = i
                    break
            if chosen < 0:  # wait for capacity on the retry grid (Job._wait with no deadline to look again at)
                wake = INF
                for c in clocks:
                    nxt = c.next_capacity_s(t)
                    wake = min(wake, nxt)
                if wake == INF:
                    break
                aligned = t + math.ceil((wake - t) / gap - 1e-9) * gap
                target = max(wake, aligned)
                if target >= max_sim - 1.0:
                    break
                now = t + (target - t)
                if now > t:
                    time_add[WAITING].append(now - t)
                waits += 1
                t = now
                continue
            c = clocks[chosen]
            rg = rungs[chosen]
            E = c.ends[c.i0]
            if E == INF or E >= max_sim - 1.0:
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
                    time_add[PROV].append(now - L)
                region = rg.region
                t = now
                continue
            start = L + prov
            rate = rg.rate
            if R + (E - start) * rate >= work - margin or not R > 0:
                break  # the end of the work (remainder, final save) could be reached on this instance
            # ---- one lifetime: training_plan from `start`, interrupted at `at` (Job._instance) -------------
            launches += 1
            interrupted += 1
            region = rg.region
            x = start + (at - start)  # env.now after the yield
            h = x + EPS
            s1 = start + setup if setup > 0 else start
            c0 = s1 + restore if restore > 0 else s1
            compute_s, wait_s, period = rg.compute_s, rg.wait_s, rg.period_s
            # the State at x: where (phase), progress, saves started, recovery
            t_setup = t_restore = 0.0
            have_setup = have_restore = False
            cyc_j = 0  # saves started by x (the truncated cycles block)
            parts: list[tuple[Activity, float]] = []  # partial phases of the cycle under way, in order
            cur_kind = ""  # "setup", "restore", "compute", "wait", "snapshot", "" (none)
            cur_end = 0.0
            rec, rec_at = R, R_at
            pend_p = pend_pe = -1.0  # the pending save (progress, persist end); pend_p < 0: none
            saves: list[tuple[float, float, bool]] = []  # (progress, persist end, counted) in plan order
            cut_end = -INF  # end of the last piece of the plan cut at x
            if setup > 0 and s1 > h:
                if start < x:
                    have_setup, t_setup, cut_end = True, x - start, x
                cur_kind, cur_end, prog = "setup", s1, R
            elif restore > 0 and c0 > h:
                if setup > 0:
                    have_setup, t_setup, cut_end = True, s1 - start, s1
                if s1 < x:
                    have_restore, t_restore, cut_end = True, x - s1, x
                cur_kind, cur_end, prog = "restore", c0, R
            else:
                if setup > 0:
                    have_setup, t_setup, cut_end = True, s1 - start, s1
                if restore > 0:
                    have_restore, t_restore, cut_end = True, c0 - s1, c0
                first = c0 + compute_s + snap  # Cycles.compute_start_s(1)
                if x + EPS < first:
                    j = 0
                else:
                    j = 1 + int((x + EPS - c0 - compute_s - snap) // period)
                    while j > 1 and first + (j - 1) * period > h:
                        j -= 1
                cyc_j = j
                if j >= 1:
                    if j >= 2:
                        saves.append((R + (j - 1) * interval, first + (j - 2) * period + persist, True))
                    cstart = first + (j - 1) * period
                    saves.append((R + j * interval, cstart + persist, True))
                    cut_end = cstart
                    for sp, spe, _ in saves:
                        if spe <= h:
                            if sp >= rec:
                                rec, rec_at = sp, spe
                            pend_p = -1.0
                        else:
                            pend_p, pend_pe = sp, spe
                else:
                    cstart = c0
                p = R + j * interval
                cend = cstart + compute_s
                phases: list[tuple[str, float, float]] = [("compute", cstart, cend)]
                tw = cend
                wait = wait_s if j > 0 else 0.0
                if wait > 0:
                    phases.append(("wait", tw, tw + wait))
                    tw += wait
                if snap > 0:
                    phases.append(("snapshot", tw, tw + snap))
                prog = R + (j + 1) * interval
                for kind, a, b in phases:
                    if b > h:
                        cur_kind, cur_end = kind, b
                        prog = p + (min(x, b) - a) * rate if kind == "compute" else p + interval
                        break
                for kind, a, b in phases:
                    if a >= x:
                        break
                    full = b <= h
                    parts.append((COMPUTE if kind == "compute" else CKPT, (b - a) if full else (x - a)))
                    cut_end = b if full else x
            checkpoints_here = cyc_j
            segs: list[tuple[Activity, float]] = []  # the notice reaction's kept segments (activity, duration)
            prog_end = prog
            end_env = x
            if warned:  # notice_segments, then the idle rest of the notice
                term = E
                tt, pp = x, prog
                recovery_n = rec
                p_pend, p_pe = pend_p, pend_pe
                raw_segs: list[tuple[Activity, float, float, bool]] = []  # (activity, start, end, has a save)
                if cur_kind == "snapshot" and cur_end > term:
                    raw_segs.append((CKPT, tt, term, False))
                else:
                    if cur_kind == "snapshot":
                        saves.append((pp, cur_end + persist, True))
                        checkpoints_here += 1
                        raw_segs.append((CKPT, tt, cur_end, True))
                        p_pend, p_pe = pp, cur_end + persist
                        tt = cur_end
                    if p_pend >= 0 and p_pe <= tt + EPS:
                        recovery_n, p_pend = max(recovery_n, p_pend), -1.0
                    best = p_pend if p_pend >= 0 and p_pe <= term else recovery_n
                    if pp <= best + EPS:
                        if p_pend >= 0 and tt < p_pe <= term:
                            raw_segs.append((CKPT, tt, p_pe, False))
                    else:
                        if step and cur_kind == "compute":
                            boundary = math.ceil(pp / step - 1e-9) * step
                            dt = min((boundary - pp) / rate, term - tt)
                            if dt > 0:
                                raw_segs.append((COMPUTE, tt, tt + dt, False))
                                tt, pp = tt + dt, pp + dt * rate
                        if p_pend >= 0 and p_pe > tt:
                            e = min(p_pe, term)
                            raw_segs.append((EMERG, tt, e, False))
                            tt = e
                        finish = tt + snap + persist
                        if finish > term + EPS:
                            raw_segs.append((EMERG, tt, term, False))
                            em_failed += 1
                        else:
                            raw_segs.append((EMERG, tt, finish, True))
                            saves.append((pp, finish, False))
                            em_ok += 1
                plan_end = cut_end  # the end of the last piece kept (Plan.then drops empty segments)
                for act, a, b, has_save in raw_segs:
                    if b > a or has_save:
                        segs.append((act, b - a))
                        plan_end = b
                kept_last = bool(segs)
                end = max(x, plan_end)
                idle = end < term
                if idle:
                    segs.append((IDLE, term - end))
                    end = term
                end_env = x + (end - x)
                hz = end_env + EPS  # the State at the end: saves durable by then, progress of the last piece
                rec, rec_at = R, R_at
                for sp, spe, _ in saves:
                    if spe <= hz and sp >= rec:
                        rec, rec_at = sp, spe
                prog_end = 0.0 if idle else (pp if kept_last else prog)
            # ---- settle (Ledger.close) -----------------------------------------------------------------------
            lost = prog_end - rec
            checkpoints += checkpoints_here
            if lost > EPS:
                lost_add.append(lost)
            raw, billed = bill_usd(FlatPrice(usd_per_h=rg.usd_per_h), start, end_env, nodes=rg.nodes,
                                   spot=rg.spot, interrupted=True, rules=rules)
            b_pool.append(rg.label)
            b_start.append(start)
            b_end.append(end_env)
            b_nodes.append(rg.nodes)
            b_raw.append(raw)
            b_billed.append(billed)
            scale = billed / raw if raw > 0 else 0.0
            time_add[PROV].append(start - L)
            times: dict[Activity, float] = {}
            if have_setup:
                times[SETUP] = t_setup
            if have_restore:
                times[RESTORE] = t_restore
            if cyc_j:
                times[COMPUTE] = cyc_j * compute_s
                times[CKPT] = cyc_j * snap + (cyc_j - 1) * wait_s
            for act, d in parts:
                times[act] = times.get(act, 0.0) + d
            for act, d in segs:
                times[act] = times.get(act, 0.0) + d
            if lost > EPS:
                wall = lost / rate
                times[COMPUTE] -= wall
                times[LOST] = times.get(LOST, 0.0) + wall
            usd_per_s = rg.usd_per_h * rg.nodes / 3600.0 * scale
            for act, d in times.items():
                time_add[act].append(d)
                cost_add[act].append(usd_per_s * d)
            R, R_at = rec, rec_at
            t = end_env
            if R >= work - EPS:  # pragma: no cover - the margin keeps the end of the work out of reach
                break

        # ---- book everything ----------------------------------------------------------------------------------
        n = ledger.counts
        n.launches += launches
        n.failed_launches += failed
        n.interruptions += interrupted
        n.checkpoints += checkpoints
        n.emergency_ok += em_ok
        n.emergency_failed += em_failed
        for v in lost_add:
            ledger.lost_work_s += v
        for act, vals in time_add.items():
            acc = ledger.time_a[act]
            for v in vals:
                acc += v
            ledger.time_a[act] = acc
        for act, vals in cost_add.items():
            acc = ledger.cost_a[act]
            for v in vals:
                acc += v
            ledger.cost_a[act] = acc
        if b_pool:
            ledger.bills.append(BillBlock(b_pool, b_start, b_end, b_nodes, b_raw, b_billed))
            ledger.billed += b_billed
            ledger.billed_pools += b_pool
        return Handover(t_s=t, region=region, recovery=R, recovery_at_s=R_at, steps=launches + waits)
