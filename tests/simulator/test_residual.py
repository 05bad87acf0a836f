"""Residual statistics of a replayed trace are online: only the periods that ended before the decision's position."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spotplan.simulator.availability import TraceAvailability
from spotplan.simulator.cost_aware import pool_views
from spotplan.simulator.gang import make_clock
from spotplan.simulator.market.series import AvailabilityTrace
from spotplan.simulator.residual import TraceHistory, residuals
from tests.support.sim import compiled, scenario, spot_pool, write_trace

H = 3600.0
# Hourly ticks. A past of 1 h up and 1 h down periods (the first up run began before the trace: left out), then a
# future of 10 h up periods and 5 h / 3 h outages, ending up (held forever under clamp).
PAST = [1, 1, 0, 1, 0, 1, 0]  # ticks 0-6: up periods end at 4 and 6 h, outages end at 3, 5 and 7 h
FUTURE = [1] * 10 + [0] * 5 + [1] * 10 + [0] * 3 + [1] * 2  # ticks 7-36
VALUES = PAST + FUTURE


def _history(wrap: bool) -> TraceHistory:
    return TraceHistory(np.array(VALUES) > 0, H, wrap)


def test_statistics_at_a_position_use_only_the_past() -> None:
    """At 7 h the past holds two 1 h up periods and three 1 h outages; the 10 h futures are not seen until they end."""
    h = _history(wrap=False)
    at7 = h.at(7 * H)
    assert at7.up.sorted_s.tolist() == [H, H]
    assert at7.down.sorted_s.tolist() == [H, H, H]
    assert at7.up.remaining_s(0.0) == pytest.approx(H)  # the whole trace would say (1 + 1 + 10 + 10) / 4 = 5.5 h
    assert at7.mean_up_s == pytest.approx(4 * H / 3)  # 4 h up in [0, 7 h), interruptions at 2, 4, 6 h
    assert h.at(6.5 * H).down.sorted_s.size == 2  # the outage [6, 7) h has not ended yet
    at20 = h.at(20 * H)  # the first 10 h up period ended at 17 h; the 5 h outage is still on
    assert at20.up.sorted_s.tolist() == [H, H, 10 * H]
    assert at20.down.sorted_s.tolist() == [H, H, H]
    assert at20.up.remaining_s(0.0) == pytest.approx(4 * H)
    assert at20.mean_up_s == pytest.approx(14 * H / 4)


def test_no_history_means_no_information() -> None:
    """At the trace's first tick nothing has ended: empty lengths (remaining time unknown), MTBF 0."""
    at0 = _history(wrap=False).at(0.0)
    assert at0.up.sorted_s.size == 0 and at0.down.sorted_s.size == 0
    assert at0.up.remaining_s(0.0) == np.inf and at0.down.ends_within(0.0, H) == 0.0
    assert at0.mean_up_s == 0.0


def test_clamp_adds_nothing_past_the_end_and_wrap_adds_whole_cycles() -> None:
    """Past the end, clamp holds the last state (the final up run never ends); wrap replays the cycle, whose seam
    joins the last up run to the first one (a 4 h up period, 2 h of the first cycle's end and 2 h of the next)."""
    n = len(VALUES)
    clamp = _history(wrap=False).at(3 * n * H)
    assert clamp.up.sorted_s.tolist() == [H, H, 10 * H, 10 * H]
    assert clamp.down.sorted_s.tolist() == [H, H, H, 3 * H, 5 * H]
    wrap = _history(wrap=True)
    one = wrap.at(n * H)  # the seam-joined run has not ended yet at the end of the first cycle
    assert one.up.sorted_s.tolist() == [H, H, 10 * H, 10 * H]
    two = wrap.at((2 * n + 4) * H)  # a second cycle wholly past, then 4 h into the third (the join ended at 2 h)
    # the first cycle (4 up periods), the second whole (the join and 4 more), and the third's join and 1 h run
    assert sorted(two.up.sorted_s.tolist()) == sorted([H, H, 10 * H, 10 * H] + [4 * H, H, H, 10 * H, 10 * H]
                                                      + [4 * H, H])
    assert two.down.sorted_s.size == 5 + 5 + 1  # the third cycle's outage [2, 3) h ended at 3 h


def test_pool_views_read_the_trace_at_offset_plus_now(tmp_path: Path) -> None:
    """The policy's view at simulation time t of a replay started at offset o is the trace's past at o + t."""
    path = write_trace(tmp_path, "z", VALUES, H)
    od = {"instance_type": "p3.2xlarge", "region": "us-east-1", "market": "on-demand",
          "price": {"kind": "fixed", "usd_per_h": 3.06}}
    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": path}), od], work_h=10.0,
                   deadline={"policy": "cost-aware", "deadline_h": 20.0}, replay={"end_policy": "clamp"})
    cs = compiled(doc)
    clocks = [make_clock(p, np.random.default_rng(0), 5 * H, cs.wrap) for p in cs.pools]
    spots, _ = pool_views(cs, clocks, 2 * H, frozenset(), 0.0)  # trace position 7 h: the long up period starts
    assert spots[0].available and spots[0].age_s == 0.0
    assert spots[0].res.up.sorted_s.tolist() == [H, H]
    assert spots[0].res.up.remaining_s(spots[0].age_s) == pytest.approx(H)
    later, _ = pool_views(cs, clocks, 15 * H, frozenset(), 0.0)  # position 20 h: one 10 h period is past
    assert later[0].res.up.sorted_s.tolist() == [H, H, 10 * H]
    av = cs.pools[0].availability
    assert isinstance(av, TraceAvailability)
    assert residuals(av, 20 * H).up.sorted_s.tolist() == [H, H, 10 * H]


def test_an_always_up_trace_has_no_periods() -> None:
    """A trace never interrupted is one endless up period: no lengths, infinite MTBF."""
    av = TraceAvailability(trace=AvailabilityTrace(gap_s=H, values=np.ones(5, dtype=int)))
    r = residuals(av, 3 * H)
    assert r.up.sorted_s.size == 0 and r.mean_up_s == np.inf
