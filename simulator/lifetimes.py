"""Booking fast-forwarded instance lifetimes into the ledger (``spotplan.simulator.skip`` walks the decisions).

A lifetime is a launch at ``launch`` on rung ``rung`` whose up period ends at ``end``, its notice seen (``warned``)
or not. From it, with the scenario's constants, follow the plan on the instance (``schedule.training_plan``), the
state where the instance is lost (``Plan.state_at``, ``Plan.cut``), the reaction to the notice
(``reaction.notice_segments``), the settlement (``Ledger.close``, ``billing.bill_usd`` at a flat price) and the
recovery point the next instance starts from. ``book_exact`` goes one lifetime at a time with the event path's float
operations in its order; ``book_arrays`` takes the same steps as numpy masks over a chunk. A checkpoint transfer
(``spotplan.simulator.migration``) depends on where the previous lifetimes' saves landed, so scenarios where one
can occur are booked by ``book_exact`` only: the transfer sits between setup and restore, as in ``training_plan``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from spotplan.simulator.billing import BillingRules
from spotplan.simulator.ledger import Ledger
from spotplan.simulator.migration import held_after, migration_for
from spotplan.simulator.result import Activity, BillBlock
from spotplan.simulator.schedule import EPS

if TYPE_CHECKING:
    from spotplan.simulator.skip import FastForward

INF = math.inf
SETUP, RESTORE, COMPUTE, LOST = Activity.SETUP, Activity.RESTORE, Activity.COMPUTE, Activity.LOST
MIG = Activity.MIGRATION
CKPT, EMERG, IDLE = Activity.CHECKPOINT, Activity.EMERGENCY_SAVE, Activity.NOTICE_IDLE


def book_exact(ff: FastForward, launch: list[float], rung: list[int], end: list[float], warned_: list[bool],
               R: float, R_at: float, ledger: Ledger,
               held: frozenset[str] = frozenset()) -> tuple[float, float, frozenset[str]]:
    """Book lifetimes one by one with the event path's float operations; the recovery point after them and the
    regions holding it."""
    cs, rungs = ff.cs, ff.rungs
    notice, lag, prov = cs.notice_s, cs.detection_lag_s, cs.provisioning_s
    setup, restore, snap, persist = cs.setup_s, cs.restore_s, cs.save_blocking_s, cs.persist_s
    interval, step = cs.interval_s, cs.step_time_s
    rules: BillingRules = cs.billing
    per_second, minimum_s, hour_free = rules.per_second, rules.minimum_s, rules.first_hour_free_on_interruption
    # The ledger's sums, carried as locals and added to in the event path's order (so they round alike).
    ta, ca = ledger.time_a, ledger.cost_a
    t_setup, t_restore, t_comp, t_lost = ta[SETUP], ta[RESTORE], ta[COMPUTE], ta[LOST]
    t_ckpt, t_emerg, t_idle = ta[CKPT], ta[EMERG], ta[IDLE]
    c_setup, c_restore, c_comp, c_lost = ca[SETUP], ca[RESTORE], ca[COMPUTE], ca[LOST]
    c_ckpt, c_emerg, c_idle = ca[CKPT], ca[EMERG], ca[IDLE]
    lost_work = ledger.lost_work_s
    t_mig, c_mig = ta[MIG], ca[MIG]
    egress, migrations, egress_by_pool = ledger.egress_usd, ledger.migrations, ledger.egress_by_pool
    b_pool: list[str] = []
    b_start: list[float] = []
    b_end: list[float] = []
    b_nodes: list[int] = []
    b_raw: list[float] = []
    b_billed: list[float] = []
    checkpoints = em_ok = em_failed = 0
    for L, ri, E, warned in zip(launch, rung, end, warned_, strict=True):
        rg = rungs[ri]
        rate = rg.rate
        start = L + prov
        at = E - notice + lag if warned else E
        x = start + (at - start)  # env.now after the yield
        h = x + EPS
        mig = migration_for(held, rg.region, recovery=R, checkpoint_bytes=cs.checkpoint_bytes,
                            egress=cs.egress_usd_per_gb)
        mig_s = mig.time_s if mig is not None else 0.0
        d_mig = 0.0
        s1 = start + setup if setup > 0 else start
        m1 = s1 + mig_s if mig_s > 0 else s1
        c0 = m1 + restore if restore > 0 else m1
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
        elif mig_s > 0 and m1 > h:
            if setup > 0:
                d_setup, cut_end = s1 - start, s1
            if s1 < x:
                d_mig, cut_end = x - s1, x
            prog = R
        elif restore > 0 and c0 > h:
            if setup > 0:
                d_setup, cut_end = s1 - start, s1
            if mig_s > 0:
                d_mig, cut_end = m1 - s1, m1
            if m1 < x:
                d_restore, cut_end = x - m1, x
            prog = R
        else:
            if setup > 0:
                d_setup, cut_end = s1 - start, s1
            if mig_s > 0:
                d_mig, cut_end = m1 - s1, m1
            if restore > 0:
                d_restore, cut_end = c0 - m1, c0
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
        free = rg.spot and hour_free and dur < 3600.0
        if free and nodes == 1:
            billed = 0.0
        else:
            charged = max(dur, minimum_s)
            if not per_second:
                charged = math.ceil(charged / 3600.0 - 1e-12) * 3600.0
            if free:  # the reclaimed instance is free, the rest of the gang billed
                billed = (nodes - 1) * (usd_h * ((start + charged) - start) / 3600.0)
            else:
                billed = raw if charged == dur else nodes * (usd_h * ((start + charged) - start) / 3600.0)
        b_pool.append(rg.label)
        b_start.append(start)
        b_end.append(end_env)
        b_nodes.append(nodes)
        b_raw.append(raw)
        b_billed.append(billed)
        scale = billed / raw if raw > 0 else 0.0
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
        if mig is not None and d_mig > 0:  # Ledger.close: the transfer's instance time, then its egress
            t_mig += d_mig
            c_mig += usd_per_s * d_mig
            e_usd = mig.usd_per_s * d_mig
            egress += e_usd
            egress_by_pool[rg.label] = egress_by_pool.get(rg.label, 0.0) + e_usd
            c_mig += mig.usd_per_s * d_mig
            migrations += 1
        held = held_after(held, rg.region, saved=rec > R, moved=mig is not None and d_mig >= mig_s - 1e-6)
        R, R_at = rec, rec_at
    n = ledger.counts
    n.checkpoints += checkpoints
    n.emergency_ok += em_ok
    n.emergency_failed += em_failed
    ledger.lost_work_s = lost_work
    ta[SETUP], ta[RESTORE], ta[COMPUTE], ta[LOST] = t_setup, t_restore, t_comp, t_lost
    ta[CKPT], ta[EMERG], ta[IDLE] = t_ckpt, t_emerg, t_idle
    ca[SETUP], ca[RESTORE], ca[COMPUTE], ca[LOST] = c_setup, c_restore, c_comp, c_lost
    ca[CKPT], ca[EMERG], ca[IDLE] = c_ckpt, c_emerg, c_idle
    ta[MIG], ca[MIG] = t_mig, c_mig
    ledger.egress_usd, ledger.migrations = egress, migrations
    ledger.bills.append(BillBlock(b_pool, b_start, b_end, b_nodes, b_raw, b_billed))
    ledger.billed += b_billed
    ledger.billed_pools += b_pool
    return R, R_at, held

def book_arrays(ff: FastForward, launch: list[float], rung: list[int], end: list[float], warned_: list[bool],
                R: float, R_at: float, ledger: Ledger,
                held: frozenset[str] = frozenset()) -> tuple[float, float, frozenset[str]]:
    """``book_exact`` on arrays (never where a checkpoint can migrate: ``held`` comes back as it went in): the same steps as masks, progress relative to each lifetime's recovery point.

    Times, bills and costs take the same float operations as the event path; progress figures (the recovery
    point, lost work) are sums in another order, so they agree up to rounding. The step boundary of an
    emergency save is taken relative to the recovery point, which is on the step grid (see ``__init__``).
    """
    cs = ff.cs
    notice, lag, prov = cs.notice_s, cs.detection_lag_s, cs.provisioning_s
    setup, restore, snap, persist = cs.setup_s, cs.restore_s, cs.save_blocking_s, cs.persist_s
    interval, step = cs.interval_s, cs.step_time_s
    rules: BillingRules = cs.billing
    where, minimum, maximum = np.where, np.minimum, np.maximum
    ri = np.array(rung)
    L = np.array(launch)
    E = np.array(end)
    w = np.array(warned_)
    rate, compute_s, wait_s = ff.r_rate[ri], ff.r_compute[ri], ff.r_wait[ri]
    period = ff.r_period[ri]
    zero = np.zeros(L.size)
    start = L + prov
    at = where(w, E - notice + lag, E)
    x = start + (at - start)
    h = x + EPS
    s1 = start + setup if setup > 0 else start
    c0 = s1 + restore if restore > 0 else s1
    z0 = (s1 > h) if setup > 0 else np.zeros(L.size, dtype=bool)  # x in setup
    z1 = ~z0 & (c0 > h) if restore > 0 else np.zeros(L.size, dtype=bool)  # x in restore
    z2 = ~z0 & ~z1  # x in the cycles
    before = start < x
    d_setup = where(z0, where(before, x - start, 0.0), s1 - start) if setup > 0 else zero
    d_restore = (where(z1, where(s1 < x, x - s1, 0.0), where(z2, c0 - s1, 0.0)) if restore > 0 else zero)
    cut_end = where(z0, where(before, x, -INF), s1 if setup > 0 else -INF)
    if restore > 0:
        cut_end = where(z1, where(s1 < x, x, cut_end), where(z2, c0, cut_end))
    # Plan.state_at(x) in the cycles block
    first = c0 + compute_s + snap
    j = where(z2 & (x + EPS >= first), 1 + np.floor_divide(x + EPS - c0 - compute_s - snap, period), 0.0)
    j = j.astype(np.int64)
    for _ in range(2):  # Cycles.saves_by's float guard
        j -= (j > 1) & (first + (j - 1) * period > h)
    has1, has2 = j >= 2, j >= 1
    sv1_p, sv1_e = (j - 1) * interval, first + (j - 2) * period + persist
    cstart = where(has2, first + (j - 1) * period, c0)
    sv2_p, sv2_e = j * interval, cstart + persist
    d1, d2 = has1 & (sv1_e <= h), has2 & (sv2_e <= h)
    rec = where(d2, sv2_p, where(d1, sv1_p, 0.0))
    rec_at = where(d2, sv2_e, where(d1, sv1_e, np.nan))
    pend = has2 & ~d2
    pend_p, pend_e = sv2_p, sv2_e
    cut_end = where(has2, cstart, cut_end)
    d_comp = where(has2, j * compute_s, 0.0)
    d_ckpt = where(has2, j * snap + (j - 1) * wait_s, 0.0)
    p = j * interval
    cend = cstart + compute_s
    wait = where(j > 0, wait_s, 0.0)
    has_wait = wait > 0
    tw = where(has_wait, cend + wait, cend)
    c1 = z2 & (cend > h)
    c2 = z2 & ~c1 & has_wait & (tw > h)
    c3 = z2 & ~c1 & ~c2 & (tw + snap > h) if snap > 0 else np.zeros(L.size, dtype=bool)
    cur_end = where(c1, cend, where(c2, tw, tw + snap))
    prog = where(c1, p + (minimum(x, cend) - cstart) * rate, where(c2 | c3, p + interval, (j + 1) * interval))
    prog = where(z2, prog, 0.0)
    a = z2 & (cstart < x)  # the phases under way or done, truncated at x
    full_c = cend <= h
    d_comp = d_comp + where(a, where(full_c, cend - cstart, x - cstart), 0.0)
    cut_end = where(a, where(full_c, cend, x), cut_end)
    mw = a & full_c & has_wait & (cend < x)
    full_w = tw <= h
    d_ckpt = d_ckpt + where(mw, where(full_w, tw - cend, x - cend), 0.0)
    cut_end = where(mw, where(full_w, tw, x), cut_end)
    if snap > 0:
        ms = a & full_c & (tw < x)
        te = tw + snap
        full_s = te <= h
        d_ckpt = d_ckpt + where(ms, where(full_s, te - tw, x - tw), 0.0)
        cut_end = where(ms, where(full_s, te, x), cut_end)
    n_ckpt = j.copy()
    # notice_segments for the warned lifetimes, then the idle rest of the notice
    term = E
    tt, pp = x.copy(), prog.copy()
    rec_n = rec.copy()
    plan_end = cut_end.copy()
    kept = np.zeros(L.size, dtype=bool)
    d_emerg = zero.copy()
    over = w & c3 & (cur_end > term)  # the snapshot under way cannot end: stall to the termination
    m = over & (term > tt)
    d_ckpt = d_ckpt + where(m, term - tt, 0.0)
    plan_end, kept = where(m, term, plan_end), kept | m
    b = w & ~over
    b3 = b & c3  # the snapshot under way completes and persists in the background
    sp_p, sp_e = pp.copy(), cur_end + persist
    n_ckpt += b3
    d_ckpt = d_ckpt + where(b3, cur_end - tt, 0.0)
    plan_end, kept = where(b3, cur_end, plan_end), kept | b3
    pend = pend | b3
    pend_p, pend_e = where(b3, pp, pend_p), where(b3, sp_e, pend_e)
    tt = where(b3, cur_end, tt)
    land = b & pend & (pend_e <= tt + EPS)
    rec_n = where(land, maximum(rec_n, pend_p), rec_n)
    pend = pend & ~land
    best = where(pend & (pend_e <= term), pend_p, rec_n)
    nothing = b & (pp <= best + EPS)
    m = nothing & pend & (tt < pend_e) & (pend_e <= term)  # let the save in flight land
    d_ckpt = d_ckpt + where(m, pend_e - tt, 0.0)
    plan_end, kept = where(m, pend_e, plan_end), kept | m
    g = b & ~nothing
    if step:  # run to the end of the step
        k = g & c1
        boundary = np.ceil(pp / step - 1e-9) * step
        dt = minimum((boundary - pp) / rate, term - tt)
        k2 = k & (dt > 0)
        te = tt + dt
        k3 = k2 & (te > tt)
        d_comp = d_comp + where(k3, te - tt, 0.0)
        plan_end, kept = where(k3, te, plan_end), kept | k3
        pp = where(k2, pp + dt * rate, pp)
        tt = where(k2, te, tt)
    m = g & pend & (pend_e > tt)  # wait for the save in flight
    te = minimum(pend_e, term)
    m2 = m & (te > tt)
    d_emerg = d_emerg + where(m2, te - tt, 0.0)
    plan_end, kept = where(m2, te, plan_end), kept | m2
    tt = where(m, te, tt)
    finish = tt + snap + persist
    fail = g & (finish > term + EPS)
    m = fail & (term > tt)
    d_emerg = d_emerg + where(m, term - tt, 0.0)
    plan_end, kept = where(m, term, plan_end), kept | m
    ok = g & ~fail
    d_emerg = d_emerg + where(ok, finish - tt, 0.0)
    plan_end, kept = where(ok, finish, plan_end), kept | ok
    ends = maximum(x, plan_end)
    idle = w & (ends < term)
    d_idle = where(idle, term - ends, 0.0)
    ends = where(idle, term, ends)
    end_env = where(w, x + (ends - x), x)
    # Plan.state_at(end) for the warned: the saves durable by then, in plan order (their progress grows)
    hz = end_env + EPS
    rec_w, rec_at_w = zero.copy(), np.full(L.size, np.nan)
    for has, sp, se in ((has1, sv1_p, sv1_e), (has2, sv2_p, sv2_e), (b3, sp_p, sp_e), (ok, pp, finish)):
        m = has & (se <= hz)
        rec_w, rec_at_w = where(m, sp, rec_w), where(m, se, rec_at_w)
    rec = where(w, rec_w, rec)
    rec_at = where(w, rec_at_w, rec_at)
    prog_end = where(w, where(idle, np.nan, where(kept, pp, prog)), prog)  # idle: the last piece says 0
    # Ledger.close
    Rs = np.cumsum(np.concatenate(([R], rec)))
    lost = prog_end - rec
    lost_m = lost > EPS
    wall = where(lost_m, lost / rate, 0.0)
    d_comp = d_comp - wall
    nodes, usd_h = ff.r_nodes[ri], ff.r_usd[ri]
    dur = end_env - start
    raw = nodes * (usd_h * dur / 3600.0)
    charged = maximum(dur, rules.minimum_s)
    if not rules.per_second:
        charged = np.ceil(charged / 3600.0 - 1e-12) * 3600.0
    one = usd_h * ((start + charged) - start) / 3600.0
    billed = where(charged == dur, raw, nodes * one)
    if rules.first_hour_free_on_interruption:  # the reclaimed instance is free, the rest of the gang billed
        billed = where(ff.r_spot[ri] & (dur < 3600.0), where(nodes == 1, 0.0, (nodes - 1) * one), billed)
    scale = where(raw > 0, billed / where(raw > 0, raw, 1.0), 0.0)
    usd_per_s = usd_h * nodes / 3600.0 * scale
    ta, ca = ledger.time_a, ledger.cost_a
    for act, d in ((SETUP, d_setup), (RESTORE, d_restore), (COMPUTE, d_comp), (LOST, wall), (CKPT, d_ckpt),
                   (EMERG, d_emerg), (IDLE, d_idle)):
        ta[act] = float(np.cumsum(np.concatenate(([ta[act]], d)))[-1])  # in order, as the event path adds
        ca[act] = float(np.cumsum(np.concatenate(([ca[act]], usd_per_s * d)))[-1])
    if lost_m.any():
        ledger.lost_work_s = float(np.cumsum(np.concatenate(([ledger.lost_work_s], lost[lost_m])))[-1])
    n = ledger.counts
    n.checkpoints += int(n_ckpt.sum())
    n.emergency_ok += int(ok.sum())
    n.emergency_failed += int(fail.sum())
    labels = [ff.rungs[i].label for i in rung]
    billed_l = billed.tolist()
    ledger.bills.append(BillBlock(labels, start.tolist(), end_env.tolist(), [ff.rungs[i].nodes for i in rung],
                                  raw.tolist(), billed_l))
    ledger.billed += billed_l
    ledger.billed_pools += labels
    got = ~np.isnan(rec_at)
    if got.any():
        R_at = float(rec_at[np.flatnonzero(got)[-1]])
    return float(Rs[-1]), R_at, held
