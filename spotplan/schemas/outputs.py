"""The JSON documents the CLI prints (``--json``), and the registry that ``spotplan schema NAME`` publishes.

Every document starts with ``schema_version``. The recommend document nests the Plan file contract as it is;
the price, simulate and interval documents fix their top level and the fields a reader relies on, and allow the
per-pool or per-activity detail to grow. Units are in field names, as in the file contracts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from spotplan.schemas.base import StrictModel
from spotplan.schemas.baseline import BaselineRecord, ReferenceScenario
from spotplan.schemas.calibration import Calibration
from spotplan.schemas.events import RunEvent
from spotplan.schemas.plan import Assumption, Expected, Plan, Pool
from spotplan.schemas.run_report import RunReport
from spotplan.schemas.scenario import Scenario

RECOMMEND_SCHEMA_VERSION = 1
OUTPUT_SCHEMA_VERSION = 1
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class BaselineSummary(Expected):
    """One baseline of ``recommend --json``: its ladder and policy, and its expected figures on the same replays."""

    description: str
    ladder: list[Pool]
    checkpoint_interval_s: float = Field(gt=0)
    recovery_strategy: str
    compliant: bool = Field(description="Meets the deadline target and the P95 bound, as a plan must.")
    cut_runs: int = Field(ge=0, description="Runs stopped at the horizon: cost and makespan are then lower bounds.")


class NoticeFit(StrictModel):
    """Whether an emergency save fits one cloud's interruption notice."""

    cloud: str
    notice_s: float = Field(ge=0)
    expected_need_s: float = Field(ge=0)
    worst_need_s: float = Field(ge=0)
    fits: bool
    always_fits: bool


class FrontierEntry(StrictModel):
    """One node count of ``recommend``'s cost/time frontier (``spotplan.advisor.frontier``)."""

    nodes: int = Field(ge=1, description="Gang size (instances of the first rung's type).")
    head: str = Field(description="First rung: instance type and market.")
    ladder: list[str] = Field(description="Rung keys in order (instance/market/zone).")
    cost_mean_usd: float = Field(ge=0, description="Expected cost; the closed form where not simulated.")
    cost_p95_usd: float | None = Field(ge=0, description="P95 cost; null from the closed form.")
    makespan_mean_h: float = Field(ge=0, description="Expected makespan; the closed form where not simulated.")
    makespan_p95_h: float | None = Field(ge=0, description="P95 makespan; null from the closed form.")
    deadline_hit_rate: float | None = Field(ge=0, le=1, description="Share of replays meeting the deadline.")
    runs: int = Field(ge=0, description="Replays scored (0: closed form only).")
    simulated: bool = Field(description="Scored on the shared replays (false: closed form, past the horizon).")
    feasible: bool = Field(description="Meets the deadline (>= 95% of replays) or the P95 bound, as a plan must.")
    pareto: bool = Field(description="No other count is at most as expensive and at most as slow, and better in one.")
    plan: bool = Field(description="The plan's own count (its figures are the plan's).")
    note: str = Field(description="Why a count was not simulated, or that its cost is a lower bound.")


class GangOptionEntry(StrictModel):
    """The plan with one gang policy, on the plan's replays (multi-node spot plans only)."""

    policy: Literal["wait", "elastic"] = Field(description="wait for the full gang, or continue at reduced width.")
    nodes: int = Field(ge=2, description="The gang's full size.")
    min_nodes: int = Field(ge=1, description="The narrowest width it runs at (= nodes when waiting).")
    cost_mean_usd: float = Field(ge=0)
    cost_p95_usd: float = Field(ge=0)
    makespan_mean_h: float = Field(ge=0)
    makespan_p95_h: float = Field(ge=0)
    deadline_hit_rate: float | None = Field(ge=0, le=1, description="null without a deadline.")


class BreakdownEntry(StrictModel):
    """The plan's expected cost and time split by activity: the simulator's cost buckets (useful_compute,
    checkpoint_stall, lost_work, changeover_restore, waiting, migration), mean per run over the plan's replays."""

    cost_usd: dict[str, float] = Field(description="USD per bucket; the buckets sum to expected.cost_usd.mean. "
                                       "migration holds the checkpoint's egress and its billed transfer time.")
    time_h: dict[str, float] = Field(description="Hours per bucket, billed or not (waiting; provisioning, in "
                                     "changeover_restore).")
    egress_usd: float = Field(ge=0, description="The egress part of the migration cost (GB moved x USD/GB).")
    migrations: float = Field(ge=0, description="Checkpoint transfers between regions started, per run.")
    runs: int = Field(ge=1, description="Replays averaged (those of expected).")


