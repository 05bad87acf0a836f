"""The what-if dashboard: a Streamlit app over the advisor and the simulator.

``app.py`` is the entry script, ``app_pages/`` only lays out, ``charts.py`` holds pure DataFrame -> Plotly
figure builders, ``frames.py`` turns advisor and simulator results into DataFrames, and ``data.py`` holds the
only cached calls into ``advisor`` and ``simulator``.
"""
