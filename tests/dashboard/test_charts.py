"""The dashboard's chart builders are pure: the figure shows exactly the numbers of the frame it is given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spotplan.dashboard import charts


def _y(trace) -> list[float]:
    return [float(v) for v in np.asarray(trace.y, dtype=float)]


def _x(trace) -> list[float]:
    return [float(v) for v in np.asarray(trace.x, dtype=float)]


def _comparison_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "option": ["plan", "on-demand only", "spot, no fallback"],
        "is_plan": [True, False, False],
        "cost_mean_usd": [100.0, 300.0, 90.0], "cost_p50_usd": [95.0, 300.0, 85.0],
        "cost_p95_usd": [130.0, 300.0, 160.0],
        "makespan_mean_h": [12.0, 10.0, 15.0], "makespan_p50_h": [11.5, 10.0, 14.0],
        "makespan_p95_h": [14.0, 10.0, 22.0],
    })


def test_plan_comparison_shows_means_quantiles_and_deadline() -> None:
    """Bars carry the mean, markers the P50/P95, the plan is highlighted and the deadline drawn."""
    fig = charts.plan_comparison_figure(_comparison_frame(), deadline_h=20.0)
    bars = [t for t in fig.data if t.type == "bar"]
    assert _x(bars[0]) == [100.0, 300.0, 90.0] and _x(bars[1]) == [12.0, 10.0, 15.0]
    assert list(bars[0].y) == ["plan", "on-demand only", "spot, no fallback"]
    colours = list(bars[0].marker.color)
    assert colours[0] != colours[1]
    p95 = [t for t in fig.data if t.name == "P95"]
    assert _x(p95[0]) == [130.0, 300.0, 160.0] and _x(p95[1]) == [14.0, 10.0, 22.0]
    assert any(s.x0 == 20.0 for s in fig.layout.shapes)
    assert fig.layout.meta["chart"] == "plan_comparison"


def test_interval_sweep_band_curve_and_marks() -> None:
    """Each method gets its points with a CI band, the closed form is a line, and each mark a vertical line."""
    frame = pd.DataFrame({
        "interval_min": [40.0, 10.0, 20.0, 20.0],
        "cost_mean_usd": [120.0, 110.0, 100.0, 101.0], "cost_lo_usd": [115.0, 105.0, 96.0, 97.0],
        "cost_hi_usd": [125.0, 115.0, 104.0, 105.0], "closed_form_cost_usd": [119.0, 111.0, 99.0, np.nan],
        "method": ["fastpath", "fastpath", "fastpath", "simpy"],
    })
    fig = charts.interval_sweep_figure(frame, {"Young": 21.0, "Daly": 19.5, "chosen": 20.0})
    band, points, simpy, curve, young, daly, chosen = fig.data
    assert band.name == "fastpath 95% CI" and simpy.name == "simpy mean"
    assert list(points.x) == [10.0, 20.0, 40.0]  # sorted by interval
    assert _y(points) == [110.0, 100.0, 120.0]
    assert _y(band) == [115.0, 104.0, 125.0, 115.0, 96.0, 105.0]  # hi forward, lo back
    assert list(simpy.error_y.array) == [4.0] and list(simpy.error_y.arrayminus) == [4.0]
    assert _y(curve) == [111.0, 99.0, 119.0]
    assert [(t.name, list(t.x)) for t in (young, daly, chosen)] == [
        ("Young 21.0 min", [21.0, 21.0]), ("Daly 19.5 min", [19.5, 19.5]), ("chosen 20.0 min", [20.0, 20.0])]
    assert _y(chosen) == [96.0, 125.0]  # spans the band and the curve
    assert fig.layout.xaxis.type == "log" and not fig.layout.shapes


def test_interval_sweep_without_closed_form_has_no_curve() -> None:
    """Where no closed form applies (NaN column) the chart shows only the simulated points and band."""
    frame = pd.DataFrame({"interval_min": [5.0, 10.0, 20.0], "cost_mean_usd": [1.0, 2.0, 3.0],
                          "cost_lo_usd": [0.5, 1.5, 2.5], "cost_hi_usd": [1.5, 2.5, 3.5],
                          "closed_form_cost_usd": [np.nan] * 3})
    assert [t.name for t in charts.interval_sweep_figure(frame, {}).data] == ["simulated 95% CI", "simulated mean"]


@pytest.mark.parametrize("kind", ["histogram", "ecdf"])
def test_distribution_one_trace_per_source(kind: str) -> None:
    """Each source gets a trace; the ECDF rises from 1/n to 1 over the sorted values."""
    frame = pd.DataFrame({"cost_usd": [3.0, 1.0, 2.0, 5.0], "source": ["fast", "fast", "fast", "simpy"]})
    fig = charts.distribution_figure(frame, "cost_usd", kind=kind, label="cost (USD)")
    assert [t.name for t in fig.data] == ["fast", "simpy"]
    if kind == "ecdf":
        assert list(fig.data[0].x) == [1.0, 2.0, 3.0]
        assert _y(fig.data[0]) == pytest.approx([1 / 3, 2 / 3, 1.0])
    else:
        assert sorted(np.asarray(fig.data[0].x, dtype=float)) == [1.0, 2.0, 3.0]


def test_distribution_rejects_unknown_kind() -> None:
    """A kind other than histogram/ECDF is a programming error."""
    with pytest.raises(ValueError, match="kind"):
        charts.distribution_figure(pd.DataFrame({"x": [1.0], "source": ["a"]}), "x", kind="violin")


def test_timeline_bars_start_at_base_and_interruptions_marked() -> None:
    """Every state is a bar trace whose base is the segment start; interruptions are crosses on their pool."""
    segments = pd.DataFrame({
        "pool": ["p4d use1-az1", "p4d use1-az1", "p4d use1-az1", "p3 use2-az1"],
        "state": ["training", "lost work", "changeover", "training"],
        "start_h": [0.0, 2.0, 2.5, 3.0], "end_h": [2.0, 2.5, 3.0, 6.0],
    })
    interruptions = pd.DataFrame({"pool": ["p4d use1-az1"], "time_h": [2.5]})
    fig = charts.timeline_figure(segments, interruptions)
    training = next(t for t in fig.data if t.name == "training")
    assert list(training.base) == [0.0, 3.0] and list(training.x) == [2.0, 3.0]
    assert next(t for t in fig.data if t.name == "lost work").marker.color == charts.STATE_COLOURS["lost work"]
    crosses = next(t for t in fig.data if t.name == "interruption")
    assert list(crosses.x) == [2.5] and list(crosses.y) == ["p4d use1-az1"]


def test_price_history_step_lines_and_on_demand_reference() -> None:
    """One step line per pool, ordered in time, plus a dashed on-demand line per instance type."""
    ts = pd.to_datetime(["2020-01-02", "2020-01-01", "2020-01-01"], utc=True)
    prices = pd.DataFrame({"timestamp": ts, "pool": ["a", "a", "b"], "price_usd_per_h": [1.2, 1.0, 0.9]})
    fig = charts.price_history_figure(prices, pd.DataFrame({"label": ["p3.2xlarge"], "on_demand_usd_per_h": [3.06]}))
    assert [t.name for t in fig.data] == ["a", "b"]
    assert fig.data[0].line.shape == "hv" and _y(fig.data[0]) == [1.0, 1.2]
    assert [s.y0 for s in fig.layout.shapes] == [3.06]


def test_cost_breakdown_stacks_each_split() -> None:
    """One stacked bar per split; each part is a trace whose height is the frame's cost; states keep their colour."""
    frame = pd.DataFrame({"split": ["by activity", "by activity", "by pool", "by pool"],
                          "part": ["training", "saving", "p4d use1-az1", "p4d use1-az2"],
                          "cost_usd": [10.0, 1.0, 7.0, 4.0]})
    fig = charts.cost_breakdown_figure(frame)
    assert fig.layout.barmode == "stack"
    assert [(t.name, list(t.x), _y(t)) for t in fig.data] == [
        ("training", ["by activity"], [10.0]), ("saving", ["by activity"], [1.0]),
        ("p4d use1-az1", ["by pool"], [7.0]), ("p4d use1-az2", ["by pool"], [4.0])]
    assert fig.data[0].marker.color == charts.STATE_COLOURS["training"]
    assert fig.data[2].marker.color != fig.data[3].marker.color
    assert not {fig.data[2].marker.color, fig.data[3].marker.color} & set(charts.STATE_COLOURS.values())


