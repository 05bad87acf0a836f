"""How much the CLI says: the global ``-q``/``-v`` of ``spotplan``, read by the commands that print summaries.

-1 quiet (the answer only: no progress, no detail), 0 normal, 1 and up verbose (``-v`` = ``recommend --explain``).
Set once per invocation by the root callback, so in-process runs (tests) start from normal each time.
"""

from __future__ import annotations

QUIET, NORMAL, VERBOSE = -1, 0, 1
_level = NORMAL


def set_level(level: int) -> None:
    """Set the level for this invocation."""
    global _level
    _level = level


def level() -> int:
    """The level of this invocation."""
    return _level