class RecommendOutput(StrictModel):
    """``spotplan recommend --json``: the plan, its expected figures, baselines, assumptions, notice and reasons."""

    schema_version: Literal[1] = Field(description="Version of this document's layout.")
    plan: Plan
    expected: Expected = Field(description="The plan's expected figures (the same as plan.expected).")
    baselines: dict[str, BaselineSummary]
    assumptions: list[Assumption]
    notice: list[NoticeFit]
    p95_bound_h: float | None
    closed_form: dict[str, float | None] = Field(description="Daly's and Young's intervals for the first rung, s.")
    reasons: list[str]
    warnings: list[str]
    interval_sweep: list[dict[str, Any]] = Field(description="Intervals tried, with their scores (null: no value).")
    frontier: list[FrontierEntry] = Field(default_factory=list,
                                          description="Cost and makespan across the node counts searched.")
    frontier_steps: list[str] = Field(default_factory=list,
                                      description='What each step up in nodes saves and costs: "8 nodes: 2.7 days '
                                                  'sooner for +6%" (P95 makespan, mean cost).')
    gang_options: list[GangOptionEntry] = Field(default_factory=list,
                                                description="Wait for the full gang vs continue elastic (multi-node).")
    torchrun_command: str
    traces: dict[str, Any] | None = Field(
        default=None, description="recommend --traces only: every trace and price file replayed, and the plan's regret "
        "(cost / offline optimum) on tiled windows of the deadline's length.")
    breakdown: BreakdownEntry | None = Field(
        default=None, description="The plan's expected cost and time by activity (the simulator's cost buckets), on "
        "the replays of expected; migration is 0 when the job never changes region.")


class OpenDocument(BaseModel):
    """A printed document whose detail may grow: its named fields are checked, other fields are allowed."""

    model_config = ConfigDict(extra="allow", frozen=True)

    schema_version: Literal[1] = Field(description="Version of this document's layout.")


class PricesOutput(OpenDocument):
    """``spotplan prices show --json``: one summary per pool of the embedded fit or of a price history."""

    source: str
    pools: list[dict[str, Any]] = Field(description="One object per pool; prices USD/h, spans days.")


class Quantiles(BaseModel):
    """A simulated distribution: mean and quantiles, with further quantiles and intervals allowed."""

    model_config = ConfigDict(extra="allow", frozen=True)

    mean: float
    p50: float
    p95: float
    ci95: tuple[float, float] = Field(description="95% confidence interval of the mean.")


class SimulateOutput(OpenDocument):
    """``spotplan simulate --json``: cost and makespan distributions of a scenario, breakdowns and counts."""

    scenario: str
    runs: int = Field(ge=1)
    seed: int = Field(ge=0)
    cost_usd: Quantiles
    makespan_h: Quantiles


class IntervalOutput(OpenDocument):
    """``spotplan interval --json``: Young's and Daly's intervals, Daly's expected makespan, a simulated sweep."""

    young_s: float = Field(gt=0)
    daly_s: float = Field(gt=0)
    expected_makespan_h: float = Field(gt=0)


class RegressOutput(OpenDocument):
    """``spotplan regress --json``: the gate's status, its exit code and one entry per reference scenario."""

    status: Literal["ok", "regression"]
    exit_code: int = Field(ge=0)
    scenarios: list[dict[str, Any]] = Field(description="Per scenario: name, status, figures, changes, notes.")


# Name on the command line -> model. File contracts first, then the printed documents.
SCHEMAS: dict[str, type[BaseModel]] = {
    "scenario": Scenario,
    "plan": Plan,
    "calibration": Calibration,
    "run-report": RunReport,
    "run-event": RunEvent,
    "baseline": BaselineRecord,
    "reference-scenario": ReferenceScenario,
    "recommend-output": RecommendOutput,
    "prices-output": PricesOutput,
    "regress-output": RegressOutput,
    "simulate-output": SimulateOutput,
    "interval-output": IntervalOutput,
}


def json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the contract called ``name`` (a key of :data:`SCHEMAS`)."""
    model = SCHEMAS[name]
    return {"$schema": JSON_SCHEMA_DIALECT, **model.model_json_schema()}
