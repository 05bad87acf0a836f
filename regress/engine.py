"""Evaluate one reference scenario: build the advisor request, run it, and record figures and inputs.

Paths in a scenario are resolved here: ``prices_path``/``calibration_path`` relative to the baselines folder,
``prices_shared_path`` under the public data folder. A scenario whose public data is absent is skipped (never
failed): a fresh user machine may not have it. Figures come from ``spotplan.advisor.api.recommend`` at the scenario's pinned
runs and seed. Times are seconds (``_s``), prices USD per hour (``_usd_per_h``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spotplan.errors import ConfigError
from spotplan.regress import inputs
from spotplan.regress.compare import Evaluation
from spotplan.schemas.baseline import Figures, Fingerprint, PlanSummary, ReferenceScenario
from spotplan.schemas.calibration import Calibration
from spotplan.schemas.plan import Plan

ENGINE = "advisor.recommend"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedScenario:
    """A scenario with its files found: either runnable, or skipped with a reason."""

    ref: ReferenceScenario
    prices: Path | None = None
    calibration_file: Path | None = None
    skip_reason: str | None = None


def resolve(ref: ReferenceScenario, *, baselines_dir: Path, calibration_override: Path | None,
            shared_dir: Path | None) -> ResolvedScenario:
    """Find the scenario's price history and calibration; skip when public data is absent, error when a local
    file named by the scenario is missing (that is bad input)."""
    req = ref.request
    if req.prices_path and req.prices_shared_path:
        raise ConfigError(f"scenario {ref.name}: give request.prices_path or request.prices_shared_path, not both")
    prices: Path | None = None
    if req.prices_shared_path:
        if shared_dir is None or not (shared_dir / req.prices_shared_path).exists():
            where = shared_dir or _absent_shared()
            return ResolvedScenario(ref=ref, skip_reason=(
                f"needs the public price history '{req.prices_shared_path}' under {where}; set "
                "SPOTPLAN_SHARED_DATA to the folder holding it"))
        prices = shared_dir / req.prices_shared_path
    elif req.prices_path:
        prices = _local(baselines_dir, req.prices_path, ref.name, "request.prices_path")
    calib = calibration_override
    if calib is None and req.calibration_path:
        calib = _local(baselines_dir, req.calibration_path, ref.name, "request.calibration_path")
    return ResolvedScenario(ref=ref, prices=prices, calibration_file=calib)


def _absent_shared() -> str:
    env = os.environ.get("SPOTPLAN_SHARED_DATA")
    return f"$SPOTPLAN_SHARED_DATA={env} (not a folder)" if env else "../shared/data (absent on this machine)"


def _local(base: Path, rel: str, name: str, field: str) -> Path:
    p = (base / rel).resolve()
    if not p.exists():
        raise ConfigError(f"scenario {name}: field '{field}' = {rel!r}: {p} does not exist")
    return p


def build_request(rs: ResolvedScenario) -> Any:
    """The advisor's RecommendRequest for a resolved scenario."""
    from spotplan.advisor.request import RecommendRequest

    req = rs.ref.request
    fields = req.model_dump(exclude={"prices_path", "prices_shared_path", "calibration_path"})
    fields = {k: v for k, v in fields.items() if v is not None}
    for key in ("regions", "prefer_regions", "families"):
        if key in fields:
            fields[key] = tuple(fields[key])
    calibration = Calibration.load(rs.calibration_file) if rs.calibration_file else None
    return RecommendRequest(**fields, calibration=calibration, prices_path=rs.prices)


def evaluate(rs: ResolvedScenario, code: tuple[str, dict[str, str]] | None = None) -> tuple[Evaluation, float]:
    """Run the advisor on the scenario; return the evaluation and the wall time in seconds.

    ``code`` is the code fingerprint taken once per suite run (the modules are imported once, so a source edited
    during the run must not split the suite across two code versions)."""
    from spotplan.advisor.api import recommend

    t0 = time.perf_counter()
    rec = recommend(build_request(rs), progress=False)
    elapsed_s = time.perf_counter() - t0
    plan: Plan = rec.plan
    return Evaluation(
        figures=figures_of(plan),
        fingerprint=fingerprint(rs, plan, code or inputs.code_fingerprint()),
        plan=plan_summary(plan),
        assumptions=assumptions_of(plan),
        engine=ENGINE,
    ), elapsed_s