def test_missing_column_is_reported() -> None:
    """A frame without the expected columns fails with the missing names, not a plotly error."""
    with pytest.raises(ValueError, match="cost_usd"):
        charts.cost_breakdown_figure(pd.DataFrame({"split": ["a"], "part": ["x"]}))


def test_merge_segments_joins_back_to_back_states_only() -> None:
    """Adjacent segments of the same pool and state join; a gap or another state keeps them apart."""
    from spotplan.dashboard.frames import merge_segments

    seg = pd.DataFrame({"pool": ["a", "a", "a", "a", "b"], "state": ["training", "training", "saving", "training",
                                                                      "training"],
                        "start_h": [0.0, 1.0, 2.0, 2.5, 4.0], "end_h": [1.0, 2.0, 2.5, 3.0, 5.0]})
    out = merge_segments(seg)
    assert out.to_dict("list") == {"pool": ["a", "a", "a", "b"], "state": ["training", "saving", "training", "training"],
                                   "start_h": [0.0, 2.0, 2.5, 4.0], "end_h": [2.0, 2.5, 3.0, 5.0]}


def test_breakdown_frame_names_states_and_keeps_totals() -> None:
    """The simulator's cost buckets get the issue's state names; each split keeps the summary's figures."""
    from spotplan.dashboard.frames import breakdown_frame

    summary = {"mean_cost_by_activity_usd": {"useful_compute": 8.0, "checkpoint_stall": 1.0, "lost_work": 0.5,
                                             "changeover_restore": 0.5, "waiting": 0.0},
               "mean_cost_by_pool_usd": {"p4d/spot/use1-az1": 7.0, "p4d/on-demand/us-east-1": 3.0}}
    out = breakdown_frame(summary)
    activity = out[out["split"] == "by activity"]
    assert list(activity["part"]) == ["training", "saving", "lost work", "changeover", "waiting"]
    assert activity["cost_usd"].sum() == out[out["split"] == "by pool"]["cost_usd"].sum() == 10.0


