"""What the job does once its course changes on an instance: a planned stop, or the reaction to a notice.

Both are pure functions of the job's ``State`` at that instant; they return the segments that follow (with the
saves they start or land), so the plan stays closed-form and the job needs one SimPy event for the whole sequence.

- **Stop** (a deadline decision to switch): a snapshot under way completes; if progress is beyond the latest save
  started, save it (wait for the persist in flight, snapshot); then wait until the last persist is durable.
- **Notice** (termination at ``term_s``): a snapshot under way completes if it can, then persists in the
  background; with nothing new to save, let the save in flight land; otherwise run to the end of the current step,
  wait for the save in flight, and take an emergency save (snapshot and persist) that counts only if it is durable
  by termination. What remains of the notice is idle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from spotplan.simulator.result import Activity
from spotplan.simulator.schedule import EPS, PERSIST_WAIT, SNAPSHOT, Save, Segment, State

CKPT, EMERGENCY = Activity.CHECKPOINT, Activity.EMERGENCY_SAVE


def _finish_snapshot(st: State, persist_s: float) -> tuple[list[Segment], Save | None, float]:
    """Complete the snapshot under way: (segments, its save, time after)."""
    cur = st.current
    assert cur is not None and cur.kind == SNAPSHOT
    save = cur.save or Save(st.progress, cur.end_s, cur.end_s + persist_s)
    return [Segment(st.t_s, cur.end_s, CKPT, SNAPSHOT, st.progress, st.progress, save=save)], save, cur.end_s


def stop_segments(st: State, *, snapshot_s: float, persist_s: float) -> list[Segment]:
    """A planned stop from state ``st``: the segments up to the moment the instance can be released."""
    out: list[Segment] = []
    t, p = st.t_s, st.progress
    pending, last = st.pending, st.last_started
    if st.current is not None and st.current.kind == SNAPSHOT:
        segs, pending, t = _finish_snapshot(st, persist_s)
        out += segs
        last = p
    if p > last + EPS:
        if pending is not None and pending.persist_end_s > t:
            out.append(Segment(t, pending.persist_end_s, CKPT, PERSIST_WAIT, p, p))
            t = pending.persist_end_s
        pending = Save(p, t + snapshot_s, t + snapshot_s + persist_s)
        out.append(Segment(t, t + snapshot_s, CKPT, SNAPSHOT, p, p, save=pending))
        t += snapshot_s
    if pending is not None and pending.persist_end_s > t:
        out.append(Segment(t, pending.persist_end_s, CKPT, PERSIST_WAIT, p, p))
    return out


@dataclass(frozen=True, slots=True)
class NoticeOutcome:
    """The reaction to a notice: its segments and whether an emergency save was tried and landed."""

    segments: list[Segment]
    emergency_ok: bool
    emergency_failed: bool


def notice_segments(st: State, *, term_s: float, snapshot_s: float, persist_s: float, step_s: float | None,
                    rate: float) -> NoticeOutcome:
    """The job's reaction to a notice seen at ``st.t_s`` for a termination at ``term_s`` (up to the save's end)."""
    out: list[Segment] = []
    t, p = st.t_s, st.progress
    pending, recovery = st.pending, st.recovery
    cur = st.current
    kind = cur.kind if cur is not None else ""
    if kind == SNAPSHOT:
        assert cur is not None
        if cur.end_s > term_s:
            out.append(Segment(t, term_s, CKPT, "", p, p))
            return NoticeOutcome(out, False, False)
        segs, pending, t = _finish_snapshot(st, persist_s)
        out += [Segment(s.start_s, s.end_s, CKPT, "", s.p0, s.p1, save=s.save) for s in segs]
    if pending is not None and pending.persist_end_s <= t + EPS:
        recovery, pending = max(recovery, pending.progress), None
    best = pending.progress if pending is not None and pending.persist_end_s <= term_s else recovery
    if p <= best + EPS:
        if pending is not None and t < pending.persist_end_s <= term_s:  # let the save in flight land
            out.append(Segment(t, pending.persist_end_s, CKPT, "", p, p))
        return NoticeOutcome(out, False, False)
    if step_s and kind == "" and cur is not None and cur.activity is Activity.COMPUTE:
        boundary = math.ceil(p / step_s - 1e-9) * step_s
        dt = min((boundary - p) / rate, term_s - t)
        if dt > 0:
            out.append(Segment(t, t + dt, Activity.COMPUTE, "", p, p + dt * rate))
            t, p = t + dt, p + dt * rate
    if pending is not None and pending.persist_end_s > t:
        end = min(pending.persist_end_s, term_s)
        out.append(Segment(t, end, EMERGENCY, "", p, p))
        t = end
    finish = t + snapshot_s + persist_s
    if finish > term_s + EPS:
        out.append(Segment(t, term_s, EMERGENCY, "", p, p))
        return NoticeOutcome(out, False, True)
    out.append(Segment(t, finish, EMERGENCY, "", p, p, save=Save(p, finish, finish, counted=False)))
    return NoticeOutcome(out, True, False)
