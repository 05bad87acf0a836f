"""SimPy replay on demand: a run's timeline (pools x states, interruptions) and the cost breakdown (layout only)."""

from __future__ import annotations

import streamlit as st

from spotplan.dashboard import charts, data
from spotplan.dashboard.frames import PlanView, ReplayView
from spotplan.dashboard.inputs import WhatIf


def _run_replay(view: PlanView, whatif: WhatIf) -> None:
    bar = st.progress(0.0, text=f"Replaying {whatif.runs} runs in SimPy ...")

    def progress(fraction: float, text: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=text)

    data.run_replay(view.scenario_json, whatif.runs, whatif.seed, progress)
    bar.empty()
    data.remember_replay(view, whatif)
    st.rerun()  # redraw every tab (the distributions add the replay)


def _show(replay: ReplayView) -> None:
    cols = st.columns(4)
    cols[0].metric("Mean cost (SimPy)", f"${replay.summary['cost_mean_usd']:,.0f}")
    cols[1].metric("P95 cost (SimPy)", f"${replay.summary['cost_p95_usd']:,.0f}")
    cols[2].metric("Mean makespan (SimPy)", f"{replay.summary['makespan_mean_h']:,.1f} h")
    cols[3].metric("Interruptions per run", f"{replay.summary['interruptions_mean']:.1f}")
    which = st.radio("Run to show", list(replay.examples), horizontal=True, key="replay_run")
    example = replay.examples[which]
    st.caption(example.caption)
    st.plotly_chart(charts.timeline_figure(example.segments, example.interruptions), key="timeline",
                    width="stretch")
    st.plotly_chart(charts.cost_breakdown_figure(replay.breakdown), key="cost_breakdown", width="stretch")
    st.caption("Cost breakdown: mean over all replayed runs; both bars sum to the mean cost.")


def render(view: PlanView, whatif: WhatIf) -> None:
    """A button that runs the full discrete-event simulation of the plan, then its results."""
    st.caption("The full simulator replays the whole ladder (traces or fitted up/down times, notices, changeovers, "
               "deadline policy). It takes longer than the fast path, so it runs when you ask.")
    if st.button(f"Replay {whatif.runs} runs in SimPy", key="replay_button", type="primary"):
        _run_replay(view, whatif)
    replay = data.current_replay(view, whatif)
    if replay is None:
        st.info("Press the button to replay this plan.")
        return
    _show(replay)