def test_example_picks_median_p95_and_most_interrupted() -> None:
    """The examples are the median-cost run, the P95-cost run and the most interrupted run."""
    from spotplan.dashboard.frames import example_picks

    per_run = pd.DataFrame({"cost_usd": [5.0, 1.0, 3.0, 9.0, 7.0], "interruptions": [0, 4, 1, 2, 3]})
    assert example_picks(per_run) == {"median-cost run": 0, "P95-cost run": 4, "most interruptions": 1}


def test_frontier_points_pareto_line_and_plan_ring() -> None:
    """One labelled point per node count (hollow where closed form), the Pareto-optimal ones joined in makespan
    order, the plan ringed, the deadline drawn."""
    frame = pd.DataFrame({"nodes": [1, 2, 4, 8], "cost_mean_usd": [100.0, 110.0, 150.0, 130.0],
                          "makespan_h": [400.0, 210.0, 120.0, 60.0], "simulated": [True, True, True, False],
                          "pareto": [True, True, False, True], "plan": [False, True, False, False]})
    fig = charts.frontier_figure(frame, deadline_h=300.0)
    traces = {t.name: t for t in fig.data}
    assert list(traces["Pareto-optimal"].x) == [60.0, 210.0, 400.0]
    assert list(traces["replayed"].text) == ["1 node", "2 nodes", "4 nodes"]
    assert list(traces["closed form"].x) == [60.0] and traces["closed form"].marker.symbol == "circle-open"
    assert list(traces["plan"].x) == [210.0] and list(traces["plan"].y) == [110.0]
    assert any(s.x0 == 300.0 for s in fig.layout.shapes)
    assert fig.layout.meta == {"chart": "frontier"}


def test_a_migration_shows_as_its_own_state(tmp_path) -> None:
    """A run that pulls its checkpoint across regions draws a 'migration' segment with its own colour."""
    from spotplan.dashboard import frames
    from tests.simulator.test_migration import _fallback_doc
    from tests.support.sim import run

    r = run(_fallback_doc(tmp_path, "us-east-1"))
    segments, _, _ = frames.timeline_frames(r)
    mig = segments[segments["state"] == "migration"]
    assert len(mig) == 1 and abs(mig["end_h"].iloc[0] - mig["start_h"].iloc[0] - 200 / 3600) < 1e-9
    assert segments["state"].notna().all()
    assert charts.STATE_COLOURS["migration"] not in charts._POOL_PALETTE


def test_regret_shows_costs_ratios_the_mean_and_one() -> None:
    """Plan and optimum bars per window, the ratio bars with their labels, lines at 1.0 and at the mean; a window
    that missed the deadline is grey."""
    frame = pd.DataFrame({"window": ["0-12 h", "12-24 h", "24-36 h"], "plan_usd": [12.0, 9.0, 4.0],
                          "optimum_usd": [10.0, 6.0, 8.0], "ratio": [1.2, 1.5, 0.5],
                          "deadline_met": [True, True, False]})
    fig = charts.regret_figure(frame, 1.35)
    traces = {t.name: t for t in fig.data}
    assert _y(traces["plan"]) == [12.0, 9.0, 4.0] and _y(traces["offline optimum"]) == [10.0, 6.0, 8.0]
    ratio = traces["plan / optimum"]
    assert _y(ratio) == [1.2, 1.5, 0.5] and list(ratio.text) == ["1.20x", "1.50x", "0.50x"]
    colours = list(ratio.marker.color)
    assert colours[0] == colours[1] != colours[2] and colours[2] == list(traces["plan"].marker.color)[2]
    lines = sorted(s.y0 for s in fig.layout.shapes if s.y0 == s.y1)
    assert lines == [1.0, 1.35]
    texts = [a.text for a in fig.layout.annotations]
    assert "mean 1.350x" in texts and "1.0 = optimum" in texts
    assert fig.layout.meta == {"chart": "regret"}
    assert not [s for s in charts.regret_figure(frame, None).layout.shapes if s.y0 == 1.35]
