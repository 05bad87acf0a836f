"""spotplan: plan, simulate and run ML training on spot and preemptible GPUs.

Packages: ``spotplan`` (CLI, file schemas, errors), ``simulator`` (SimPy model, data layer),
``advisor`` (sizing, search, plan), ``runner`` (PyTorch checkpoint/resume), ``dashboard``.
"""

from __future__ import annotations

__version__ = "0.1.0"
