"""The advisor's answer: the Plan plus baselines, assumptions, the interval sweep and the chosen Scenario.

``to_json`` is the ``spotplan recommend --json`` document. Costs are USD, makespans hours, intervals seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from spotplan.advisor.emit import torchrun_command
from spotplan.advisor.frontier import doubling_lines
from spotplan.advisor.savecost import NoticeCheck
from spotplan.advisor.skypilot import skypilot_yaml
from spotplan.schemas.outputs import RECOMMEND_SCHEMA_VERSION
from spotplan.schemas.plan import Assumption, Expected, Plan, Pool

if TYPE_CHECKING:
    from spotplan.advisor.breakdown import Breakdown
    from spotplan.advisor.frontier import FrontierPoint
    from spotplan.advisor.optimize import SweepPoint
    from spotplan.advisor.scan import GangOption


@dataclass(frozen=True, slots=True, kw_only=True)
class BaselineResult:
    """One baseline scored on the same replays as the plan."""

    name: str
    description: str
    ladder: list[Pool]
    checkpoint_interval_s: float
    recovery_strategy: str
    expected: Expected
    compliant: bool  # meets the deadline target and the (given or implied) P95 bound, like a plan must
    cut_runs: int = 0  # runs stopped at the simulation horizon: the cost shown is then a lower bound


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Recommendation:
    """What ``spotplan.advisor.api.recommend`` returns."""

    plan: Plan
    baseline_results: dict[str, BaselineResult]
    interval_sweep: tuple[SweepPoint, ...]
    scenario: Any  # spotplan.schemas.scenario.Scenario of the chosen plan
    reasons: list[str]
    notice_checks: list[NoticeCheck]
    gpus_per_node: int
    p95_bound_h: float | None = None  # --p95-max, or the implied bound used without a deadline
    daly_interval_s: float | None = None  # closed form for the first rung (eq. 37), for comparison
    young_interval_s: float | None = None
    warnings: list[str] = field(default_factory=list)
    timing_s: dict[str, float] = field(default_factory=dict)
    frontier: tuple[FrontierPoint, ...] = ()  # one point per node count searched (spotplan.advisor.frontier)
    gang_options: tuple[GangOption, ...] = ()  # multi-node spot plans: wait for the full gang vs continue elastic
    traces: dict[str, Any] | None = None  # recommend --traces: the files replayed and the plan's regret
    breakdown: Breakdown | None = None  # the plan's expected cost and time by activity (same runs as expected)

    @property
    def baselines(self) -> dict[str, Expected]:
        """Baseline name -> its expected figures (same replays and seed as the plan)."""
        return {k: b.expected for k, b in self.baseline_results.items()}

    @property
    def assumptions(self) -> list[Assumption]:
        """Every input of the plan with its value and source."""
        return list(self.plan.assumptions)

    @property
    def expected(self) -> Expected:
        """The plan's expected figures."""
        return self.plan.expected

    def torchrun_command(self, plan_path: str = "plan.yaml") -> str:
        """The torchrun line that starts ``spotplan run`` with this plan on the reference pool."""
        return torchrun_command(self.plan, gpus_per_node=self.gpus_per_node, plan_path=plan_path)

    def to_skypilot_yaml(self, plan_file: str = "plan.yaml") -> str:
        """SkyPilot managed-job task YAML for this plan; ``plan_file`` is the local plan it copies in."""
        return skypilot_yaml(self.plan, gpus_per_node=self.gpus_per_node, plan_file=plan_file)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document: plan, expected, baselines, assumptions, notice, reasons, sweep."""
        plan = self.plan.model_dump(mode="json")
        return {
            "schema_version": RECOMMEND_SCHEMA_VERSION,
            "plan": plan,
            "expected": plan["expected"],
            "baselines": {
                name: {
                    "description": b.description,
                    "ladder": [p.model_dump(mode="json") for p in b.ladder],
                    "checkpoint_interval_s": b.checkpoint_interval_s,
                    "recovery_strategy": b.recovery_strategy,
                    "compliant": b.compliant,
                    "cut_runs": b.cut_runs,
                    **b.expected.model_dump(mode="json"),
                }
                for name, b in self.baseline_results.items()
            },
            "assumptions": plan["assumptions"],
            "notice": [
                {"cloud": c.cloud, "notice_s": c.notice_s, "expected_need_s": round(c.expected_need_s, 3),
                 "worst_need_s": round(c.worst_need_s, 3), "fits": c.fits, "always_fits": c.always_fits}
                for c in self.notice_checks
            ],
            "p95_bound_h": self.p95_bound_h,
            "closed_form": {"daly_interval_s": self.daly_interval_s, "young_interval_s": self.young_interval_s},
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "interval_sweep": [p.row() for p in self.interval_sweep],  # no closed form (SimPy points): null
            "frontier": [p.to_json() for p in self.frontier],
            "frontier_steps": doubling_lines(list(self.frontier)),
            "gang_options": [g.to_json() for g in self.gang_options],
            "torchrun_command": self.torchrun_command(),
            "breakdown": None if self.breakdown is None else self.breakdown.to_json(),
            **({} if self.traces is None else {"traces": self.traces}),
        }
