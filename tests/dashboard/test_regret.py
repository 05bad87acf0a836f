"""The dashboard's regret logic: the windows and figures of ``spotplan recommend --traces``, and the page's frame."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from spotplan.advisor.traces import REGRET_WINDOWS, chosen_offsets_s, with_deadline
from spotplan.dashboard import regret
from spotplan.errors import ConfigError
from tests.dashboard.handmade_traces import write_trace


def _scenario(trace: Path, deadline_h: float | None) -> Any:
    """The dashboard quick plan's Scenario for a small job (125M, 1B tokens, p3 only) on the trace."""
    from spotplan.advisor.request import RecommendRequest
    from spotplan.advisor.scoring import to_scenario
    from spotplan.dashboard.quickplan import quick_plan

    q = quick_plan(RecommendRequest(model_size="125M", tokens=1_000_000_000, deadline_h=deadline_h,
                                    families=("p3",), traces=(str(trace),)))
    return to_scenario(q.config, q.settings)


def test_windows_are_thinned_evenly_to_the_cap() -> None:
    """Every tiling window when they fit under the cap; else every k-th, at most REGRET_WINDOWS of them."""
    assert chosen_offsets_s(72 * 3600.0, 12 * 3600.0) == ([i * 12 * 3600.0 for i in range(6)], 6)
    offsets, tiled = chosen_offsets_s(72 * 3600.0, 4 * 3600.0)
    assert tiled == 18 and len(offsets) <= REGRET_WINDOWS
    assert offsets == [i * 3 * 4 * 3600.0 for i in range(6)]
    with pytest.raises(ConfigError, match="longer than the trace"):
        chosen_offsets_s(72 * 3600.0, 80 * 3600.0)


def test_dashboard_regret_equals_recommends(tmp_path: Path) -> None:
    """Window by window, the dashboard's figures are those ``recommend --traces`` reports for the same plan."""
    from spotplan.advisor.traces import plan_regret
    from spotplan.simulator.compile import compile_scenario

    sc = _scenario(write_trace(tmp_path), deadline_h=6.0)
    cs = compile_scenario(sc)
    setup = regret.regret_setup(cs)
    windows = [regret.measure_window(cs, 0, i, off) for i, off in enumerate(setup.offsets_s)]
    view = regret.regret_view(setup, windows, seed=0)
    cli = plan_regret(sc)
    assert [w.start_h for w in windows] == pytest.approx(cli["windows_h"]) and setup.tiled == 12
    assert [w.plan_usd for w in windows] == pytest.approx([r["plan_usd"] for r in cli["per_replay"]])
    assert [w.optimum_usd for w in windows] == pytest.approx([r["optimum_usd"] for r in cli["per_replay"]])
    assert view.mean_ratio == pytest.approx(cli["mean_ratio"]) and view.met == cli["replays_meeting_deadline"]
    assert all(w.plan_usd >= w.optimum_usd * (1 - 1e-9) for w in windows if w.deadline_met)  # a lower bound
    assert len(set(view.frame["optimum_usd"].round(6))) > 1  # the windows differ


def test_plans_without_a_deadline_or_past_the_trace_are_one_line(tmp_path: Path) -> None:
    """No deadline, or a deadline (the window) longer than the trace: one ConfigError line each."""
    from spotplan.simulator.compile import compile_scenario

    trace = write_trace(tmp_path)
    with pytest.raises(ConfigError, match="no deadline") as none:
        regret.regret_setup(compile_scenario(_scenario(trace, deadline_h=None)))
    with pytest.raises(ConfigError, match=r"window of 80 h is longer than the trace \(72 h\)") as past:
        regret.regret_setup(compile_scenario(_scenario(trace, deadline_h=80.0)))
    assert "\n" not in str(none.value) + str(past.value)


