"""Recommended plan: headline figures, plan vs baselines, cost vs checkpoint interval, the node-count frontier, the
ladder (layout only)."""

from __future__ import annotations

import streamlit as st

from spotplan.dashboard import charts
from spotplan.dashboard.frames import PlanView
from spotplan.dashboard.inputs import WhatIf


def _metrics(view: PlanView) -> None:
    h = view.headline
    # Two rows of three: six metrics side by side cut their labels ("Saving vs on-d...") at common widths.
    top, bottom = st.columns(3), st.columns(3)
    top[0].metric("Expected cost", f"${h.cost_mean_usd:,.0f}", help=f"P50 ${h.cost_p50_usd:,.0f}")
    top[1].metric("P95 cost", f"${h.cost_p95_usd:,.0f}")
    saving = "n/a" if h.saving_vs_on_demand is None else f"{h.saving_vs_on_demand:.0%}"
    hit = "" if h.deadline_hit_rate is None else f"; deadline hit rate {h.deadline_hit_rate:.0%}"
    top[2].metric("Saving vs on-demand", saving, help=f"{h.runs} runs, seed {h.seed}{hit}")
    bottom[0].metric("Expected makespan", f"{h.makespan_mean_h:,.1f} h", help=f"P50 {h.makespan_p50_h:,.1f} h")
    bottom[1].metric("P95 makespan", f"{h.makespan_p95_h:,.1f} h")
    bottom[2].metric("Checkpoint every", f"{h.interval_s / 60:,.1f} min", help=view.interval_note)


def render(view: PlanView, whatif: WhatIf) -> None:
    """The plan at a glance, then the two charts side by side, then the ladder and the reasons."""
    _metrics(view)
    ident = f"plan {view.plan_id} · " if view.plan_id else ""
    st.caption(f"{ident}{view.note}")
    for w in view.warnings:
        st.warning(w)
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.plan_comparison_figure(view.comparison, deadline_h=whatif.deadline_h),
                        key="plan_comparison", width="stretch")
    with right:
        if view.sweep.empty:  # an on-demand first rung: nothing interrupts it, so no interval trades off
            st.info("No checkpoint-interval sweep: the plan's first rung is on-demand, which no interruption "
                    "stops (the interval only bounds the work lost to a rare failure).")
        else:
            st.plotly_chart(charts.interval_sweep_figure(view.sweep, view.marks_min), key="interval_sweep",
                            width="stretch")
    if not view.frontier.empty:
        st.plotly_chart(charts.frontier_figure(view.frontier, deadline_h=whatif.deadline_h), key="frontier",
                        width="stretch")
    st.markdown("**Fallback ladder** (first rung preferred; on-demand last)")
    st.dataframe(view.ladder, hide_index=True, width="stretch")
    if view.reasons or view.assumptions is not None:
        with st.expander("Why this plan, and its assumptions"):
            for reason in view.reasons:
                st.markdown(f"- {reason}")
            if view.assumptions is not None:
                st.dataframe(view.assumptions, hide_index=True, width="stretch")
