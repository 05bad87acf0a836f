"""What a person watching ``spotplan run`` sees: one live line on rank 0 (step, loss, tokens/s, next checkpoint).

Drawn with rich on stderr, only when stderr is a terminal: under a scheduler, in CI or with output redirected
the run stays quiet and everything is in the run log and the report. ``describe`` is pure (tested as text).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.live import Live
from rich.text import Text


def describe(*, step: int, end: int, loss: float | None, tokens_per_s: float | None, next_save_in: int | None,
             step_s: float | None) -> str:
    """``step 120/500 (24%) · loss 2.314 · 18.2k tok/s · next checkpoint in 30 steps (~12 s)``."""
    parts = [f"step {step:,}/{end:,} ({100 * step / end:.0f}%)" if end else f"step {step:,}"]
    if loss is not None:
        parts.append(f"loss {loss:.3f}")
    if tokens_per_s is not None:
        parts.append(f"{tokens_per_s / 1e3:,.1f}k tok/s" if tokens_per_s >= 1e3 else f"{tokens_per_s:.0f} tok/s")
    if next_save_in is not None:
        eta = f" (~{next_save_in * step_s:,.0f} s)" if step_s else ""
        parts.append(f"next checkpoint in {next_save_in:,} steps{eta}")
    return " · ".join(parts)


class TrainProgress:
    """A live status line, refreshed at most 4 times a second; a no-op unless ``enabled``."""

    def __init__(self, *, enabled: bool, tokens_per_step: int, end: int, console: Console | None = None) -> None:
        self.enabled = enabled
        self.tokens_per_step = tokens_per_step
        self.end = end
        self._console = console or Console(stderr=True)
        self._live: Live | None = None
        self._last_draw = 0.0

    @classmethod
    def for_terminal(cls, *, is_main: bool, tokens_per_step: int, end: int) -> TrainProgress:
        return cls(enabled=is_main and sys.stderr.isatty(), tokens_per_step=tokens_per_step, end=end)

    def __enter__(self) -> Self:
        if self.enabled:
            self._live = Live(Text(""), console=self._console, refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def update(self, *, step: int, loss: float, step_s: float, next_save_in: int | None) -> None:
        if self._live is None:
            return
        now = time.monotonic()
        if now - self._last_draw < 0.25 and step != self.end:
            return
        self._last_draw = now
        rate = self.tokens_per_step / step_s if step_s > 0 else None
        self._live.update(Text(describe(step=step, end=self.end, loss=loss, tokens_per_s=rate,
                                        next_save_in=next_save_in, step_s=step_s)))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None
