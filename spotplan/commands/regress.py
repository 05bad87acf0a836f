"""``spotplan regress``: re-run the reference scenarios and fail when expected costs drift.

Exit codes: 0 every figure within tolerance (skipped scenarios are not failures), 1 a regression or a missing
baseline, 2 bad input. ``--update --reason TEXT`` re-records the baselines and appends a dated changelog entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add the ``regress`` command to the CLI."""
    app.command("regress")(regress)


def regress(
    baselines: Annotated[
        Path | None, typer.Option("--baselines", help="Folder of <name>.yaml reference scenarios [data/baselines].")
    ] = None,
    only: Annotated[list[str] | None, typer.Option("--only", help="Run only this scenario (repeatable).")] = None,
    update: Annotated[bool, typer.Option("--update", help="Re-record the baselines (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the baselines change (changelog).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML to this file.")] = None,
    calibration: Annotated[
        Path | None, typer.Option("--calibration", help="Re-plan with this calibration and report the drift.")
    ] = None,
    max_age_days: Annotated[
        int, typer.Option("--max-age-days", help="Warn when catalog or price data is older than this.")
    ] = 180,
    scenario_timeout_s: Annotated[
        float, typer.Option("--scenario-timeout-s", help="Fail a scenario that runs longer than this (0 = no limit).")
    ] = 120.0,
) -> None:
    """Re-run every reference scenario at its pinned seed and compare with its recorded baseline."""
    from rich.console import Console

    from spotplan.errors import ConfigError
    from spotplan.regress.report import render, to_json, to_junit
    from spotplan.regress.suite import SuiteOptions, run_suite

    if update and not reason:
        raise ConfigError("--update needs --reason TEXT: the changelog records why the baselines moved")
    if reason is not None and not update:
        raise ConfigError("--reason only goes with --update")
    if junit is not None:
        from spotplan.outputs import output_file

        output_file(junit, "--junit")
    from spotplan.paths import data_dir

    opts = SuiteOptions(baselines_dir=baselines or data_dir() / "baselines", only=tuple(only or ()), update_reason=reason if update else None,
                        calibration=calibration, max_age_days=max_age_days,
                        scenario_timeout_s=scenario_timeout_s)
    err = Console(stderr=True)
    with err.status("spotplan regress") as status:
        result = run_suite(opts, on_scenario=lambda name: status.update(f"spotplan regress: {name}"))
    if junit is not None:
        junit.write_text(to_junit(result), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(to_json(result), indent=2))
    else:
        Console(width=160).print(render(result))
    raise typer.Exit(code=result.exit_code)
