"""The live status line of ``spotplan run``: what it says, and that it stays quiet off a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from spotplan.runner.progress import TrainProgress, describe


def test_status_line_names_step_loss_rate_and_next_checkpoint() -> None:
    line = describe(step=120, end=500, loss=2.31449, tokens_per_s=18_234.0, next_save_in=30, step_s=0.4)
    assert line == "step 120/500 (24%) · loss 2.314 · 18.2k tok/s · next checkpoint in 30 steps (~12 s)"
    assert describe(step=3, end=0, loss=None, tokens_per_s=None, next_save_in=None, step_s=None) == "step 3"


def test_drawn_on_a_terminal_and_silent_elsewhere() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with TrainProgress(enabled=True, tokens_per_step=1024, end=10, console=console) as bar:
        for step in range(1, 11):
            bar.update(step=step, loss=3.0 - step / 10, step_s=0.01, next_save_in=10 - step)
    assert "step 10/10 (100%)" in out.getvalue() and "102.4k tok/s" in out.getvalue()
    quiet = io.StringIO()
    with TrainProgress(enabled=False, tokens_per_step=1024, end=10, console=Console(file=quiet)) as bar:
        bar.update(step=1, loss=1.0, step_s=0.01, next_save_in=None)
    assert quiet.getvalue() == ""
