"""spotplan's simulator and data layer.

Simulation time is float seconds everywhere (``_s``); prices are USD per hour (``_usd_per_h``);
absolute times are POSIX epoch seconds in UTC. Every stochastic function takes an explicit
``numpy.random.Generator``. This package never imports torch or streamlit.
"""
