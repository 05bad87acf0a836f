"""Pure chart builders: one tidy DataFrame in, one Plotly figure out.

No prices, formulas or I/O live here: every number a chart shows comes from its input frame, built by
``spotplan.dashboard.frames`` from advisor and simulator results. Units follow the column names (``_usd``, ``_h``,
``_min``, ``_usd_per_h``). Each figure carries ``layout.meta = {"chart": <name>}`` so tests can find it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Fixed state colours so the same state reads the same in every run's timeline.
STATE_COLOURS: dict[str, str] = {
    "training": "#2ca02c",
    "saving": "#1f77b4",
    "lost work": "#d62728",
    "changeover": "#ff7f0e",
    "waiting": "#7f7f7f",
    "restoring": "#9467bd",
    "migration": "#bd9e39",
}
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
# Pools get colours no state uses, so a pool never reads as "training" or "lost work".
_POOL_PALETTE = ("#17becf", "#bcbd22", "#e377c2", "#8c564b", "#aec7e8", "#ffbb78", "#c5b0d5", "#c49c94", "#f7b6d2",
                 "#dbdb8d")
_MARK_COLOURS = {"Young": "#9467bd", "Daly": "#8c564b", "chosen": "#d62728"}
_LOG_TICKS = [m * 10.0**e for e in range(-2, 5) for m in (1, 2, 5)]  # 0.01 ... 50000, 1-2-5 steps
_BASE_LAYOUT: dict[str, object] = {"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 60, "b": 50}}


def _require(frame: pd.DataFrame, columns: tuple[str, ...], chart: str) -> None:
    """Fail loudly (a programming error, not user input) when a builder gets the wrong frame."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{chart}: frame lacks columns {missing}; has {list(frame.columns)}")


def _figure(chart: str, title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title={"text": title}, meta={"chart": chart}, **_BASE_LAYOUT)
    return fig


def plan_comparison_figure(frame: pd.DataFrame, *, deadline_h: float | None = None) -> go.Figure:
    """Horizontal bars of mean cost and makespan per option, with P50 and P95 markers; the plan is highlighted.

    Columns: ``option``, ``is_plan``, ``cost_mean_usd``, ``cost_p50_usd``, ``cost_p95_usd``,
    ``makespan_mean_h``, ``makespan_p50_h``, ``makespan_p95_h``. The first row is drawn at the top.
    """
    cols = ("option", "is_plan", "cost_mean_usd", "cost_p50_usd", "cost_p95_usd",
            "makespan_mean_h", "makespan_p50_h", "makespan_p95_h")
    _require(frame, cols, "plan_comparison")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Cost (USD)", "Makespan (h)"), shared_yaxes=True,
                        horizontal_spacing=0.04)
    colours = ["#d62728" if p else "#9ebcda" for p in frame["is_plan"]]
    for col, (prefix, unit) in enumerate((("cost", "usd"), ("makespan", "h")), start=1):
        fig.add_trace(go.Bar(y=frame["option"], x=frame[f"{prefix}_mean_{unit}"], orientation="h",
                             marker_color=colours, name="mean", showlegend=col == 1, legendgroup="mean"),
                      row=1, col=col)
        for q, symbol in (("p50", "line-ns-open"), ("p95", "triangle-right")):
            fig.add_trace(go.Scatter(y=frame["option"], x=frame[f"{prefix}_{q}_{unit}"], mode="markers",
                                     marker={"symbol": symbol, "size": 12, "color": "black", "line": {"width": 2}},
                                     name=q.upper(), legendgroup=q, showlegend=col == 1), row=1, col=col)
    if deadline_h is not None:
        fig.add_vline(x=deadline_h, line_dash="dash", line_color="#d62728", row=1, col=2,
                      annotation_text=f"deadline {deadline_h:g} h")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title={"text": "Recommended plan against the baselines"}, meta={"chart": "plan_comparison"},
                      legend={"orientation": "h", "y": -0.12}, **_BASE_LAYOUT)
    return fig


