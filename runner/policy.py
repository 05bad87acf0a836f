"""Pure decisions of the training loop: when to checkpoint, whether an emergency save fits, exit codes.

No I/O and no clocks: callers pass ``now_s`` (epoch seconds UTC) and measured durations (seconds).
"""

from __future__ import annotations

import math
from enum import Enum, IntEnum

from spotplan.errors import ConfigError
from spotplan.schemas.plan import Plan


class ExitCode(IntEnum):
    """Process exit codes of ``spotplan run``."""

    COMPLETED = 0  # reached the plan's total steps or --max-steps; final checkpoint committed
    FAILED = 1  # crashed, or lost a peer rank without notice: a relaunch resumes from the newest checkpoint
    USER_ERROR = 2  # bad plan, option, or an unusable checkpoint directory (one line on stderr)
    PREEMPTED = 75  # interruption notice handled (EX_TEMPFAIL): state is in the newest checkpoint; relaunch


class IntervalUnit(str, Enum):
    """Which of the plan's two interval fields drives checkpointing."""

    STEPS = "steps"  # plan.checkpoint_interval_steps as is
    SECONDS = "seconds"  # plan.checkpoint_interval_s converted with the step time measured on this machine


def interval_steps(plan: Plan, unit: IntervalUnit, measured_step_s: float | None = None) -> int:
    """Checkpoint every this many steps."""
    if unit is IntervalUnit.STEPS:
        return plan.checkpoint_interval_steps
    if measured_step_s is None or not measured_step_s > 0:
        raise ConfigError("--interval-unit seconds needs a measured step time > 0 s")
    return max(1, round(plan.checkpoint_interval_s / measured_step_s))


def should_checkpoint(step: int, last_saved_step: int, every_steps: int) -> bool:
    """A periodic save is due once ``every_steps`` steps have passed since the last save (or restore)."""
    return step - last_saved_step >= every_steps


def expected_save_s(measured_blocking_s: float | None, measured_persist_s: float | None, plan: Plan) -> float:
    """Blocking + persist time of the next save: measured on this run if possible, else the plan's estimate."""
    blocking = plan.save_blocking_s if measured_blocking_s is None else measured_blocking_s
    persist = plan.save_persist_s if measured_persist_s is None else measured_persist_s
    return blocking + persist


def emergency_save_fits(*, now_s: float, deadline_s: float, expected_s: float, safety: float = 1.5) -> bool:
    """True when a save started now finishes before the notice's deadline, with a ``safety`` factor on its time."""
    if not math.isfinite(deadline_s):
        return True
    return now_s + safety * expected_s <= deadline_s
