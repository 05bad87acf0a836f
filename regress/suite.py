"""Run the reference-scenario suite: load scenarios and baselines, evaluate, compare, update, check freshness.

Layout of a baselines folder: ``<name>.yaml`` (a ReferenceScenario, hand-written), ``expected/<name>.json`` (its
BaselineRecord, written by ``--update``) and ``CHANGELOG.md`` (one entry per update, with date and reason).
Ages are days; times are seconds.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from spotplan.errors import ConfigError, did_you_mean
from spotplan.regress import inputs
from spotplan.regress.anchors import ANCHOR_NAME, check_anchors
from spotplan.regress.compare import (
    Change,
    Evaluation,
    ScenarioOutcome,
    Status,
    compare_figures,
    diff_inputs,
    judge,
    make_record,
)
from spotplan.regress.drift import DriftReport, drift_report
from spotplan.regress.engine import ResolvedScenario, evaluate, resolve
from spotplan.schemas.baseline import BaselineRecord, ReferenceScenario
from spotplan.schemas.calibration import Calibration

EXPECTED_DIR = "expected"
CHANGELOG = "CHANGELOG.md"
DEFAULT_MAX_AGE_DAYS = 180
DEFAULT_SCENARIO_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SuiteOptions:
    """What ``spotplan regress`` was asked to do."""

    baselines_dir: Path
    only: tuple[str, ...] = ()
    update_reason: str | None = None
    calibration: Path | None = None
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    scenario_timeout_s: float = DEFAULT_SCENARIO_TIMEOUT_S


@dataclass(frozen=True, slots=True, kw_only=True)
class SuiteResult:
    """Outcomes of every selected scenario plus suite-level warnings and reports."""

    outcomes: tuple[ScenarioOutcome, ...]
    warnings: tuple[str, ...] = ()
    drift: DriftReport | None = None
    changelog_entry: str | None = None
    elapsed_s: float = 0.0
    baselines_dir: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """1 when a figure regressed or a baseline is missing, else 0 (skips are not failures)."""
        bad = {Status.FAIL, Status.NO_BASELINE}
        return 1 if any(o.status in bad for o in self.outcomes) else 0


def baseline_path(baselines_dir: Path, name: str) -> Path:
    """Where the recorded baseline of scenario ``name`` lives."""
    return baselines_dir / EXPECTED_DIR / f"{name}.json"


def load_scenarios(baselines_dir: Path, only: tuple[str, ...] = ()) -> list[ReferenceScenario]:
    """Every ``*.yaml`` scenario of the folder (sorted), restricted to ``only``; ConfigError on bad input."""
    if not baselines_dir.is_dir():
        raise ConfigError(f"--baselines {baselines_dir}: not a folder; expected one holding <name>.yaml scenarios")
    refs = [ReferenceScenario.load(p) for p in sorted(baselines_dir.glob("*.yaml"))]
    for ref, p in zip(refs, sorted(baselines_dir.glob("*.yaml")), strict=True):
        if ref.name != p.stem:
            raise ConfigError(f"{p}: field 'name' = {ref.name!r}: expected the file name '{p.stem}'")
    if not refs:
        raise ConfigError(f"--baselines {baselines_dir}: no <name>.yaml reference scenarios in it")
    names = [r.name for r in refs] + [ANCHOR_NAME]
    for wanted in only:
        if wanted not in names:
            raise ConfigError(f"--only {wanted!r}: no such scenario{did_you_mean(wanted, names)}; known: "
                              f"{', '.join(names)}")
    return [r for r in refs if not only or r.name in only]


def load_baseline(baselines_dir: Path, name: str) -> BaselineRecord | None:
    """The recorded baseline of ``name``, or None when none was recorded yet."""
    p = baseline_path(baselines_dir, name)
    if not p.exists():
        return None
    rec = BaselineRecord.load(p)
    if rec.scenario != name:
        raise ConfigError(f"{p}: field 'scenario' = {rec.scenario!r}: expected {name!r}")
    return rec


def _check(rs: ResolvedScenario, base: BaselineRecord | None, ev: Evaluation, elapsed_s: float) -> ScenarioOutcome:
    name = rs.ref.name
    if base is None:
        return ScenarioOutcome(name=name, status=Status.NO_BASELINE, elapsed_s=elapsed_s, figures=ev.figures, notes=(
            f"no recorded baseline: run spotplan regress --update --only {name} --reason TEXT",))
    rows = compare_figures(name, base.figures, ev.figures, rs.ref.tolerances)
    return judge(name, rows, diff_inputs(base, rs.ref.request, ev), ev.figures, elapsed_s)


class ScenarioTimeout(Exception):
    """A scenario ran past its time limit (a CI gate must fail, never hang)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ScenarioTimeout after ``seconds`` of wall time (main thread on POSIX only; 0 = no limit)."""
    usable = seconds > 0 and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _expire(signum: int, frame: object) -> None:
        raise ScenarioTimeout(f"did not finish within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _timed_out(name: str, exc: ScenarioTimeout, limit_s: float) -> ScenarioOutcome:
    note = (f"{exc}: the advisor/simulator never returned for this request (raise --scenario-timeout-s if it is "
            "only slow)")
    return ScenarioOutcome(name=name, status=Status.FAIL, elapsed_s=limit_s, notes=(note,))


def _freshness(rs: ResolvedScenario, ev: Evaluation, opts: SuiteOptions, today: date) -> list[str]:
    watched = {k: v for k, v in ev.fingerprint.data_as_of.items()
               if k.startswith("catalog") or ("price" in k.lower() and not rs.ref.historical_prices)}
    return [f"{rs.ref.name}: {s.describe()}"
            for s in inputs.stale_sources(watched, today=today, max_age_days=opts.max_age_days)]


def _validate(opts: SuiteOptions) -> None:
    if opts.update_reason is not None and not opts.update_reason.strip():
        raise ConfigError("--reason is empty: say why the baselines change, e.g. --reason 'June 2025 price cut'")
    if opts.scenario_timeout_s < 0:
        raise ConfigError(f"--scenario-timeout-s {opts.scenario_timeout_s:g}: expected seconds >= 0 (0 = no limit)")
    if opts.max_age_days < 0:
        raise ConfigError(f"--max-age-days {opts.max_age_days}: expected a number of days >= 0")


@dataclass(slots=True, kw_only=True)
class _Run:
    """What one suite run shares between scenarios and collects from them."""

    opts: SuiteOptions
    shared: Path | None
    today: date
    code: tuple[str, dict[str, str]]
    outcomes: list[ScenarioOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    records: list[tuple[BaselineRecord | None, BaselineRecord]] = field(default_factory=list)
    pairs: list[tuple[BaselineRecord | None, Evaluation, ResolvedScenario]] = field(default_factory=list)

    def scenario(self, ref: ReferenceScenario, on_scenario: Callable[[str], None] | None) -> None:
        """Resolve, evaluate (within the time limit), compare and, when updating, re-record one scenario."""
        opts = self.opts
        base = load_baseline(opts.baselines_dir, ref.name)
        rs = resolve(ref, baselines_dir=opts.baselines_dir, calibration_override=opts.calibration,
                     shared_dir=self.shared)
        if rs.skip_reason is not None:
            self.outcomes.append(ScenarioOutcome(name=ref.name, status=Status.SKIPPED, notes=(rs.skip_reason,)))
            return
        if on_scenario is not None:
            on_scenario(ref.name)
        try:
            with time_limit(opts.scenario_timeout_s):
                ev, elapsed_s = evaluate(rs, self.code)
        except ScenarioTimeout as exc:
            self.outcomes.append(_timed_out(ref.name, exc, opts.scenario_timeout_s))
            return
        self.warnings += _freshness(rs, ev, opts, self.today)
        self.pairs.append((base, ev, rs))
        outcome = _check(rs, base, ev, elapsed_s)
        if opts.update_reason is not None:
            self.records.append((base, make_record(
                scenario=ref.name, request=ref.request, evaluation=ev, reason=opts.update_reason,
                made_utc=inputs.utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"))))
            outcome = ScenarioOutcome(name=ref.name, status=Status.UPDATED, rows=outcome.rows,
                                      changes=outcome.changes, notes=("first baseline",) if base is None else (),
                                      elapsed_s=elapsed_s, figures=ev.figures)
        self.outcomes.append(outcome)


def run_suite(opts: SuiteOptions, *, on_scenario: Callable[[str], None] | None = None) -> SuiteResult:
    """Evaluate every selected scenario; with ``update_reason`` re-record baselines and log the change."""
    t0 = time.perf_counter()
    _validate(opts)
    refs = load_scenarios(opts.baselines_dir, opts.only)
    new_calib = Calibration.load(opts.calibration) if opts.calibration else None
    run = _Run(opts=opts, shared=inputs.shared_data_dir(), today=inputs.utc_now().date(),
               code=inputs.code_fingerprint())
    for ref in refs:
        run.scenario(ref, on_scenario)
    if not opts.only or ANCHOR_NAME in opts.only:
        run.outcomes.append(check_anchors())
    entry = _write_update(opts, run.records, run.outcomes) if opts.update_reason is not None else None
    drift = drift_report(run.pairs, new_calib, opts.calibration) if new_calib is not None else None
    counts = {s.value: sum(o.status is s for o in run.outcomes) for s in Status}
    return SuiteResult(outcomes=tuple(run.outcomes), warnings=tuple(dict.fromkeys(run.warnings)), drift=drift,
                       changelog_entry=entry, elapsed_s=time.perf_counter() - t0,
                       baselines_dir=str(opts.baselines_dir), counts=counts)


def _write_update(opts: SuiteOptions, records: list[tuple[BaselineRecord | None, BaselineRecord]],
                  outcomes: list[ScenarioOutcome]) -> str:
    from spotplan.regress.changelog import append_entry, format_entry

    (opts.baselines_dir / EXPECTED_DIR).mkdir(parents=True, exist_ok=True)
    for _, rec in records:
        rec.dump(baseline_path(opts.baselines_dir, rec.scenario))
    changes: dict[str, tuple[Change, ...]] = {o.name: o.changes for o in outcomes}
    skipped = {o.name: o.notes[0] for o in outcomes if o.status is Status.SKIPPED}
    entry = format_entry(reason=opts.update_reason or "", when=inputs.utc_now(), records=records, changes=changes,
                         skipped=skipped)
    append_entry(opts.baselines_dir / CHANGELOG, entry)
    return entry