def interval_sweep_figure(frame: pd.DataFrame, marks_min: Mapping[str, float]) -> go.Figure:
    """Expected cost against the checkpoint interval: simulated points with CI bands, closed form, marks.

    Columns: ``interval_min``, ``cost_mean_usd``, ``cost_lo_usd``, ``cost_hi_usd``, ``closed_form_cost_usd``
    (NaN where no closed form applies) and optionally ``method`` (e.g. fastpath, simpy): one band and point
    series per method. ``marks_min`` maps a label (Young, Daly, chosen) to minutes.
    """
    _require(frame, ("interval_min", "cost_mean_usd", "cost_lo_usd", "cost_hi_usd", "closed_form_cost_usd"),
             "interval_sweep")
    f = frame.sort_values("interval_min")
    fig = _figure("interval_sweep", "Expected cost against the checkpoint interval")
    methods = f["method"] if "method" in f.columns else pd.Series("simulated", index=f.index)
    for i, (method, g) in enumerate(f.groupby(methods, sort=False)):
        _sweep_points(fig, g, str(method), _PALETTE[i % len(_PALETTE)])
    cf = f[f["closed_form_cost_usd"].notna()]
    if len(cf):
        fig.add_trace(go.Scatter(x=cf["interval_min"], y=cf["closed_form_cost_usd"], mode="lines",
                                 name="closed form (Daly)", line={"color": "black", "width": 2}))
    # Marks are line traces, not shapes: on a log axis a shape's x is taken as log10 of the value.
    y_lo = float(np.nanmin(f[["cost_lo_usd", "closed_form_cost_usd"]].to_numpy(dtype=float)))
    y_hi = float(np.nanmax(f[["cost_hi_usd", "closed_form_cost_usd"]].to_numpy(dtype=float)))
    for label, minutes in marks_min.items():
        fig.add_trace(go.Scatter(x=[minutes, minutes], y=[y_lo, y_hi], mode="lines", name=f"{label} {minutes:.1f} min",
                                 line={"color": _MARK_COLOURS.get(label, "#555"), "width": 2,
                                       "dash": "solid" if label == "chosen" else "dot"}))
    fig.update_xaxes(title="checkpoint interval (min of compute)", type="log", tickvals=_LOG_TICKS)
    fig.update_yaxes(title="expected cost (USD)")
    fig.update_layout(legend={"orientation": "h", "y": -0.22})
    return fig


def _sweep_points(fig: go.Figure, g: pd.DataFrame, method: str, colour: str) -> None:
    """Mean points of one method with their 95% CI: a shaded band when there are several, error bars always."""
    x = g["interval_min"].to_numpy(dtype=float)
    lo, hi = g["cost_lo_usd"].to_numpy(dtype=float), g["cost_hi_usd"].to_numpy(dtype=float)
    mean = g["cost_mean_usd"].to_numpy(dtype=float)
    if len(g) > 2:
        r, gr, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
        fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([hi, lo[::-1]]), fill="toself",
                                 fillcolor=f"rgba({r},{gr},{b},0.18)", line={"width": 0}, hoverinfo="skip",
                                 name=f"{method} 95% CI"))
    fig.add_trace(go.Scatter(x=x, y=mean, mode="markers", name=f"{method} mean",
                             marker={"color": colour, "size": 8 if len(g) <= 2 else 6},
                             error_y={"type": "data", "symmetric": False, "array": hi - mean,
                                      "arrayminus": mean - lo, "color": colour, "thickness": 1}))


def distribution_figure(frame: pd.DataFrame, value: str, *, kind: str = "histogram", label: str = "") -> go.Figure:
    """Histogram or ECDF of ``value`` for each ``source`` (e.g. fast path, SimPy replay) in the frame."""
    _require(frame, (value, "source"), "distribution")
    if kind not in ("histogram", "ecdf"):
        raise ValueError(f"distribution: kind must be 'histogram' or 'ecdf', got {kind!r}")
    fig = _figure(f"distribution_{value}", f"Distribution of {label or value}")
    for i, (source, group) in enumerate(frame.groupby("source", sort=False)):
        colour = _PALETTE[i % len(_PALETTE)]
        v = np.sort(group[value].to_numpy(dtype=float))
        if kind == "histogram":
            fig.add_trace(go.Histogram(x=v, name=str(source), opacity=0.6, marker_color=colour,
                                       histnorm="probability"))
        else:
            fig.add_trace(go.Scatter(x=v, y=np.arange(1, v.size + 1) / v.size, mode="lines", line_shape="hv",
                                     name=str(source), line={"color": colour}))
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title=label or value)
    fig.update_yaxes(title="fraction of runs" if kind == "histogram" else "P(X <= x)")
    return fig


