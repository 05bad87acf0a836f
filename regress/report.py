"""Renderers of a regression result: a rich table, a JSON document and JUnit XML for CI systems.

Pure: each takes a ``SuiteResult`` and returns text, a dict, or rich renderables. Costs USD, intervals seconds,
makespans hours, rates fractions; deltas are relative (%) for relative tolerances and absolute otherwise.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from spotplan.regress.compare import FIGURES, FigureRow, ScenarioOutcome, Status, ToleranceKind
from spotplan.regress.suite import SuiteResult

MAX_LISTED = 6


def fmt_value(row: FigureRow, v: float | None) -> str:
    """A figure in its unit."""
    if v is None:
        return "n/a"
    if row.unit == "USD":
        return f"${v:,.2f}"
    if row.unit == "h":
        return f"{v:.2f} h"
    if row.unit == "min":
        return f"{v:.2f} min"
    if row.unit == "s":
        return f"{v:.0f} s ({v / 60:.1f} min)"
    return f"{v:.3f}"


def fmt_delta(row: FigureRow) -> str:
    """Relative delta for relative tolerances, absolute otherwise."""
    if row.delta is None:
        return "appeared" if row.baseline is None and row.now is not None else (
            "vanished" if row.now is None and row.baseline is not None else "-")
    if row.kind is ToleranceKind.RELATIVE:
        return f"{row.delta_rel:+.2%}" if row.delta_rel is not None else "-"
    return f"{row.delta:+.3f}"


def fmt_tolerance(row: FigureRow) -> str:
    """±5% or ±0.020."""
    return f"±{row.tolerance:.0%}" if row.kind is ToleranceKind.RELATIVE else f"±{row.tolerance:.3f}"


def failure_message(o: ScenarioOutcome) -> str:
    """One line naming the failed figures and the changed assumptions."""
    parts = [", ".join(f"{r.figure} {fmt_delta(r)} (tolerance {fmt_tolerance(r)})" for r in o.failed_rows)]
    inputs = [c.describe() for c in o.changes if not c.effect]
    effects = [c.describe() for c in o.changes if c.effect]
    parts.append("changed: " + _capped(inputs) if inputs else ("no input recorded as changed" if o.changes else ""))
    if effects:
        parts.append("plan effects: " + _capped(effects))
    parts += list(o.notes)
    return f"{o.name}: " + ("; ".join(p for p in parts if p) or o.status.value)


def _capped(items: list[str], limit: int = MAX_LISTED) -> str:
    more = f"; and {len(items) - limit} more (see --json)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


def _table(result: SuiteResult) -> Table:
    t = Table(title=f"spotplan regress: {result.baselines_dir}", show_lines=False)
    for col in ("scenario", "figure", "baseline", "now", "delta", "tolerance", "result"):
        t.add_column(col, justify="right" if col in {"baseline", "now", "delta", "tolerance"} else "left")
    for o in result.outcomes:
        if not o.rows:
            _new_rows(t, o)
            continue
        for i, r in enumerate(o.rows):
            mark = Text("ok", style="green") if r.passed else Text("FAIL", style="bold red")
            t.add_row(o.name if i == 0 else "", r.label, fmt_value(r, r.baseline), fmt_value(r, r.now),
                      fmt_delta(r), fmt_tolerance(r), mark)
    return t


def _new_rows(t: Table, o: ScenarioOutcome) -> None:
    """A scenario without comparison rows: its fresh figures (first baseline), or one status line."""
    status = Text(o.status.value.upper(), style="red" if o.status is Status.FAIL else "yellow")
    if o.figures is None:
        t.add_row(o.name, "-", "-", "-", "-", "-", status)
        return
    for i, fd in enumerate(FIGURES):
        probe = FigureRow(scenario=o.name, figure=fd.name, label=fd.label, unit=fd.unit, baseline=None, now=None,
                          delta=None, delta_rel=None, tolerance=0.0, kind=fd.kind, passed=True)
        t.add_row(o.name if i == 0 else "", fd.label, "-", fmt_value(probe, getattr(o.figures, fd.name)), "-", "-",
                  status if i == 0 else "")


def _lines(result: SuiteResult) -> list[str]:
    out: list[str] = []
    for o in result.outcomes:
        if o.status is Status.FAIL:
            out.append(f"REGRESSION {failure_message(o)}")
        elif o.status is Status.SKIPPED:
            out.append(f"skipped {o.name}: {o.notes[0]}")
        elif o.status is Status.NO_BASELINE:
            out.append(f"MISSING {o.name}: {o.notes[0]}")
        elif o.changes:
            out.append(f"note {o.name}: within tolerance, but changed: " + _capped([c.describe() for c in o.changes]))
    out += [f"warning: {w}" for w in result.warnings]
    if result.changelog_entry:
        out.append("baselines re-recorded; changelog entry:\n" + result.changelog_entry.rstrip())
    return out


def _drift_table(result: SuiteResult) -> Table | None:
    d = result.drift
    if d is None:
        return None
    t = Table(title=f"calibration drift: {d.calibration_path} (measured on {d.measured_on})")
    for col in ("scenario", "made with", "save block s", "persist s", "restore s", "interval", "cost", "P95 h"):
        t.add_column(col)
    for r in d.rows:
        ext = " (extrapolated)" if r.extrapolated else ""

        def pair(p: tuple[float, float], f: str = "{:.1f}") -> str:
            return f"{f.format(p[0])} -> {f.format(p[1])}"

        t.add_row(r.scenario, r.baseline_calibration, pair(r.save_blocking_s) + ext, pair(r.save_persist_s),
                  pair(r.restore_s), f"{pair(r.interval_s, '{:.0f}')} s ({r.interval_steps[0]} -> "
                  f"{r.interval_steps[1]} steps)", pair(r.cost_usd, "${:,.2f}"), pair(r.makespan_p95_h, "{:.2f}"))
    return t


def render(result: SuiteResult) -> RenderableType:
    """The terminal report: the figure table, the verdict lines, the drift table, a summary line."""
    parts: list[RenderableType] = [_table(result)]
    parts += [Text(line) for line in _lines(result)]
    drift = _drift_table(result)
    if drift is not None and result.drift is not None:
        fits = "; ".join(f"{k} {v}" for k, v in result.drift.fits.items())
        parts += [drift, Text(f"new calibration fits: {fits}; largest measured state "
                              f"{result.drift.max_measured_bytes / 1e9:.2f} GB")]
    verdict = "REGRESSION" if result.exit_code else "ok"
    counts = ", ".join(f"{n} {k}" for k, n in result.counts.items() if n)
    parts.append(Text(f"{verdict}: {len(result.outcomes)} scenarios ({counts}) in {result.elapsed_s:.1f} s",
                      style="bold red" if result.exit_code else "bold green"))
    return Group(*parts)


def _row_json(r: FigureRow) -> dict[str, Any]:
    d = asdict(r)
    d["kind"] = r.kind.value
    return d


def to_json(result: SuiteResult) -> dict[str, Any]:
    """The ``--json`` document (``spotplan schema regress-output``)."""
    from spotplan.schemas.outputs import OUTPUT_SCHEMA_VERSION

    return {
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "status": "regression" if result.exit_code else "ok",
        "exit_code": result.exit_code,
        "baselines_dir": result.baselines_dir,
        "elapsed_s": round(result.elapsed_s, 3),
        "counts": result.counts,
        "scenarios": [
            {"name": o.name, "status": o.status.value, "elapsed_s": round(o.elapsed_s, 3),
             "figures": [_row_json(r) for r in o.rows],
             "changes": [asdict(c) for c in o.changes], "notes": list(o.notes),
             "message": failure_message(o) if o.status is Status.FAIL else None}
            for o in result.outcomes
        ],
        "warnings": list(result.warnings),
        "calibration_drift": asdict(result.drift) if result.drift else None,
        "changelog_entry": result.changelog_entry,
    }


def to_junit(result: SuiteResult) -> str:
    """JUnit XML: one testsuite, one testcase per scenario (failure, skipped, or passed)."""
    failures = sum(o.status in {Status.FAIL, Status.NO_BASELINE} for o in result.outcomes)
    skipped = sum(o.status is Status.SKIPPED for o in result.outcomes)
    suite = ET.Element("testsuite", name="spotplan-regress", tests=str(len(result.outcomes)),
                       failures=str(failures), errors="0", skipped=str(skipped), time=f"{result.elapsed_s:.3f}")
    for o in result.outcomes:
        case = ET.SubElement(suite, "testcase", classname="spotplan.regress", name=o.name, time=f"{o.elapsed_s:.3f}")
        if o.status is Status.FAIL:
            fail = ET.SubElement(case, "failure", message=failure_message(o), type="CostRegression")
            fail.text = "\n".join(f"{r.figure}: baseline {fmt_value(r, r.baseline)}, now {fmt_value(r, r.now)}, "
                                  f"delta {fmt_delta(r)}, tolerance {fmt_tolerance(r)}" for r in o.failed_rows)
        elif o.status is Status.NO_BASELINE:
            ET.SubElement(case, "failure", message=o.notes[0], type="MissingBaseline")
        elif o.status is Status.SKIPPED:
            ET.SubElement(case, "skipped", message=o.notes[0])
        if o.rows:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"{r.figure}: {fmt_value(r, r.baseline)} -> {fmt_value(r, r.now)} ({fmt_delta(r)})"
                                 for r in o.rows)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
