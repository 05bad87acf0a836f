"""Which rung of the ladder to try next: SkyPilot's recovery strategies as pure functions.

- ``eager-next-region`` (SkyPilot's default): after a preemption, first try rungs outside the preempted region
  in ladder order; if none has capacity, try the whole ladder (SkyPilot retries over the whole space).
- ``failover``: first try rungs in the preempted region (any zone, ladder order), then the whole ladder.
- ``fixed-order``: always the first rung with capacity, in ladder order.

On the first launch (no preemption yet) every strategy uses ladder order.
"""

from __future__ import annotations

from collections.abc import Sequence

from spotplan.schemas.scenario import RecoveryStrategy


def candidate_order(
    strategy: RecoveryStrategy, regions: Sequence[str], preempted_region: str | None,
    allowed: Sequence[int] | None = None,
) -> list[int]:
    """Rung indices to try, best first; ``allowed`` restricts the ladder (e.g. spot rungs only)."""
    idx = list(range(len(regions))) if allowed is None else list(allowed)
    if preempted_region is None or strategy is RecoveryStrategy.FIXED_ORDER:
        return idx
    if strategy is RecoveryStrategy.EAGER_NEXT_REGION:
        first = [i for i in idx if regions[i] != preempted_region]
    else:  # FAILOVER: same region first
        first = [i for i in idx if regions[i] == preempted_region]
    return first + [i for i in idx if i not in first]


def pick_rung(
    strategy: RecoveryStrategy, regions: Sequence[str], up: Sequence[bool], preempted_region: str | None,
    allowed: Sequence[int] | None = None,
) -> int | None:
    """The first rung in the strategy's order whose pool is up now, or None if none is."""
    for i in candidate_order(strategy, regions, preempted_region, allowed):
        if up[i]:
            return i
    return None
