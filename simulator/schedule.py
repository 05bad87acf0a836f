"""Closed-form training on one instance: where the job is at any instant between two market events.

Between market events the job is fully determined by the plan: after setup (and a restore when a checkpoint
exists) it trains ``interval`` reference seconds at the pool's throughput, waits for the previous background
persist if it is still running, takes a blocking snapshot, and starts the next persist, over and over; then it
trains the remainder, takes the final save and waits for it to persist. A ``Plan`` holds that schedule as a few
pieces: explicit ``Segment`` records and one ``Cycles`` block for the periodic part, whose k-th cycle is found
by arithmetic. The job asks it the state at an instant (progress, the save in flight, the recovery point, the
activity under way), cuts it there when a notice or a deadline decision changes the course, and the ledger asks it
for time by activity (closed form) or for the explicit segments (only for a timeline or a replayed price).

Tie rule: anything that ends within ``EPS`` of an instant has happened by that instant. A snapshot or persist
that ends at the same time as a termination counts, and so does the end of the job.

Times are simulation seconds; progress is reference compute seconds (work measured on the reference pool).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spotplan.simulator.result import Activity

INF = math.inf
EPS = 1e-6
SNAPSHOT, PERSIST_WAIT = "snapshot", "persist_wait"  # kinds of checkpoint activity; "" for everything else


@dataclass(slots=True)
class Save:
    """A checkpoint of ``progress``: its snapshot ended at ``snapshot_end_s``, it is durable at ``persist_end_s``.

    ``counted`` saves are the regular (and final) ones the result's ``checkpoints`` counts; emergency saves are not.
    """

    progress: float
    snapshot_end_s: float
    persist_end_s: float
    counted: bool = True


@dataclass(slots=True)
class Segment:
    """One activity over [start_s, end_s]; progress goes from p0 to p1 (equal unless computing).

    ``save`` is the checkpoint this segment completes at its end (a snapshot, or an emergency save).
    """

    start_s: float
    end_s: float
    activity: Activity
    kind: str = ""
    p0: float = 0.0
    p1: float = 0.0
    save: Save | None = None


@dataclass(frozen=True, slots=True)
class Cycles:
    """``count`` regular cycles from ``start_s``: compute ``interval`` at ``rate``, wait for the persist, snapshot.

    Cycle 0 has no wait (no save is in flight on a fresh instance); cycle k >= 1 waits ``wait_s``. Cycle k's
    snapshot ends at ``compute_start_s(k + 1)``, which starts save k + 1 of progress ``p0 + (k + 1) * interval``.
    """

    start_s: float
    p0: float
    rate: float
    interval: float
    compute_s: float
    wait_s: float
    snapshot_s: float
    persist_s: float
    count: int

    @property
    def period_s(self) -> float:
        """Length of cycles 1..count-1."""
        return self.compute_s + self.wait_s + self.snapshot_s

    def compute_start_s(self, k: int) -> float:
        """When cycle k's compute starts (k = count: the end of the block)."""
        if k == 0:
            return self.start_s
        return self.start_s + self.compute_s + self.snapshot_s + (k - 1) * self.period_s

    @property
    def end_s(self) -> float:
        """End of the last snapshot."""
        return self.compute_start_s(self.count)

    @property
    def p1(self) -> float:
        """Progress at the end of the block."""
        return self.p0 + self.count * self.interval

    def save(self, j: int) -> Save:
        """Save j (1-based)."""
        end = self.compute_start_s(j)
        return Save(self.p0 + j * self.interval, end, end + self.persist_s)

    def saves_by(self, t_s: float) -> int:
        """How many saves have started by ``t_s`` (snapshot ended within EPS)."""
        if self.count == 0 or t_s + EPS < self.start_s + self.compute_s + self.snapshot_s:
            return 0
        j = 1 + int((t_s + EPS - self.start_s - self.compute_s - self.snapshot_s) // self.period_s)
        while j > 1 and self.compute_start_s(j) > t_s + EPS:  # float guard
            j -= 1
        return min(j, self.count)

    def phases(self, k: int) -> tuple[Segment, ...]:
        """Cycle k's compute, wait and snapshot (zero-length ones left out)."""
        c = self.compute_start_s(k)
        p = self.p0 + k * self.interval
        wait = self.wait_s if k > 0 else 0.0
        out = [Segment(c, c + self.compute_s, Activity.COMPUTE, "", p, p + self.interval)]
        t = c + self.compute_s
        if wait > 0:
            out.append(Segment(t, t + wait, Activity.CHECKPOINT, PERSIST_WAIT, p + self.interval, p + self.interval))
            t += wait
        if self.snapshot_s > 0:
            out.append(Segment(t, t + self.snapshot_s, Activity.CHECKPOINT, SNAPSHOT, p + self.interval,
                               p + self.interval))
        return tuple(out)

    def truncated(self, count: int) -> Cycles:
        """The first ``count`` cycles."""
        return Cycles(self.start_s, self.p0, self.rate, self.interval, self.compute_s, self.wait_s, self.snapshot_s,
                      self.persist_s, count)

    def totals(self) -> tuple[float, float]:
        """(compute, checkpoint stall) wall seconds of the whole block."""
        if self.count == 0:
            return 0.0, 0.0
        return self.count * self.compute_s, self.count * self.snapshot_s + (self.count - 1) * self.wait_s

    def arrays(self) -> dict[str, np.ndarray]:
        """The block as arrays of segments (start, end, activity code, p0, p1) for timelines and price integrals."""
        k = np.arange(self.count)
        c = np.where(k == 0, self.start_s, self.start_s + self.compute_s + self.snapshot_s + (k - 1) * self.period_s)
        p = self.p0 + k * self.interval
        wait = np.where(k == 0, 0.0, self.wait_s)
        parts = [(c, c + self.compute_s, 0, p, p + self.interval)]
        if self.wait_s > 0:
            parts.append((c + self.compute_s, c + self.compute_s + wait, 1, p + self.interval, p + self.interval))
        if self.snapshot_s > 0:
            s0 = c + self.compute_s + wait
            parts.append((s0, s0 + self.snapshot_s, 2, p + self.interval, p + self.interval))
        cols = [np.stack([np.broadcast_to(np.asarray(x, dtype=float), k.shape) for x in part[:2] + part[3:]])
                for part in parts]
        code = [np.full(self.count, part[2]) for part in parts]
        stacked = np.stack(cols, axis=2).reshape(4, -1)  # interleave phases in time order
        codes = np.stack(code, axis=1).reshape(-1)
        keep = stacked[1] > stacked[0]
        return {"start": stacked[0][keep], "end": stacked[1][keep], "code": codes[keep], "p0": stacked[2][keep],
                "p1": stacked[3][keep]}


CYCLE_ACTIVITY = (Activity.COMPUTE, Activity.CHECKPOINT, Activity.CHECKPOINT)  # by array code
CYCLE_KIND = ("", PERSIST_WAIT, SNAPSHOT)

Piece = Segment | Cycles


@dataclass(slots=True)
class State:
    """The job at one instant on one instance."""

    t_s: float
    progress: float
    recovery: float  # progress of the latest durable checkpoint
    recovery_at_s: float  # when it became durable
    pending: Save | None  # the save whose persist is still running
    last_started: float  # progress of the latest save started (snapshot done), or the recovery point
    current: Segment | None  # the activity under way at t_s (None once the plan has ended)
    checkpoints: int  # counted saves started on this plan


@dataclass(frozen=True, slots=True)
class Plan:
    """The schedule of one instance from its launch: pieces in time order, starting from a recovery point."""

    pieces: tuple[Piece, ...]
    recovery: float
    recovery_at_s: float
    rate: float

    @property
    def end_s(self) -> float:
        """When the last piece ends (-inf for an empty plan)."""
        return self.pieces[-1].end_s if self.pieces else -INF

    def state_at(self, t_s: float) -> State:
        """Progress, saves and the activity under way at ``t_s`` (the tie rule: what ends within EPS is done)."""
        rec, rec_at = self.recovery, self.recovery_at_s
        last = rec
        pending: Save | None = None
        progress = rec
        counted = 0
        current: Segment | None = None
        horizon = t_s + EPS

        def started(s: Save) -> None:
            nonlocal rec, rec_at, pending, last
            last = s.progress
            if s.persist_end_s <= horizon:
                if s.progress >= rec:
                    rec, rec_at = s.progress, s.persist_end_s
                pending = None
            else:
                pending = s

        for piece in self.pieces:
            if isinstance(piece, Cycles):
                if piece.count == 0:
                    continue
                j = piece.saves_by(t_s)
                if j >= 1:
                    if j >= 2:
                        started(piece.save(j - 1))
                    started(piece.save(j))
                    counted += j
                if j < piece.count or piece.end_s > horizon:
                    k = j  # cycle under way
                    for seg in piece.phases(k):
                        if seg.end_s > horizon:
                            current = seg
                            progress = seg.p0 + (min(t_s, seg.end_s) - seg.start_s) * self.rate \
                                if seg.activity is Activity.COMPUTE else seg.p0
                            break
                    else:  # pragma: no cover - saves_by and phases agree
                        progress = piece.p0 + (k + 1) * piece.interval
                    break
                progress = piece.p1
                continue
            if piece.end_s > horizon:
                current = piece
                progress = piece.p0 + (max(t_s, piece.start_s) - piece.start_s) * self.rate \
                    if piece.activity is Activity.COMPUTE else piece.p0
                break
            progress = piece.p1
            if piece.save is not None:
                started(piece.save)
                counted += piece.save.counted
        return State(t_s=t_s, progress=progress, recovery=rec, recovery_at_s=rec_at, pending=pending,
                     last_started=last, current=current, checkpoints=counted)

    def cut(self, t_s: float) -> Plan:
        """The plan up to ``t_s``: later pieces dropped, the piece under way truncated (what ends within EPS kept)."""
        out: list[Piece] = []
        horizon = t_s + EPS
        for piece in self.pieces:
            if piece.end_s <= horizon:
                out.append(piece)
                continue
            if isinstance(piece, Cycles):
                j = piece.saves_by(t_s)
                if j:
                    out.append(piece.truncated(j))
                for seg in piece.phases(j):
                    if seg.start_s >= t_s:
                        break
                    out.append(seg if seg.end_s <= horizon else _truncate(seg, t_s, self.rate))
            elif piece.start_s < t_s:
                out.append(_truncate(piece, t_s, self.rate))
            break
        return Plan(tuple(out), self.recovery, self.recovery_at_s, self.rate)

    def then(self, segments: list[Segment]) -> Plan:
        """This plan followed by ``segments`` (zero-length ones dropped)."""
        return Plan(self.pieces + tuple(s for s in segments if s.end_s > s.start_s or s.save), self.recovery,
                    self.recovery_at_s, self.rate)

    def segments(self) -> list[Segment]:
        """Every piece as explicit segments (O(checkpoints): timelines and replayed prices only)."""
        out: list[Segment] = []
        for piece in self.pieces:
            if isinstance(piece, Cycles):
                a = piece.arrays()
                for s, e, c, p0, p1 in zip(a["start"].tolist(), a["end"].tolist(), a["code"].tolist(),
                                           a["p0"].tolist(), a["p1"].tolist(), strict=True):
                    out.append(Segment(s, e, CYCLE_ACTIVITY[c], CYCLE_KIND[c], p0, p1))
            else:
                out.append(piece)
        return out

    def time_by_activity(self) -> dict[Activity, float]:
        """Wall seconds per activity over the whole plan, in closed form."""
        out: dict[Activity, float] = {}
        for piece in self.pieces:
            if isinstance(piece, Cycles):
                comp, ckpt = piece.totals()
                out[Activity.COMPUTE] = out.get(Activity.COMPUTE, 0.0) + comp
                out[Activity.CHECKPOINT] = out.get(Activity.CHECKPOINT, 0.0) + ckpt
            else:
                out[piece.activity] = out.get(piece.activity, 0.0) + (piece.end_s - piece.start_s)
        return out


def _truncate(seg: Segment, t_s: float, rate: float) -> Segment:
    """``seg`` ending at ``t_s`` (its save, if any, not reached)."""
    p1 = seg.p0 + (t_s - seg.start_s) * rate if seg.activity is Activity.COMPUTE else seg.p0
    return Segment(seg.start_s, t_s, seg.activity, seg.kind, seg.p0, p1)


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveCosts:
    """The checkpoint costs of a scenario, in seconds; ``interval`` in reference compute seconds."""

    interval: float
    snapshot_s: float
    persist_s: float
    final_save: bool


def training_plan(*, t0_s: float, recovery: float, recovery_at_s: float, work: float, rate: float,
                  costs: SaveCosts, setup_s: float, restore_s: float, until_s: float = INF,
                  migrate_s: float = 0.0) -> Plan:
    """Setup, the checkpoint's transfer from another region (``migrate_s``, when one is needed), restore (when a
    checkpoint exists), the regular cycles, the remainder, the final save and drain.

    ``until_s``: the instance is known to end by then, so a plan whose start-up reaches it stops there.
    """
    pieces: list[Piece] = []
    t = t0_s
    p0 = recovery
    if setup_s > 0:
        pieces.append(Segment(t, t + setup_s, Activity.SETUP, "", p0, p0))
        t += setup_s
    if recovery > 0 and migrate_s > 0:
        pieces.append(Segment(t, t + migrate_s, Activity.MIGRATION, "", p0, p0))
        t += migrate_s
    if recovery > 0 and restore_s > 0:
        pieces.append(Segment(t, t + restore_s, Activity.RESTORE, "", p0, p0))
        t += restore_s
    if t >= until_s:
        return Plan(tuple(pieces), recovery, recovery_at_s, rate)
    interval, snap, persist = costs.interval, costs.snapshot_s, costs.persist_s
    x = (work - EPS - p0) / interval
    m = max(0, math.ceil(x) - 1) if x > 0 else 0
    while m > 0 and p0 + m * interval >= work - EPS:  # float guard
        m -= 1
    compute_s = interval / rate
    if m:
        cyc = Cycles(start_s=t, p0=p0, rate=rate, interval=interval, compute_s=compute_s,
                     wait_s=max(0.0, persist - compute_s), snapshot_s=snap, persist_s=persist, count=m)
        pieces.append(cyc)
        t = cyc.end_s
    p = p0 + m * interval
    rem_s = (work - p) / rate
    if rem_s > 0:
        pieces.append(Segment(t, t + rem_s, Activity.COMPUTE, "", p, work))
        t += rem_s
    pending_end = t - rem_s + persist if m else -INF  # save m's persist
    if costs.final_save and work > recovery + EPS:
        if pending_end > t:
            pieces.append(Segment(t, pending_end, Activity.CHECKPOINT, PERSIST_WAIT, work, work))
            t = pending_end
        pieces.append(Segment(t, t + snap, Activity.CHECKPOINT, SNAPSHOT, work, work,
                              save=Save(work, t + snap, t + snap + persist)))
        t += snap
        pending_end = t + persist
    if pending_end > t:
        pieces.append(Segment(t, pending_end, Activity.CHECKPOINT, PERSIST_WAIT, work, work))
    return Plan(tuple(pieces), recovery, recovery_at_s, rate)


def training_window(plan: Plan) -> tuple[Piece, ...]:
    """The pieces where deadline decisions apply: the cycles and the remainder's compute (not setup or final save)."""
    out: list[Piece] = []
    seen_train = False
    for piece in plan.pieces:
        if isinstance(piece, Cycles):
            out.append(piece)
            seen_train = True
        elif piece.activity is Activity.COMPUTE:
            out.append(piece)
            break
        elif seen_train:
            break
    return tuple(out)


# ---- first crossing of a linear condition on (t, progress) ---------------------------------------------------

def _linear(t0: float, t1: float, g0: float, slope: float, b: float, below: bool) -> float | None:
    """First t in [t0, t1) where g(t) = g0 + slope (t - t0) is < b (below) or >= b (above); None if none."""
    if (g0 < b) if below else (g0 >= b):
        return t0
    if below and slope < 0:
        t = t0 + (g0 - b) / -slope
    elif not below and slope > 0:
        t = t0 + (b - g0) / slope
    else:
        return None
    return t if t < t1 else None


def first_crossing(pieces: tuple[Piece, ...], rate: float, a: float, b: float, below: bool,
                   from_s: float) -> float:
    """First instant >= ``from_s`` where progress - a * t is < b (``below``) or >= b, over ``pieces``; INF if never.

    On a ``Cycles`` block the phase values form arithmetic sequences in the cycle index, so the cycle where the
    condition first holds is found by division, not by walking the cycles.
    """
    for piece in pieces:
        if piece.end_s <= from_s:
            continue
        if isinstance(piece, Segment):
            hit = _phases_crossing((piece,), rate, a, b, below, from_s)
        else:
            hit = _cycles_crossing(piece, a, b, below, from_s)
        if hit is not None:
            return hit
    return INF


def _cycles_crossing(cy: Cycles, a: float, b: float, below: bool, from_s: float) -> float | None:
    if cy.count == 0:
        return None
    k0 = 0 if from_s <= cy.start_s else max(0, cy.saves_by(from_s) - 1)
    # Cycles before index 2 and the two from k0 are walked (from_s lies in cycle k0 when it is in a save, in
    # k0 + 1 when it is in the compute before the next save); the rest are periodic from cycle 1.
    head = range(k0, min(cy.count, max(k0 + 2, 2)))
    for k in head:
        hit = _phases_crossing(cy.phases(k), cy.rate, a, b, below, from_s)
        if hit is not None:
            return hit
    k_first = head.stop
    if k_first >= cy.count:
        return None
    drift = cy.interval - a * cy.period_s  # change of progress - a t per cycle
    best: tuple[int, int] | None = None
    ref = cy.phases(1)
    for j, seg in enumerate(ref):
        g_end1 = seg.p1 - a * seg.end_s
        k = _first_k(g_end1, drift, b, below, k_first)
        if k is not None and k < cy.count and (best is None or (k, j) < best):
            best = (k, j)
    if best is None:
        return None
    k, _ = best
    for kk in (k - 1, k):  # float guard: the sequence bound may be one cycle late
        if kk >= k_first:
            hit = _phases_crossing(cy.phases(kk), cy.rate, a, b, below, from_s)
            if hit is not None:
                return hit
    return None


def _first_k(g1: float, drift: float, b: float, below: bool, k_min: int) -> int | None:
    """Smallest k >= k_min with g1 + (k - 1) drift < b (below) or >= b (above)."""
    gk = g1 + (k_min - 1) * drift
    if (gk < b) if below else (gk >= b):
        return k_min
    if below and drift < 0:
        return max(k_min, 1 + math.floor((g1 - b) / -drift) + 1)
    if not below and drift > 0:
        return max(k_min, 1 + math.ceil((b - g1) / drift))
    return None


def _phases_crossing(segs: tuple[Segment, ...], rate: float, a: float, b: float, below: bool,
                     from_s: float) -> float | None:
    for seg in segs:
        if seg.end_s <= from_s:
            continue
        t0 = max(from_s, seg.start_s)
        slope = (rate if seg.activity is Activity.COMPUTE else 0.0) - a
        g0 = seg.p0 + (t0 - seg.start_s) * (slope + a) - a * t0
        hit = _linear(t0, seg.end_s, g0, slope, b, below)
        if hit is not None:
            return hit
    return None
