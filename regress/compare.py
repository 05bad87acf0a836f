"""Pure comparison logic of the cost regression: baseline vs now, per figure, and what changed.

``compare_figures`` turns a recorded baseline and the figures of this run into rows (baseline, now, delta,
tolerance, pass/fail): relative tolerances for costs, makespans and the interval, absolute ones for rates.
``diff_inputs`` lists every recorded assumption that differs between the baseline and now (the scenario request,
data-file hashes and as-of dates, the calibration, the code version, the plan's save times and on-demand prices,
the advisor's resolved assumptions), so a failing figure names its cause. No I/O here.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from spotplan.schemas.baseline import (
    BaselineRecord,
    Figures,
    Fingerprint,
    PlanSummary,
    ScenarioRequest,
    Tolerances,
)


class ToleranceKind(str, Enum):
    """How a tolerance reads: a fraction of the baseline value, or an absolute difference."""

    RELATIVE = "relative"
    ABSOLUTE = "absolute"


class Status(str, Enum):
    """Outcome of one scenario."""

    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"
    NO_BASELINE = "no-baseline"
    UPDATED = "updated"


@dataclass(frozen=True, slots=True, kw_only=True)
class FigureDef:
    """One compared figure: its field in ``Figures``, label, unit and tolerance field in ``Tolerances``."""

    name: str
    label: str
    unit: str
    kind: ToleranceKind
    tolerance_field: str


FIGURES: tuple[FigureDef, ...] = (
    FigureDef(name="cost_usd", label="expected cost", unit="USD", kind=ToleranceKind.RELATIVE,
              tolerance_field="cost_usd_rel"),
    FigureDef(name="savings_vs_on_demand", label="savings vs on-demand", unit="fraction",
              kind=ToleranceKind.ABSOLUTE, tolerance_field="savings_vs_on_demand_abs"),
    FigureDef(name="interval_s", label="checkpoint interval", unit="s", kind=ToleranceKind.RELATIVE,
              tolerance_field="interval_s_rel"),
    FigureDef(name="makespan_p50_h", label="makespan P50", unit="h", kind=ToleranceKind.RELATIVE,
              tolerance_field="makespan_p50_h_rel"),
    FigureDef(name="makespan_p95_h", label="makespan P95", unit="h", kind=ToleranceKind.RELATIVE,
              tolerance_field="makespan_p95_h_rel"),
    FigureDef(name="deadline_hit_rate", label="deadline-hit rate", unit="fraction", kind=ToleranceKind.ABSOLUTE,
              tolerance_field="deadline_hit_rate_abs"),
)

# Float noise from a different BLAS or summation order must never fail a figure that did not move.
_EPS = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class FigureRow:
    """One line of the regression table."""

    scenario: str
    figure: str
    label: str
    unit: str
    baseline: float | None
    now: float | None
    delta: float | None
    delta_rel: float | None
    tolerance: float
    kind: ToleranceKind
    passed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """One assumption that differs between the baseline and now."""

    category: str  # request, baseline, data, as-of, calibration, code, environment, plan, assumption
    name: str
    before: str
    after: str
    effect: bool = False  # True: a consequence (the plan moved), not an input that changed

    @property
    def role(self) -> str:
        """``input`` for a changed assumption, ``effect`` for a change in what the plan chose."""
        return "effect" if self.effect else "input"

    def describe(self) -> str:
        """One human line, e.g. "data file data/catalog/x.csv: 1a2b -> 3c4d"."""
        return f"{self.category} {self.name}: {self.before} -> {self.after}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioOutcome:
    """Everything the renderers need about one scenario."""

    name: str
    status: Status
    rows: tuple[FigureRow, ...] = ()
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()
    elapsed_s: float = 0.0
    figures: Figures | None = None

    @property
    def failed_rows(self) -> tuple[FigureRow, ...]:
        """Rows beyond their tolerance."""
        return tuple(r for r in self.rows if not r.passed)


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    """What one run of a scenario produced: figures plus everything recorded about its inputs."""

    figures: Figures
    fingerprint: Fingerprint
    plan: PlanSummary
    assumptions: dict[str, Any] = field(default_factory=dict)
    engine: str = "advisor.recommend"


def figures_sha256(figures: Figures) -> str:
    """sha256 of the canonical JSON of the figures (detects hand edits of a recorded baseline)."""
    text = json.dumps(figures.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _row(scenario: str, fd: FigureDef, base: float | None, now: float | None, tol: float) -> FigureRow:
    if base is None or now is None:
        # A figure that appears or disappears (e.g. a deadline added) is a change of kind, never within tolerance.
        passed = base is None and now is None
        return FigureRow(scenario=scenario, figure=fd.name, label=fd.label, unit=fd.unit, baseline=base, now=now,
                         delta=None, delta_rel=None, tolerance=tol, kind=fd.kind, passed=passed)
    delta = now - base
    delta_rel = delta / abs(base) if base != 0 else (0.0 if delta == 0 else math.inf)
    limit = tol * abs(base) if fd.kind is ToleranceKind.RELATIVE else tol
    passed = math.isfinite(now) and abs(delta) <= limit + _EPS * max(1.0, abs(base))
    return FigureRow(scenario=scenario, figure=fd.name, label=fd.label, unit=fd.unit, baseline=base, now=now,
                     delta=delta, delta_rel=delta_rel, tolerance=tol, kind=fd.kind, passed=passed)


def compare_figures(scenario: str, baseline: Figures, now: Figures, tolerances: Tolerances) -> tuple[FigureRow, ...]:
    """Rows of baseline vs now for every figure, each judged by its own tolerance."""
    return tuple(
        _row(scenario, fd, getattr(baseline, fd.name), getattr(now, fd.name), getattr(tolerances, fd.tolerance_field))
        for fd in FIGURES
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _diff_maps(category: str, before: dict[str, Any], after: dict[str, Any], *, prefix: str = "") -> list[Change]:
    out: list[Change] = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key, "<absent>"), after.get(key, "<absent>")
        if b != a:
            out.append(Change(category=category, name=f"{prefix}{key}", before=_fmt(b), after=_fmt(a)))
    return out


def _diff_request(old: ScenarioRequest, new: ScenarioRequest) -> list[Change]:
    return _diff_maps("scenario input", old.model_dump(mode="json"), new.model_dump(mode="json"), prefix="request.")


def _diff_code(old: Fingerprint, new: Fingerprint, *, max_files: int = 8) -> list[Change]:
    out: list[Change] = []
    if old.spotplan_version != new.spotplan_version:
        out.append(Change(category="code version", name="spotplan", before=old.spotplan_version,
                          after=new.spotplan_version))
    if old.code_sha256 != new.code_sha256:
        files = _diff_maps("code file", old.code_files, new.code_files)
        shown = ", ".join(c.name for c in files[:max_files]) + (" ..." if len(files) > max_files else "")
        out.append(Change(category="code version", name=f"simulator/+advisor/ sources ({shown or 'renamed'})",
                          before=old.code_sha256[:12], after=new.code_sha256[:12]))
    return out


def _diff_as_of(old: dict[str, str], new: dict[str, str]) -> list[Change]:
    # A source present on both sides with a new date is a data change; one that appears or disappears only
    # follows a ladder that now uses other pools, so it is an effect.
    out = []
    for c in _diff_maps("data as-of", old, new):
        moved = "<absent>" in (c.before, c.after)
        out.append(Change(category="ladder data" if moved else c.category, name=c.name, before=c.before,
                          after=c.after, effect=moved))
    return out


_EFFECT_ORDER = {"plan": 0, "catalog on-demand price": 1, "ladder data": 2, "assumption": 3}


def _effects(changes: list[Change]) -> list[Change]:
    return [Change(category=c.category, name=c.name, before=c.before, after=c.after, effect=True) for c in changes]


def _short_sha(sha: str | None) -> str:
    return sha[:16] if sha else "none (default bandwidth)"


def _diff_fingerprint(old: Fingerprint, new: Fingerprint) -> list[Change]:
    out = _diff_maps("data file", old.data_files, new.data_files)
    out += _diff_as_of(old.data_as_of, new.data_as_of)
    if old.calibration_sha256 != new.calibration_sha256:
        out.append(Change(category="calibration", name="calibration file sha256",
                          before=_short_sha(old.calibration_sha256), after=_short_sha(new.calibration_sha256)))
    out += _diff_code(old, new)
    out += _diff_maps("environment", old.environment, new.environment)
    return out


def _diff_plan(old: PlanSummary, new: PlanSummary) -> list[Change]:
    o, n = old.model_dump(mode="json"), new.model_dump(mode="json")
    before_p, after_p = o.pop("on_demand_usd_per_h"), n.pop("on_demand_usd_per_h")
    # The same pool at a new on-demand price is a catalog change (an input); a pool that (dis)appears is an effect.
    prices = [c if "<absent>" not in (c.before, c.after) else _effects([c])[0]
              for c in _diff_maps("catalog on-demand price", before_p, after_p)]
    return prices + _effects(_diff_maps("plan", o, n))


def diff_inputs(baseline: BaselineRecord, request: ScenarioRequest, now: Evaluation) -> tuple[Change, ...]:
    """Every recorded assumption that differs, causes first (inputs), then their effects (plan, assumptions)."""
    changes: list[Change] = []
    if figures_sha256(baseline.figures) != baseline.figures_sha256:
        changes.append(Change(category="baseline", name="figures edited by hand",
                              before=f"recorded sha256 {baseline.figures_sha256[:12]}",
                              after=f"file now hashes to {figures_sha256(baseline.figures)[:12]}"))
    changes += _diff_request(baseline.request, request)
    changes += _diff_fingerprint(baseline.fingerprint, now.fingerprint)
    if baseline.engine != now.engine:
        changes.append(Change(category="engine", name="figures produced by", before=baseline.engine,
                              after=now.engine))
    changes += _diff_plan(baseline.plan, now.plan)
    changes += _effects(_diff_maps("assumption", baseline.assumptions, now.assumptions))
    # Inputs first (what to blame), then effects (how the plan moved: plan, prices, data dates, assumptions).
    return tuple(sorted(changes, key=lambda c: (c.effect, _EFFECT_ORDER.get(c.category, 9) if c.effect else 0)))


def judge(name: str, rows: tuple[FigureRow, ...], changes: tuple[Change, ...], figures: Figures,
          elapsed_s: float, notes: tuple[str, ...] = ()) -> ScenarioOutcome:
    """The outcome of one compared scenario; a failure with no recorded cause says so."""
    status = Status.PASS if all(r.passed for r in rows) else Status.FAIL
    extra: tuple[str, ...] = ()
    if status is Status.FAIL and not changes:
        extra = ("no recorded assumption changed: an unrecorded input or a nondeterministic result moved the figures",)
    return ScenarioOutcome(name=name, status=status, rows=rows, changes=changes, notes=notes + extra,
                           elapsed_s=elapsed_s, figures=figures)


def make_record(*, scenario: str, request: ScenarioRequest, evaluation: Evaluation, reason: str,
                made_utc: str) -> BaselineRecord:
    """A new baseline for ``scenario`` from this run's evaluation."""
    return BaselineRecord(
        scenario=scenario, made_utc=made_utc, reason=reason, engine=evaluation.engine, request=request,
        figures=evaluation.figures, figures_sha256=figures_sha256(evaluation.figures),
        fingerprint=evaluation.fingerprint, plan=evaluation.plan,
        assumptions={k: _scalar(v) for k, v in sorted(evaluation.assumptions.items())},
    )


def _scalar(value: Any) -> str | float | int | bool | None:
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return _fmt(value)
