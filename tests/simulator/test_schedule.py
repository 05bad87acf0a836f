"""The closed-form plan of one instance: its arithmetic against its own explicit segments."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spotplan.simulator.result import Activity
from spotplan.simulator.schedule import (
    EPS,
    INF,
    Cycles,
    Plan,
    SaveCosts,
    _linear,
    first_crossing,
    training_plan,
    training_window,
)


def _plan(interval: float, snap: float, persist: float, rate: float, work: float, p0: float = 0.0) -> Plan:
    return training_plan(t0_s=100.0, recovery=p0, recovery_at_s=50.0 if p0 else 0.0, work=work, rate=rate,
                         costs=SaveCosts(interval=interval, snapshot_s=snap, persist_s=persist, final_save=True),
                         setup_s=30.0, restore_s=20.0)


def test_cycles_layout_by_hand() -> None:
    # 100 s of work per save at rate 2 (50 s of compute), 10 s snapshot, 80 s persist: cycles after the first wait 30 s
    plan = _plan(100.0, 10.0, 80.0, 2.0, 1000.0)
    cyc = next(p for p in plan.pieces if isinstance(p, Cycles))
    assert cyc.start_s == 130.0 and cyc.count == 9 and cyc.wait_s == 30.0 and cyc.period_s == 90.0
    assert cyc.compute_start_s(1) == 190.0 and cyc.compute_start_s(2) == 280.0 and cyc.end_s == 910.0
    st_ = plan.state_at(300.0)  # cycle 2, 20 s into its compute: progress 200 + 40
    assert st_.progress == pytest.approx(240.0) and st_.current is not None and st_.current.activity is Activity.COMPUTE
    assert st_.checkpoints == 2 and st_.recovery == 100.0 and st_.pending is not None and st_.pending.progress == 200.0
    assert plan.state_at(355.0).current.kind == "persist_wait"  # type: ignore[union-attr]
    # the end: remainder 100 s of work (50 s), wait for save 9's persist to 990, final snapshot, drain
    assert plan.end_s == pytest.approx(990.0 + 10.0 + 80.0)
    assert plan.state_at(plan.end_s).recovery == 1000.0 and plan.state_at(plan.end_s).checkpoints == 10


@given(interval=st.floats(5.0, 500.0), snap=st.floats(0.0, 60.0), persist=st.floats(0.0, 400.0),
       rate=st.floats(0.3, 3.0), work=st.floats(10.0, 20_000.0), frac=st.floats(0.0, 1.0))
def test_state_matches_the_explicit_segments(interval: float, snap: float, persist: float, rate: float,
                                             work: float, frac: float) -> None:
    plan = _plan(interval, snap, persist, rate, work)
    segs = plan.segments()
    assert all(b.start_s == pytest.approx(a.end_s, abs=1e-6) for a, b in itertools.pairwise(segs))
    times = plan.time_by_activity()
    for act in set(times):
        assert times[act] == pytest.approx(sum(s.end_s - s.start_s for s in segs if s.activity is act), abs=1e-6)
    t = segs[0].start_s + frac * (plan.end_s - segs[0].start_s)
    got = plan.state_at(t)
    under = next((s for s in segs if s.end_s > t + EPS), None)
    assert (got.current is None) == (under is None)
    if under is not None and got.current is not None:
        assert got.current.activity is under.activity and got.current.start_s == pytest.approx(under.start_s)
        expect = under.p0 + (t - under.start_s) * rate if under.activity is Activity.COMPUTE else under.p0
        assert got.progress == pytest.approx(expect, abs=1e-6)
    cut = plan.cut(t)
    assert cut.end_s <= t + EPS and cut.state_at(t).progress == pytest.approx(got.progress, abs=1e-6)


@given(interval=st.floats(5.0, 500.0), snap=st.floats(0.0, 60.0), persist=st.floats(0.0, 400.0),
       rate=st.floats(0.3, 3.0), work=st.floats(1000.0, 200_000.0), a=st.floats(0.0, 3.0),
       b=st.floats(-5e4, 5e4), below=st.booleans(), frac=st.floats(0.0, 0.5))
def test_first_crossing_matches_walking_every_segment(interval: float, snap: float, persist: float, rate: float,
                                                      work: float, a: float, b: float, below: bool,
                                                      frac: float) -> None:
    plan = _plan(interval, snap, persist, rate, work)
    window = training_window(plan)
    t0 = window[0].start_s + frac * (window[-1].end_s - window[0].start_s)
    got = first_crossing(window, rate, a, b, below, t0)
    walked = INF
    for seg in Plan(pieces=window, recovery=0.0, recovery_at_s=0.0, rate=rate).segments():
        if seg.end_s <= t0:
            continue
        s0 = max(t0, seg.start_s)
        slope = (rate if seg.activity is Activity.COMPUTE else 0.0) - a
        g0 = seg.p0 + (s0 - seg.start_s) * (slope + a) - a * s0
        hit = _linear(s0, seg.end_s, g0, slope, b, below)
        if hit is not None:
            walked = hit
            break
    if walked == INF:
        assert got == INF
    else:
        assert got == pytest.approx(walked, rel=1e-9, abs=1e-6)


def test_cycle_arrays_interleave_in_time_order() -> None:
    cyc = next(p for p in _plan(100.0, 10.0, 80.0, 2.0, 1000.0).pieces if isinstance(p, Cycles))
    arr = cyc.arrays()
    assert np.all(np.diff(arr["start"]) > 0) and np.allclose(arr["start"][1:], arr["end"][:-1])
    assert list(arr["code"][:5]) == [0, 2, 0, 1, 2]  # cycle 0 has no wait
