"""Regret on demand: the plan replayed on tiled windows of the uploaded traces against the offline optimum (layout only)."""

from __future__ import annotations

import streamlit as st

from spotplan.dashboard import charts, data
from spotplan.dashboard.frames import PlanView
from spotplan.dashboard.inputs import WhatIf
from spotplan.dashboard.regret import OPTIMUM_NOTE, RegretSetup, RegretView
from spotplan.errors import SpotplanError

NO_TRACES = ("Upload availability traces in the sidebar (Can't Be Late JSON, or timestamped CSVs such as "
             "SkyNomad's <zone>_v100_1.csv, with their per-tick prices if you have them) and set a deadline to "
             "replay the plan on them and see its regret against the offline optimum.")


def _run(view: PlanView, whatif: WhatIf, setup: RegretSetup) -> None:
    bar = st.progress(0.0, text=f"Regret: {len(setup.offsets_s)} windows (replay and optimum) ...")

    def progress(fraction: float, text: str) -> None:
        bar.progress(min(max(fraction, 0.0), 1.0), text=text)

    data.run_regret(*data.regret_inputs(view, whatif), progress)
    bar.empty()
    data.remember_regret(view, whatif)
    st.rerun()  # draw the measured regret from the cache


def _show(rv: RegretView) -> None:
    cols = st.columns(4)
    cols[0].metric("Mean regret (plan / optimum)", "-" if rv.mean_ratio is None else f"{rv.mean_ratio:.3f}x")
    cols[1].metric("Ratio of mean costs", "-" if rv.ratio_of_means is None else f"{rv.ratio_of_means:.3f}x")
    cols[2].metric("Mean offline optimum", "-" if rv.optimum_mean_usd is None else f"${rv.optimum_mean_usd:,.2f}")
    cols[3].metric("Windows meeting the deadline", f"{rv.met} of {rv.windows}")
    if rv.mean_ratio is None:
        st.warning(f"The plan met the deadline on none of the {rv.windows} windows: no ratio to report.")
    st.plotly_chart(charts.regret_figure(rv.frame, rv.mean_ratio), key="regret", width="stretch")
    st.caption(OPTIMUM_NOTE)
    st.caption(data.user_message(rv.note))
    table = rv.frame.rename(columns={"window": "Window", "plan_usd": "Plan (USD)", "optimum_usd": "Optimum (USD)",
                                     "ratio": "Plan / optimum", "deadline_met": "Deadline met",
                                     "makespan_h": "Makespan (h)"}).drop(columns=["start_h"])
    st.dataframe(table, hide_index=True, key="regret_table",
                 column_config={"Plan (USD)": st.column_config.NumberColumn(format="$%.2f"),
                                "Optimum (USD)": st.column_config.NumberColumn(format="$%.2f"),
                                "Plan / optimum": st.column_config.NumberColumn(format="%.3fx"),
                                "Makespan (h)": st.column_config.NumberColumn(format="%.1f")})


def render(view: PlanView, whatif: WhatIf) -> None:
    """The regret block: why it needs traces, a button that measures it (with progress), then the results."""
    st.subheader("Regret against the offline optimum")
    if not whatif.traces:
        st.info(NO_TRACES)
        return
    scenario_json, tick, _ = data.regret_inputs(view, whatif)
    try:
        setup = data.regret_setup(scenario_json, tick)
    except SpotplanError as exc:
        st.error(f"spotplan: error: {data.user_message(exc)}")
        return
    window_h = setup.window_s / 3600.0
    if st.button(f"Measure regret on {len(setup.offsets_s)} windows of {window_h:g} h", key="regret_button",
                 type="primary"):
        _run(view, whatif, setup)
    rv = data.current_regret(view, whatif)
    if rv is None:
        st.info(f"Press the button to replay the plan on {len(setup.offsets_s)} of the {setup.tiled} windows that "
                "tile the traces and solve each window's offline optimum (about 1 s per 40 h window).")
        return
    _show(rv)
