"""Plan files: download buttons for the plan YAML and the SkyPilot task, and the torchrun line (layout only)."""

from __future__ import annotations

import streamlit as st

from spotplan.dashboard.frames import PlanView


def render(view: PlanView) -> None:
    """Two downloads and the command that runs the plan (the full advisor plan only)."""
    if view.plan_yaml is None or view.skypilot_yaml is None:
        st.info("Plan files come from the full advisor: press **Run the full advisor** above.")
        return
    left, right = st.columns(2)
    left.download_button("Download plan YAML", view.plan_yaml, file_name=f"plan-{view.plan_id}.yaml",
                         mime="application/x-yaml", key="download_plan", width="stretch")
    right.download_button("Download SkyPilot task", view.skypilot_yaml, file_name=f"sky-{view.plan_id}.yaml",
                          mime="application/x-yaml", key="download_skypilot", width="stretch")
    if view.torchrun:
        st.caption("Run the plan on the reference pool:")
        st.code(view.torchrun, language="bash")
    with st.expander("plan.yaml"):
        st.code(view.plan_yaml, language="yaml")
    with st.expander("SkyPilot task"):
        st.code(view.skypilot_yaml, language="yaml")