def figures_of(plan: Plan) -> Figures:
    """The compared figures of a plan's expectations."""
    e = plan.expected
    return Figures(
        cost_usd=e.cost_usd.mean, savings_vs_on_demand=e.savings_vs_on_demand,
        interval_s=plan.checkpoint_interval_s, makespan_p50_h=e.makespan_h.p50, makespan_p95_h=e.makespan_h.p95,
        deadline_hit_rate=e.deadline_hit_rate,
    )


def _rung(pool: Any) -> str:
    return f"{pool.instance_type} {pool.market.value} {pool.az_id or pool.zone or pool.region} x{pool.nodes}"


def ladder_prices(plan: Plan) -> dict[str, float]:
    """Catalog on-demand USD/h of every ladder instance type in its region ('type region' -> price)."""
    from spotplan.simulator.market.catalog import load_catalog

    catalog = load_catalog()
    out: dict[str, float] = {}
    for pool in plan.ladder:
        spec = catalog.instance(pool.instance_type)
        if pool.region in spec.on_demand_usd_per_h:
            out[f"{pool.instance_type} {pool.region}"] = spec.on_demand_usd_per_h[pool.region]
    return out


def plan_summary(plan: Plan) -> PlanSummary:
    """What the plan chose, for naming changes."""
    return PlanSummary(
        ladder=[_rung(p) for p in plan.ladder], checkpoint_interval_steps=plan.checkpoint_interval_steps,
        save_blocking_s=plan.save_blocking_s, save_persist_s=plan.save_persist_s, restore_s=plan.restore_s,
        checkpoint_bytes=plan.model.checkpoint_bytes, on_demand_usd_per_h=ladder_prices(plan),
    )


def assumptions_of(plan: Plan) -> dict[str, Any]:
    """The plan's assumptions as name -> value (a repeated name gets a #n suffix)."""
    out: dict[str, Any] = {}
    for a in plan.assumptions:
        key = a.name if a.name not in out else f"{a.name}#{sum(k.split('#')[0] == a.name for k in out) + 1}"
        out[key] = a.value
    return out


def data_paths(rs: ResolvedScenario) -> dict[str, Path]:
    """Named data inputs of the scenario: catalog files, the fitted behaviour, a replayed price history."""
    import spotplan.simulator.market.catalog as catalog_mod

    shared = inputs.shared_data_dir()
    paths: dict[str, Path] = {}
    cat_dir = Path(catalog_mod.CATALOG_DIR)
    for f in sorted(cat_dir.glob("*.json")):
        paths[f"catalog/{f.name}"] = f
    fitted = _fitted_path()
    if fitted is not None:
        paths[f"fitted/{fitted.name}"] = fitted
    if rs.prices is not None:
        paths[f"prices {inputs.display_path(rs.prices, shared=shared)}"] = rs.prices
    # The calibration is fingerprinted on its own (Fingerprint.calibration_sha256), not as a data file.
    return paths


def _fitted_path() -> Path | None:
    from spotplan.simulator.market.fitted import FITTED_PATH

    return Path(FITTED_PATH) if Path(FITTED_PATH).is_file() else None


def as_of_dates(rs: ResolvedScenario, plan: Plan) -> dict[str, str]:
    """As-of date per source: the plan's data dates plus the catalog date of each ladder price."""
    from spotplan.simulator.market.catalog import load_catalog

    catalog = load_catalog()
    out = {f"plan {k}": v for k, v in plan.data_as_of.items()}
    for pool in plan.ladder:
        prices = catalog.instance(pool.instance_type).prices
        if pool.region in prices:
            out[f"catalog {pool.instance_type} {pool.region}"] = prices[pool.region].as_of
    return out


def fingerprint(rs: ResolvedScenario, plan: Plan, code: tuple[str, dict[str, str]]) -> Fingerprint:
    """Hashes, as-of dates and versions of every input behind the plan."""
    code_sha, code_files = code
    return Fingerprint(
        spotplan_version=inputs.spotplan_version(), code_sha256=code_sha, code_files=code_files,
        data_files=inputs.hash_data_paths(data_paths(rs)), data_as_of=as_of_dates(rs, plan),
        calibration_sha256=inputs.sha256_file(rs.calibration_file) if rs.calibration_file else None,
        environment=inputs.environment(),
    )
