"""Reference scenarios and their recorded baselines, read and written by ``spotplan regress``.

A reference scenario (``data/baselines/<name>.yaml``, hand-written) names one planning request, the assumptions it
stands for, and a tolerance per figure: relative for costs, times and intervals, absolute for rates. Its baseline
(``data/baselines/expected/<name>.json``, written by ``spotplan regress --update``) records the figures the advisor
produced, the request they came from and a fingerprint of every input (data files, their as-of dates, the
calibration, the code version), so a figure that moves can be blamed on the assumption that changed.

Units are in field names: ``_s`` seconds, ``_h`` hours, ``_usd`` dollars, ``_usd_per_h`` dollars per hour,
``_bytes_per_s`` bytes per second; ``_rel`` is a fraction of the baseline value, ``_abs`` an absolute difference.
"""

from __future__ import annotations

from pydantic import Field

from spotplan.schemas.base import SchemaModel, StrictModel
from spotplan.schemas.plan import MAX_NODES, TrainingMode

ScalarValue = str | float | int | bool | None


class ScenarioRequest(StrictModel):
    """The planning request a reference scenario replays: the advisor's RecommendRequest, pinned."""

    model_size: str = Field(description="Model size as the advisor reads it: 125M, 1.3B, 7B, 13B, 70B or a count.")
    mode: TrainingMode = Field(default=TrainingMode.FULL, description="full (mixed-precision AdamW) or lora.")
    tokens: int = Field(gt=0, description="Training tokens of the whole run (pinned, never the advisor default).")
    deadline_h: float | None = Field(default=None, gt=0, description="Wall-clock deadline in hours; None = none.")
    p95_bound_h: float | None = Field(default=None, gt=0, description="Optional bound on the P95 makespan, hours.")
    regions: list[str] | None = Field(default=None, description="Regions the plan may use; None = all.")
    prefer_regions: list[str] | None = Field(default=None, description="Ladder region order (earlier first).")
    families: list[str] | None = Field(default=None, description="Instance families, e.g. ['p4d']; None = all.")
    max_nodes: int | None = Field(default=None, ge=1, le=MAX_NODES, description="Most nodes of a gang; None = default.")
    mfu: float | None = Field(default=None, gt=0, le=1, description="Model FLOPs utilisation; None = default.")
    save_bandwidth_bytes_per_s: float | None = Field(
        default=None, gt=0, description="Checkpoint write bandwidth; None = the advisor's stated default."
    )
    notice_s: float | None = Field(
        default=None, ge=0, description="Interruption notice length (AWS 120 s, GCP/Azure 30 s); None = cloud default."
    )
    interval_s: float | None = Field(default=None, gt=0, description="Fixed checkpoint interval; None = optimise.")
    interruption_multiplier: float = Field(default=1.0, gt=0, description="Scales every pool's interruption rate.")
    price_multiplier: float = Field(default=1.0, gt=0, description="Scales every spot price.")
    runs: int = Field(ge=1, le=100_000, description="Monte Carlo runs (pinned modest so the suite stays fast).")
    seed: int = Field(ge=0, description="Pinned seed of the Monte Carlo.")
    prices_path: str | None = Field(
        default=None, description="Price history to replay, relative to the baselines folder; None = embedded fit."
    )
    prices_shared_path: str | None = Field(
        default=None,
        description=(
            "Price history under the public data folder ($SPOTPLAN_SHARED_DATA or ../shared/data); the scenario is "
            "skipped with a printed reason where that folder is absent."
        ),
    )
    calibration_path: str | None = Field(
        default=None, description="Calibration file, relative to the baselines folder; None = default bandwidth."
    )


