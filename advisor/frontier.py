"""The cost/time frontier across node counts: one point per count, the plan and the Pareto-optimal points marked.

Each point is what the advisor plans at that node count before its SimPy refinement (the closed-form ladder at
Daly's interval for its head, ``optimize.first_stage``), scored on the same replays as the plan; the plan's own
count shows the final plan. A count whose closed-form makespan is past the simulation horizon, or whose every
spot gang is hopeless and on-demand is all that is left, is still shown, from the closed form (``simulated``
False): the frontier then costs no simulation of runs that cannot finish. A point is Pareto-optimal when no
other point is at most as expensive and at most as slow (mean cost, P95 makespan), and better in one.
Costs USD, makespans hours.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class FrontierPoint:
    """One node count: its ladder head, expected cost and makespan, deadline hit rate and marks."""

    nodes: int
    head: str  # first rung, e.g. "p5.48xlarge spot" (whole ladder in ``ladder``)
    ladder: tuple[str, ...]  # rung keys, first first
    cost_mean_usd: float
    cost_p95_usd: float | None  # None from the closed form
    makespan_mean_h: float
    makespan_p95_h: float | None
    deadline_hit_rate: float | None  # None without a deadline or from the closed form
    runs: int  # replays scored (0: closed form only)
    simulated: bool
    feasible: bool  # meets the deadline (>= 95% of replays) or the P95 bound, like a plan must
    pareto: bool = False
    plan: bool = False
    note: str = ""

    @property
    def p95_or_mean_h(self) -> float:
        """P95 makespan where simulated, else the closed-form mean (the frontier's time axis)."""
        return self.makespan_p95_h if self.makespan_p95_h is not None else self.makespan_mean_h

    def to_json(self) -> dict[str, Any]:
        """The point as the ``frontier`` entry of ``recommend --json``."""
        return {"nodes": self.nodes, "head": self.head, "ladder": list(self.ladder),
                "cost_mean_usd": self.cost_mean_usd, "cost_p95_usd": self.cost_p95_usd,
                "makespan_mean_h": self.makespan_mean_h, "makespan_p95_h": self.makespan_p95_h,
                "deadline_hit_rate": self.deadline_hit_rate, "runs": self.runs, "simulated": self.simulated,
                "feasible": self.feasible, "pareto": self.pareto, "plan": self.plan, "note": self.note}


def mark_pareto(points: list[FrontierPoint]) -> list[FrontierPoint]:
    """``points`` (by node count) with ``pareto`` set: not dominated in (mean cost, P95 makespan)."""
    def dominated(p: FrontierPoint) -> bool:
        return any(q is not p and q.cost_mean_usd <= p.cost_mean_usd and q.p95_or_mean_h <= p.p95_or_mean_h
                   and (q.cost_mean_usd < p.cost_mean_usd or q.p95_or_mean_h < p.p95_or_mean_h) for q in points)

    return [replace(p, pareto=not dominated(p)) for p in sorted(points, key=lambda p: p.nodes)]


def _days(h: float) -> str:
    return f"{h / 24:,.1f} days" if h >= 48 else f"{h:,.1f} h"


def step(prev: FrontierPoint, cur: FrontierPoint) -> tuple[float, float]:
    """(hours saved at P95, relative extra cost) of going from ``prev`` to ``cur`` nodes."""
    cost = cur.cost_mean_usd / prev.cost_mean_usd - 1.0 if prev.cost_mean_usd > 0 else 0.0
    return prev.p95_or_mean_h - cur.p95_or_mean_h, cost


def doubling_line(prev: FrontierPoint, cur: FrontierPoint) -> str:
    """What going from ``prev`` to ``cur`` nodes costs and saves, e.g. "8 nodes: 2.7 days sooner for +6%"."""
    saved_h, cost = step(prev, cur)
    sign = "+" if cost >= 0 else "-"
    if saved_h >= 0:
        return f"{cur.nodes} nodes: {_days(saved_h)} sooner for {sign}{abs(cost):.0%}"
    return f"{cur.nodes} nodes: {_days(-saved_h)} later for {sign}{abs(cost):.0%}"


def doubling_lines(points: list[FrontierPoint]) -> list[str]:
    """One line per step up the node counts (P95 makespan where simulated, cost by mean)."""
    pts = sorted(points, key=lambda p: p.nodes)
    return [doubling_line(a, b) for a, b in pairwise(pts)]
