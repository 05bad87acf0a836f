"""The cost regression gate (``spotplan regress``): re-run the reference scenarios and fail when a figure drifts.

It *uses* the advisor and the simulator and is used by nothing but the CLI: ``compare`` (pure baseline-vs-now
logic), ``inputs`` (fingerprints), ``engine`` (one scenario), ``suite`` (all of them, update, freshness),
``anchors`` (Daly's published intervals), ``drift``, ``changelog`` and ``report``.
"""
