"""Spot price history per pool with on-demand for reference (layout only)."""

from __future__ import annotations

import streamlit as st

from spotplan.dashboard import charts, data
from spotplan.dashboard.frames import PlanView
from spotplan.dashboard.inputs import Upload


def render(view: PlanView, prices: Upload | None) -> None:
    """The uploaded history's pools, or a pointer to the uploader when none is loaded."""
    if prices is None:
        st.info("The plan prices spot from the fitted spot/on-demand ratios. Upload a describe-spot-price-history "
                "JSON in the sidebar to replay real prices and see them here.")
        return
    pv = data.price_view(prices, view.instance_types)
    st.caption(f"{prices.name}: {pv.note}. Spot prices as recorded (before the what-if price multiplier).")
    for w in pv.warnings:
        st.warning(w)
    st.plotly_chart(charts.price_history_figure(pv.prices, pv.on_demand), key="price_history",
                    width="stretch")
