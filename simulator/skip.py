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
from spotplan.simulator.billing import BillingRules
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
        self.orders = {r: o for (r, spot_only), o in cs.rung_orders.items() if not spot_only}

    def run(self, t: float, region: str | None, recovery: float, recovery_at: float, clocks: list[PoolClock],
            ledger: Ledger) -> Handover:
        """Walk lifetimes from a decision at ``t`` (the job between instances) and book them; where to hand over."""
        cs, rungs = self.cs, self.rungs
        work, max_sim, best_rate, margin = cs.work_s, cs.max_sim_s, self.best_rate, self.margin
        notice, lag, react, prov = cs.notice_s, cs.detection_lag_s, cs.emergency_save, cs.provisioning_s
        setup, restore, snap, persist = cs.setup_s, cs.restore_s, cs.save_blocking_s, cs.persist_s
        interval, step, gap = cs.interval_s, cs.step_time_s, cs.retry_gap_s
        rules: BillingRules = cs.billing
        per_second, minimum_s, hour_free = rules.per_second, rules.minimum_s, rules.first_hour_free_on_interruption
        orders = self.orders
        R, R_at = recovery, recovery_at
        # The ledger's sums, carried as locals and added to in the event path's order (so they round alike).
        ta, ca = ledger.time_a, ledger.cost_a
        t_wait, t_prov = ta[WAITING], ta[PROV]
        t_setup, t_restore, t_comp, t_lost = ta[SETUP], ta[RESTORE], ta[COMPUTE], ta[LOST]
        t_ckpt, t_emerg, t_idle = ta[CKPT], ta[EMERG], ta[IDLE]
        c_setup, c_restore, c_comp, c_lost = ca[SETUP], ca[RESTORE], ca[COMPUTE], ca[LOST]
        c_ckpt, c_emerg, c_idle = ca[CKPT], ca[EMERG], ca[IDLE]
        lost_work = ledger.lost_work_s
        b_pool: list[str] = []
        b_start: list[float] = []
        b_end: list[float] = []
        b_nodes: list[int] = []
        b_raw: list[float] = []
        b_billed: list[float] = []
        launches = failed = interrupted = checkpoints = em_ok = em_failed = waits = 0

        while True:
            # ---- the decision at t (Job._run's loop top) ---------------------------------------------------
            if t + (work - R) / best_rate > max_sim:
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
                if c.starts[k] <= t < ends[k] - notice:
                    chosen = i
                    break
            if chosen < 0:  # wait for capacity on the retry grid (Job._wait with no deadline to look again at)
                wake = INF
                for c in clocks:  # PoolClock.next_capacity_s, inlined
                    ends, starts = c.ends, c.starts
                    k = c.i0
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
                if target >= max_sim - 1.0:
                    break
                now = t + (target - t)
                if now > t:
                    t_wait += now - t
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
                    t_prov += now - L
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
            compute_s, wait_s = rg.compute_s, rg.wait_s
            # Plan.state_at(x) and the plan cut at x (Plan.cut): activity times in piece order
            d_setup = d_restore = d_comp = d_ckpt = d_emerg = d_idle = 0.0
            j = 0  # saves started by x (the truncated cycles block)
            cur = 0  # the activity under way: 0 setup/restore/none, 1 compute, 2 persist wait, 3 snapshot
            cur_end = 0.0
            rec, rec_at = R, R_at
            pend_p = pend_pe = -1.0  # the pending save (progress, persist end); pend_p < 0: none
            sv1_p = sv1_e = sv2_p = sv2_e = -1.0  # cycle saves j - 1 and j (progress, persist end); < 0: none
            cut_end = -INF  # end of the last piece of the plan cut at x
            if setup > 0 and s1 > h:
                if start < x:
                    d_setup, cut_end = x - start, x
                prog = R
            elif restore > 0 and c0 > h:
                if setup > 0:
                    d_setup, cut_end = s1 - start, s1
                if s1 < x:
                    d_restore, cut_end = x - s1, x
                prog = R
            else:
                if setup > 0:
                    d_setup, cut_end = s1 - start, s1
                if restore > 0:
                    d_restore, cut_end = c0 - s1, c0
                period = rg.period_s
                first = c0 + compute_s + snap  # Cycles.compute_start_s(1)
                if x + EPS >= first:
                    j = 1 + int((x + EPS - c0 - compute_s - snap) // period)
                    while j > 1 and first + (j - 1) * period > h:
                        j -= 1
                if j >= 1:
                    if j >= 2:
                        sv1_p, sv1_e = R + (j - 1) * interval, first + (j - 2) * period + persist
                        if sv1_e <= h:
                            if sv1_p >= rec:
                                rec, rec_at = sv1_p, sv1_e
                        else:
                            pend_p, pend_pe = sv1_p, sv1_e
                    cstart = first + (j - 1) * period
                    sv2_p, sv2_e = R + j * interval, cstart + persist
                    if sv2_e <= h:
                        if sv2_p >= rec:
                            rec, rec_at = sv2_p, sv2_e
                        pend_p = -1.0
                    else:
                        pend_p, pend_pe = sv2_p, sv2_e
                    cut_end = cstart
                    d_comp = j * compute_s
                    d_ckpt = j * snap + (j - 1) * wait_s
                else:
                    cstart = c0
                p = R + j * interval
                # cycle j's phases: compute [cstart, cend], persist wait [cend, tw], snapshot [tw, tw + snap]
                cend = cstart + compute_s
                wait = wait_s if j > 0 else 0.0
                tw = cend + wait if wait > 0 else cend
                prog = R + (j + 1) * interval
                if cend > h:
                    cur, cur_end, prog = 1, cend, p + (min(x, cend) - cstart) * rate
                elif wait > 0 and tw > h:
                    cur, cur_end, prog = 2, tw, p + interval
                elif snap > 0 and tw + snap > h:
                    cur, cur_end, prog = 3, tw + snap, p + interval
                if cstart < x:  # the phases under way or done, truncated at x
                    if cend <= h:
                        d_comp += cend - cstart
                        cut_end = cend
                        if wait > 0 and cend < x:
                            if tw <= h:
                                d_ckpt += tw - cend
                                cut_end = tw
                            else:
                                d_ckpt += x - cend
                                cut_end = x
                        if snap > 0 and tw < x and tw <= h:
                            te = tw + snap
                            if te <= h:
                                d_ckpt += te - tw
                                cut_end = te
                            else:
                                d_ckpt += x - tw
                                cut_end = x
                    else:
                        d_comp += x - cstart
                        cut_end = x
            n_ckpt = j
            prog_end = prog
            end_env = x
            if warned:  # notice_segments, then the idle rest of the notice (Job._instance)
                term = E
                tt, pp = x, prog
                recovery_n = rec
                p_pend, p_pe = pend_p, pend_pe
                plan_end = cut_end  # the end of the last piece kept (Plan.then drops empty segments)
                kept = False
                snap_p = snap_e = em_p = em_e = -1.0  # the saves the reaction lands (snapshot finished, emergency)
                if cur == 3 and cur_end > term:
                    if term > tt:
                        d_ckpt += term - tt
                        plan_end, kept = term, True
                else:
                    if cur == 3:  # the snapshot under way completes and persists in the background
                        snap_p, snap_e = pp, cur_end + persist
                        n_ckpt += 1
                        d_ckpt += cur_end - tt
                        plan_end, kept = cur_end, True
                        p_pend, p_pe = pp, snap_e
                        tt = cur_end
                    if p_pend >= 0 and p_pe <= tt + EPS:
                        recovery_n, p_pend = max(recovery_n, p_pend), -1.0
                    best = p_pend if p_pend >= 0 and p_pe <= term else recovery_n
                    if pp <= best + EPS:
                        if p_pend >= 0 and tt < p_pe <= term:  # let the save in flight land
                            d_ckpt += p_pe - tt
                            plan_end, kept = p_pe, True
                    else:
                        if step and cur == 1:  # run to the end of the step
                            boundary = math.ceil(pp / step - 1e-9) * step
                            dt = min((boundary - pp) / rate, term - tt)
                            if dt > 0:
                                te = tt + dt
                                if te > tt:
                                    d_comp += te - tt
                                    plan_end, kept = te, True
                                tt, pp = te, pp + dt * rate
                        if p_pend >= 0 and p_pe > tt:
                            te = min(p_pe, term)
                            if te > tt:
                                d_emerg += te - tt
                                plan_end, kept = te, True
                            tt = te
                        finish = tt + snap + persist
                        if finish > term + EPS:
                            if term > tt:
                                d_emerg += term - tt
                                plan_end, kept = term, True
                            em_failed += 1
                        else:
                            d_emerg += finish - tt
                            plan_end, kept = finish, True
                            em_p, em_e = pp, finish
                            em_ok += 1
                end = max(x, plan_end)
                idle = end < term
                if idle:
                    d_idle = term - end
                    end = term
                end_env = x + (end - x)
                hz = end_env + EPS  # Plan.state_at(end): the saves durable by then, the last piece's progress
                rec, rec_at = R, R_at
                if sv1_p >= 0 and sv1_e <= hz and sv1_p >= rec:
                    rec, rec_at = sv1_p, sv1_e
                if sv2_p >= 0 and sv2_e <= hz and sv2_p >= rec:
                    rec, rec_at = sv2_p, sv2_e
                if snap_p >= 0 and snap_e <= hz and snap_p >= rec:
                    rec, rec_at = snap_p, snap_e
                if em_p >= 0 and em_e <= hz and em_p >= rec:
                    rec, rec_at = em_p, em_e
                prog_end = 0.0 if idle else (pp if kept else prog)
            # ---- settle (Ledger.close, billing.bill_usd with a flat price) -----------------------------------
            lost = prog_end - rec
            checkpoints += n_ckpt
            nodes, usd_h = rg.nodes, rg.usd_per_h
            dur = end_env - start
            raw = nodes * (usd_h * dur / 3600.0)
            if rg.spot and hour_free and dur < 3600.0:
                billed = 0.0
            else:
                charged = max(dur, minimum_s)
                if not per_second:
                    charged = math.ceil(charged / 3600.0 - 1e-12) * 3600.0
                billed = raw if charged == dur else nodes * (usd_h * ((start + charged) - start) / 3600.0)
            b_pool.append(rg.label)
            b_start.append(start)
            b_end.append(end_env)
            b_nodes.append(nodes)
            b_raw.append(raw)
            b_billed.append(billed)
            scale = billed / raw if raw > 0 else 0.0
            t_prov += start - L
            d_lost = 0.0
            if lost > EPS:
                lost_work += lost
                wall = lost / rate
                d_comp -= wall
                d_lost = wall
            usd_per_s = usd_h * nodes / 3600.0 * scale
            t_setup += d_setup
            c_setup += usd_per_s * d_setup
            t_restore += d_restore
            c_restore += usd_per_s * d_restore
            t_comp += d_comp
            c_comp += usd_per_s * d_comp
            t_lost += d_lost
            c_lost += usd_per_s * d_lost
            t_ckpt += d_ckpt
            c_ckpt += usd_per_s * d_ckpt
            t_emerg += d_emerg
            c_emerg += usd_per_s * d_emerg
            t_idle += d_idle
            c_idle += usd_per_s * d_idle
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
        ledger.lost_work_s = lost_work
        ta[WAITING], ta[PROV] = t_wait, t_prov
        ta[SETUP], ta[RESTORE], ta[COMPUTE], ta[LOST] = t_setup, t_restore, t_comp, t_lost
        ta[CKPT], ta[EMERG], ta[IDLE] = t_ckpt, t_emerg, t_idle
        ca[SETUP], ca[RESTORE], ca[COMPUTE], ca[LOST] = c_setup, c_restore, c_comp, c_lost
        ca[CKPT], ca[EMERG], ca[IDLE] = c_ckpt, c_emerg, c_idle
        if b_pool:
            ledger.bills.append(BillBlock(b_pool, b_start, b_end, b_nodes, b_raw, b_billed))
            ledger.billed += b_billed
            ledger.billed_pools += b_pool
        return Handover(t_s=t, region=region, recovery=R, recovery_at_s=R_at, steps=launches + waits)
