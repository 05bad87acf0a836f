"""The market data layer: price formats and loading, fetch, catalog and its builder, Spot Advisor, traces, fitting.

It reads what the clouds publish (``describe-spot-price-history`` pages, Spot Advisor files, Can't Be Late
availability and preemption traces, the instance catalog) and the fitted per-pool behaviour, and turns them into
pure series (``series``). It depends only on ``spotplan.schemas`` and ``spotplan.errors``: never on the SimPy
model (``spotplan.simulator``), the advisor, torch or streamlit.
"""