def timeline_figure(segments: pd.DataFrame, interruptions: pd.DataFrame) -> go.Figure:
    """Gantt of one simulated run: a row per pool, bars coloured by state, interruptions as red crosses.

    ``segments`` columns: ``pool``, ``state``, ``start_h``, ``end_h``; ``interruptions``: ``pool``, ``time_h``.
    """
    _require(segments, ("pool", "state", "start_h", "end_h"), "timeline")
    _require(interruptions, ("pool", "time_h"), "timeline")
    fig = _figure("timeline", "One simulated run: pools and states over time")
    for i, (state, group) in enumerate(segments.groupby("state", sort=False)):
        colour = STATE_COLOURS.get(str(state), _PALETTE[i % len(_PALETTE)])
        fig.add_trace(go.Bar(y=group["pool"], x=group["end_h"] - group["start_h"], base=group["start_h"],
                             orientation="h", name=str(state), marker_color=colour,
                             hovertemplate="%{y}<br>" + str(state) + ": %{base:.2f} h + %{x:.2f} h<extra></extra>"))
    if len(interruptions):
        fig.add_trace(go.Scatter(x=interruptions["time_h"], y=interruptions["pool"], mode="markers",
                                 name="interruption", marker={"symbol": "x", "size": 11, "color": "#d62728",
                                                              "line": {"width": 1}}))
    fig.update_layout(barmode="overlay", bargap=0.3, legend={"orientation": "h", "y": -0.2})
    fig.update_xaxes(title="hours since start")
    fig.update_yaxes(title="", autorange="reversed")
    return fig


def price_history_figure(prices: pd.DataFrame, on_demand: pd.DataFrame) -> go.Figure:
    """Spot price per pool as a step line, with each instance type's on-demand price dashed for reference.

    ``prices`` columns: ``timestamp``, ``pool``, ``price_usd_per_h``; ``on_demand``: ``label``,
    ``on_demand_usd_per_h`` (may be empty).
    """
    _require(prices, ("timestamp", "pool", "price_usd_per_h"), "price_history")
    _require(on_demand, ("label", "on_demand_usd_per_h"), "price_history")
    fig = _figure("price_history", "Spot price history per pool")
    for i, (pool, group) in enumerate(prices.groupby("pool", sort=True)):
        g = group.sort_values("timestamp")
        fig.add_trace(go.Scatter(x=g["timestamp"], y=g["price_usd_per_h"], mode="lines", line_shape="hv",
                                 name=str(pool), line={"color": _PALETTE[i % len(_PALETTE)], "width": 1.5}))
    for _, row in on_demand.iterrows():
        fig.add_hline(y=float(row["on_demand_usd_per_h"]), line_dash="dash", line_color="#555",
                      annotation_text=f"on-demand {row['label']}", annotation_position="top left")
    fig.update_yaxes(title="USD per instance-hour")
    fig.update_xaxes(title="time (UTC)")
    return fig


def cost_breakdown_figure(frame: pd.DataFrame) -> go.Figure:
    """Mean cost split two ways side by side: one stacked bar per ``split`` (by activity, by pool).

    Columns: ``split``, ``part``, ``cost_usd``. Both bars stack to the same total when the splits are complete.
    """
    _require(frame, ("split", "part", "cost_usd"), "cost_breakdown")
    fig = _figure("cost_breakdown", "Mean cost per run by activity and by pool")
    pool_i = 0
    for (split, part), group in frame.groupby(["split", "part"], sort=False):
        colour = STATE_COLOURS.get(str(part))
        if colour is None:
            colour, pool_i = _POOL_PALETTE[pool_i % len(_POOL_PALETTE)], pool_i + 1
        fig.add_trace(go.Bar(x=group["split"], y=group["cost_usd"], name=str(part), marker_color=colour,
                             hovertemplate=f"{part}: $%{{y:,.0f}}<extra>{split}</extra>"))
    fig.update_layout(barmode="stack", legend={"orientation": "v"})
    fig.update_yaxes(title="mean cost per run (USD)")
    return fig


