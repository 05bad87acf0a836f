"""The spotplan runner: a real PyTorch training loop with atomic, checksummed, asynchronous checkpoints.

Depends only on ``spotplan.schemas``/``spotplan.errors`` and torch (never simpy or streamlit). Times are seconds
(``_s``), sizes bytes (``_bytes``), absolute times POSIX epoch seconds UTC.
"""

from __future__ import annotations
