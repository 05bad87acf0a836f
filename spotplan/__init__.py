"""spotplan: plan, simulate and run ML training on spot and preemptible GPUs.

One import package. ``spotplan`` itself holds the CLI (``cli``, ``commands``), the file schemas and the error
types; ``spotplan.simulator.market`` the market data layer; ``spotplan.simulator`` the SimPy model;
``spotplan.advisor`` sizing, search and plan; ``spotplan.regress`` the cost regression gate;
``spotplan.runner`` the PyTorch runner; ``spotplan.dashboard`` the what-if dashboard. The repository keeps
them as top-level folders (``simulator/``, ``advisor/``, ``regress/``, ``runner/``, ``dashboard/``), mapped into
this namespace by ``pyproject.toml``.
"""

from __future__ import annotations

__version__ = "0.1.0"