class Tolerances(StrictModel):
    """How far each figure may move before it is a regression."""

    cost_usd_rel: float = Field(default=0.05, ge=0, description="Expected (mean) cost, fraction of the baseline.")
    savings_vs_on_demand_abs: float = Field(
        default=0.02, ge=0, description="Savings against on-demand (a fraction), absolute difference."
    )
    interval_s_rel: float = Field(default=0.10, ge=0, description="Chosen checkpoint interval, fraction.")
    makespan_p50_h_rel: float = Field(default=0.05, ge=0, description="P50 makespan, fraction of the baseline.")
    makespan_p95_h_rel: float = Field(default=0.05, ge=0, description="P95 makespan, fraction of the baseline.")
    deadline_hit_rate_abs: float = Field(default=0.05, ge=0, description="Deadline-hit rate, absolute difference.")


class ReferenceScenario(SchemaModel):
    """One reference scenario of the regression suite (hand-written YAML)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Matches the file name without .yaml.")
    description: str = Field(description="What the scenario stands for, in one or two sentences.")
    assumptions: dict[str, str] = Field(
        default_factory=dict, description="The named assumptions the scenario pins, in words (e.g. notice: AWS 120 s)."
    )
    historical_prices: bool = Field(
        default=False, description="The price file is an archived history replayed on purpose: no freshness warning."
    )
    request: ScenarioRequest
    tolerances: Tolerances = Field(default_factory=Tolerances)


class Figures(StrictModel):
    """The compared figures of one scenario."""

    cost_usd: float = Field(ge=0, description="Expected (mean) cost of the plan.")
    savings_vs_on_demand: float | None = Field(description="1 - cost / on-demand cost of the same job.")
    interval_s: float = Field(gt=0, description="Chosen checkpoint interval (compute seconds between saves).")
    makespan_p50_h: float = Field(ge=0, description="Median makespan.")
    makespan_p95_h: float = Field(ge=0, description="95th-percentile makespan.")
    deadline_hit_rate: float | None = Field(ge=0, le=1, description="Share of runs meeting the deadline; None = none.")


class Fingerprint(StrictModel):
    """Every input a figure depends on, as hashes, as-of dates and versions."""

    spotplan_version: str = Field(description="spotplan's package version.")
    code_sha256: str = Field(description="sha256 over the simulator/ and advisor/ sources (regression code excluded).")
    code_files: dict[str, str] = Field(description="Source file -> short sha256.")
    data_files: dict[str, str] = Field(description="Data file (catalog, fit, prices, calibration) -> short sha256.")
    data_as_of: dict[str, str] = Field(description="Data source -> as-of date.")
    calibration_sha256: str | None = Field(description="sha256 of the calibration file; None = default bandwidth.")
    environment: dict[str, str] = Field(description="Python and numerical library versions.")


class PlanSummary(StrictModel):
    """The plan behind the figures, for naming what changed."""

    ladder: list[str] = Field(description="Rungs as 'instance_type market zone-or-region xN'.")
    checkpoint_interval_steps: int = Field(ge=1)
    save_blocking_s: float = Field(ge=0)
    save_persist_s: float = Field(ge=0)
    restore_s: float = Field(ge=0)
    checkpoint_bytes: int = Field(ge=0)
    on_demand_usd_per_h: dict[str, float] = Field(
        description="Catalog on-demand price of each ladder instance type per region ('type region')."
    )


class BaselineRecord(SchemaModel):
    """The recorded baseline of one scenario (generated by ``spotplan regress --update``)."""

    scenario: str
    made_utc: str = Field(description="ISO-8601 UTC time of the update.")
    reason: str = Field(min_length=1, description="Why the baseline was (re-)recorded.")
    engine: str = Field(description="What produced the figures: advisor.recommend or simulator.monte_carlo.")
    request: ScenarioRequest = Field(description="The request as it was when the baseline was recorded.")
    figures: Figures
    figures_sha256: str = Field(description="sha256 of the figures as written: a hand edit no longer matches it.")
    fingerprint: Fingerprint
    plan: PlanSummary
    assumptions: dict[str, ScalarValue] = Field(
        description="The advisor's resolved assumptions (name -> value) behind the figures."
    )
