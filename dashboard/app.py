"""Streamlit entry of the what-if dashboard (``spotplan dashboard`` serves this file).

Layout only: the sidebar collects a ``WhatIf``; ``spotplan.dashboard.data`` asks the advisor and the simulator (cached):
a quick plan at every change (closed form + numpy fast path); the full advisor plan, the SimPy replay and the
regret on uploaded traces when the user asks; the page modules draw the results with the pure builders of
``spotplan.dashboard.charts``.
"""

from __future__ import annotations

import streamlit as st

from spotplan.dashboard import data
from spotplan.dashboard.app_pages import (
    distributions_page,
    files_page,
    plan_page,
    prices_page,
    regret_page,
    replay_page,
    sidebar_page,
)
from spotplan.dashboard.frames import PlanView
from spotplan.dashboard.inputs import Upload, WhatIf
from spotplan.errors import SpotplanError


def _plan(whatif: WhatIf, prices: Upload | None) -> PlanView:
    """The full advisor plan when asked for (button) or already made for these inputs, else the quick plan."""
    quick = data.quick_view(whatif, prices)
    head, button = st.columns([4, 1])
    full = data.current_full(whatif, prices)
    if full is None:
        head.info("Quick plan: the advisor's closed form and the numpy fast path, redrawn at every change. "
                  "The full advisor scores the whole ladder and the baselines on SimPy replays and writes the "
                  "plan files.")
        if button.button("Run the full advisor", key="full_plan", type="primary", width="stretch"):
            with st.spinner(f"Advisor: SimPy replays of the finalists and baselines ({whatif.runs} runs each) ..."):
                data.full_view(whatif, prices)
            data.remember_full(whatif, prices)
            st.rerun()  # redraw the whole page from the full plan
    if full is not None:
        head.success("Full advisor plan: finalists and baselines scored on the same SimPy replays.")
    return full or quick


def main() -> None:
    """Draw the whole page for the current inputs."""
    st.set_page_config(page_title="spotplan what-if", layout="wide")
    st.title("spotplan: what-if planner for spot GPU training")
    whatif, prices, errors = sidebar_page.render()
    for line in errors:
        st.error(line)
    if errors:
        st.caption("A rejected file is left out of the plan below (embedded prices, sidebar save bandwidth).")
    try:
        view = _plan(whatif, prices)
    except SpotplanError as exc:
        st.error(f"spotplan: error: {data.user_message(exc)}")
        return
    plan_page.render(view, whatif)
    dist_tab, replay_tab, prices_tab, files_tab = st.tabs(
        ["Distributions", "Simulated run (SimPy)", "Spot prices", "Plan files"])
    with dist_tab:
        distributions_page.render(view, whatif)
    with replay_tab:
        replay_page.render(view, whatif)
        regret_page.render(view, whatif)
    with prices_tab:
        prices_page.render(view, prices)
    with files_tab:
        files_page.render(view)


main()