def frontier_figure(frame: pd.DataFrame, *, deadline_h: float | None = None) -> go.Figure:
    """Expected cost against makespan, one point per node count (labelled), the Pareto-optimal ones joined, the
    plan ringed; hollow markers are closed-form figures (not simulated).

    Columns: ``nodes``, ``cost_mean_usd``, ``makespan_h``, ``simulated``, ``pareto``, ``plan``.
    """
    _require(frame, ("nodes", "cost_mean_usd", "makespan_h", "simulated", "pareto", "plan"), "frontier")
    fig = _figure("frontier", "Cost and makespan across node counts")
    front = frame[frame["pareto"]].sort_values("makespan_h")
    fig.add_trace(go.Scatter(x=front["makespan_h"], y=front["cost_mean_usd"], mode="lines", name="Pareto-optimal",
                             line={"color": "#9ebcda", "dash": "dot"}))
    for simulated, name, symbol in ((True, "replayed", "circle"), (False, "closed form", "circle-open")):
        g = frame[frame["simulated"] == simulated]
        fig.add_trace(go.Scatter(x=g["makespan_h"], y=g["cost_mean_usd"], mode="markers+text", name=name,
                                 text=[f"{n} node{'s' if n > 1 else ''}" for n in g["nodes"]],
                                 textposition="top center", marker={"symbol": symbol, "size": 10, "color": "#1f77b4"}))
    plan = frame[frame["plan"]]
    fig.add_trace(go.Scatter(x=plan["makespan_h"], y=plan["cost_mean_usd"], mode="markers", name="plan",
                             marker={"symbol": "circle-open", "size": 20, "color": "#d62728", "line": {"width": 3}}))
    if deadline_h is not None:
        fig.add_vline(x=deadline_h, line_dash="dash", line_color="#d62728", annotation_text=f"deadline {deadline_h:g} h")
    fig.update_xaxes(title="makespan, h (P95 where replayed)", type="log")
    fig.update_yaxes(title="expected cost, USD", type="log")
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return fig


def regret_figure(frame: pd.DataFrame, mean_ratio: float | None) -> go.Figure:
    """Per window: the plan's cost beside the offline optimum (top) and their ratio (bottom), with 1.0 (the
    optimum) and the mean ratio marked; windows where the plan missed the deadline are grey.

    Columns: ``window``, ``plan_usd``, ``optimum_usd``, ``ratio``, ``deadline_met``. ``mean_ratio`` is the mean
    over the windows that met the deadline (None when none did).
    """
    _require(frame, ("window", "plan_usd", "optimum_usd", "ratio", "deadline_met"), "regret")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.5, 0.5],
                        subplot_titles=("Cost per window (USD)", "Plan cost / offline optimum"))
    met = frame["deadline_met"].to_numpy(dtype=bool)
    fig.add_trace(go.Bar(x=frame["window"], y=frame["plan_usd"], name="plan", offsetgroup="plan",
                         marker_color=np.where(met, "#d62728", "#bdbdbd").tolist(),
                         hovertemplate="plan: $%{y:,.2f}<extra>%{x}</extra>"), row=1, col=1)
    fig.add_trace(go.Bar(x=frame["window"], y=frame["optimum_usd"], name="offline optimum", offsetgroup="optimum",
                         marker_color="#2ca02c", hovertemplate="optimum: $%{y:,.2f}<extra>%{x}</extra>"),
                  row=1, col=1)
    fig.add_trace(go.Bar(x=frame["window"], y=frame["ratio"], name="plan / optimum", showlegend=False,
                         marker_color=np.where(met, "#1f77b4", "#bdbdbd").tolist(),
                         text=[f"{r:.2f}x" if np.isfinite(r) else "" for r in frame["ratio"]],
                         textposition="outside", offset=-0.4, width=0.8,  # one bar a window
                         hovertemplate="%{y:.3f}x<extra>%{x}</extra>"), row=2, col=1)
    label = "rgba(255,255,255,0.85)"  # readable over the bars
    fig.add_hline(y=1.0, line_color="#2ca02c", row=2, col=1, annotation_text="1.0 = optimum",
                  annotation_position="bottom right", annotation_bgcolor=label)
    if mean_ratio is not None:
        fig.add_hline(y=mean_ratio, line_dash="dash", line_color="#d62728", row=2, col=1,
                      annotation_text=f"mean {mean_ratio:.3f}x", annotation_position="top left", annotation_bgcolor=label)
    ratios = frame["ratio"].to_numpy(dtype=float)
    top = float(ratios[np.isfinite(ratios)].max(initial=1.0))
    fig.update_yaxes(title="USD", row=1, col=1)
    fig.update_yaxes(title="ratio", range=[0, max(top, mean_ratio or 1.0) * 1.15], row=2, col=1)
    fig.update_xaxes(title="window (hours into the traces)", row=2, col=1)
    fig.update_layout(title={"text": "Regret on replayed windows: plan against the offline optimum"},
                      meta={"chart": "regret"}, barmode="group", legend={"orientation": "h", "y": -0.18},
                      height=560, **_BASE_LAYOUT)
    return fig
