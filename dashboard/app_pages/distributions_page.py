"""Cost and makespan distributions: the numpy fast path at once, the SimPy replay beside it once run (layout only)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from spotplan.dashboard import charts, data
from spotplan.dashboard.frames import PlanView
from spotplan.dashboard.inputs import WhatIf


def render(view: PlanView, whatif: WhatIf) -> None:
    """Histogram or ECDF of cost and makespan over the Monte Carlo runs."""
    kind = st.radio("Show as", ("histogram", "ecdf"), horizontal=True, key="dist_kind",
                    format_func=lambda k: "ECDF" if k == "ecdf" else "histogram")
    parts = [view.fast]
    replay = data.current_replay(view, whatif)
    if replay is not None:
        parts.append(replay.per_run.assign(source="SimPy replay (whole ladder)"))
    st.caption(f"{len(view.fast)} fast-path runs of the plan's first rung alone (Daly's model)"
               + ("" if replay is None else f", and {len(replay.per_run)} SimPy replays of the whole ladder")
               + ". Run the SimPy replay in the next tab to add it here.")
    frame = pd.concat(parts, ignore_index=True)
    left, right = st.columns(2)
    left.plotly_chart(charts.distribution_figure(frame, "cost_usd", kind=kind, label="cost (USD)"),
                      key="dist_cost", width="stretch")
    right.plotly_chart(charts.distribution_figure(frame, "makespan_h", kind=kind, label="makespan (h)"),
                       key="dist_makespan", width="stretch")