def test_frame_and_means_leave_out_missed_windows() -> None:
    """The ratio is plan / optimum per window; the mean, ratio of means and mean optimum skip missed windows."""
    windows = [regret.RegretWindow(start_h=0.0, plan_usd=12.0, optimum_usd=10.0, deadline_met=True, makespan_h=5.0),
               regret.RegretWindow(start_h=6.0, plan_usd=9.0, optimum_usd=6.0, deadline_met=True, makespan_h=5.5),
               regret.RegretWindow(start_h=12.0, plan_usd=4.0, optimum_usd=8.0, deadline_met=False, makespan_h=7.0)]
    setup = regret.RegretSetup(offsets_s=(0.0, 21600.0, 43200.0), tiled=3, window_s=21600.0, span_s=64800.0,
                               prices="p3.2xlarge/spot/use2-az2: fixed in scenario")
    view = regret.regret_view(setup, windows, seed=7)
    assert view.frame["window"].tolist() == ["0-6 h", "6-12 h", "12-18 h"]
    assert view.frame["ratio"].tolist() == pytest.approx([1.2, 1.5, 0.5])
    assert view.mean_ratio == pytest.approx(1.35) and view.ratio_of_means == pytest.approx(21 / 16)
    assert view.optimum_mean_usd == pytest.approx(8.0) and (view.met, view.windows) == (2, 3)
    assert "3 of the 3 windows of 6 h" in view.note and "run_rng(7, i)" in view.note
    inf = regret.regret_frame([regret.RegretWindow(start_h=0.0, plan_usd=5.0, optimum_usd=math.inf,
                                                   deadline_met=False, makespan_h=9.0)], 6.0)
    assert math.isnan(inf["ratio"].iloc[0])


def test_the_full_plan_is_measured_against_the_sidebars_deadline(tmp_path: Path) -> None:
    """A full advisor plan replays with its own deadline policy, and its windows use the user's deadline even where
    the plan's Scenario leaves the deadline out (policy ``none``); a stated deadline is kept as it is."""
    from spotplan.advisor.api import recommend
    from spotplan.advisor.request import RecommendRequest
    from spotplan.schemas.scenario import Scenario
    from spotplan.simulator.compile import compile_scenario

    rec = recommend(RecommendRequest(model_size="125M", tokens=1_000_000_000, deadline_h=12.0, families=("p3",),
                                     traces=(str(write_trace(tmp_path)),), runs=16))
    cs = compile_scenario(Scenario.model_validate_json(with_deadline(rec.scenario.model_dump_json(), 12.0)))
    assert cs.deadline_s == 12 * 3600.0 and cs.deadline_policy == rec.scenario.deadline.policy
    assert regret.regret_setup(cs).offsets_s == tuple(i * 12 * 3600.0 for i in range(6))
    stated = _scenario(tmp_path / "us-east-2b_v100_1.csv", deadline_h=6.0).model_dump_json()
    assert with_deadline(stated, 12.0) == stated


@pytest.mark.parametrize("name", ["..", ".", "", "../..", "dir/.hidden"])
def test_an_upload_named_like_a_folder_is_one_line(name: str) -> None:
    """A trace upload whose name is no file's (it would name the temp folder or escape it): one ConfigError."""
    from spotplan.dashboard import data
    from spotplan.dashboard.inputs import Upload

    with pytest.raises(ConfigError, match="not a file name"):
        data.validate_traces((Upload(name=name, content=b"date,availability\n"),), None)


def test_a_tick_price_file_named_like_a_trace_does_not_replace_it(tmp_path: Path) -> None:
    """The price file gets a folder of its own, so the trace it prices is still the trace that loads."""
    from spotplan.dashboard import data
    from spotplan.dashboard.inputs import Upload
    from tests.dashboard.handmade_traces import TRACE_NAME, tick_prices_json, trace_csv

    trace = Upload(name=TRACE_NAME, content=trace_csv())
    data.validate_traces((trace,), Upload(name=TRACE_NAME, content=tick_prices_json()))  # loads: no error
