"""``spotplan simulate`` (Monte Carlo of a Scenario file) and ``spotplan interval`` (checkpoint-interval calculator).

Heavy imports (simpy, numpy, pandas) stay inside the command functions so ``spotplan --help`` stays fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from spotplan.errors import ConfigError


def _fmt(d: dict[str, Any], unit: str, digits: int) -> list[str]:
    f = f"{{:,.{digits}f}}"
    return [f.format(d["mean"]), f"[{f.format(d['ci95'][0])}, {f.format(d['ci95'][1])}]", f.format(d["p50"]),
            f.format(d["p90"]), f.format(d["p95"]), f.format(d["p99"]), unit]


def _print_summary(s: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    t = Table(title=f"{s['scenario']}: {s['runs']} runs, seed {s['seed']}")
    for col in ("", "mean", "95% CI of mean", "P50", "P90", "P95", "P99", "unit"):
        t.add_column(col, justify="right" if col not in ("", "unit") else "left")
    t.add_row("cost", *_fmt(s["cost_usd"], "USD", 2))
    t.add_row("makespan", *_fmt(s["makespan_h"], "h", 2))
    con.print(t)
    b = Table(title="mean cost and time by activity")
    b.add_column("activity")
    b.add_column("USD", justify="right")
    b.add_column("h", justify="right")
    for k, v in s["mean_cost_by_activity_usd"].items():
        b.add_row(k, f"{v:,.2f}", f"{s['mean_time_by_activity_h'][k]:,.2f}")
    con.print(b)
    p = Table(title="mean cost by pool")
    p.add_column("pool")
    p.add_column("USD", justify="right")
    for k, v in s["mean_cost_by_pool_usd"].items():
        p.add_row(k, f"{v:,.2f}")
    con.print(p)
    c = s["mean_counts"]
    con.print(
        f"interval {s['interval_s']:,.0f} s ({s['interval_source']}); per run: {c['interruptions']:.2f} "
        f"interruptions, {c['checkpoints']:.1f} checkpoints, {c['emergency_saves']:.2f} emergency saves "
        f"({c['emergency_save_failures']:.2f} failed), {c['restarts']:.2f} restarts; lost work "
        f"{s['mean_lost_work_h']:.2f} h; finished {s['finished_rate']:.1%}"
        + ("" if s["deadline_hit_rate"] is None else f"; deadline met {s['deadline_hit_rate']:.1%}")
        + f"; end of history: {s['replay_end_policy']}"
    )
    if "windows_h" in s:
        w = s["windows_h"]
        con.print(f"windows: {len(w)} replay start(s) at {', '.join(f'{x:g}' for x in w[:8])}"
                  + (" ..." if len(w) > 8 else "") + " h into the traces")
    rg = s.get("regret")
    if rg:
        from spotplan.simulator.windows import regret_line

        con.print(regret_line(rg))


def _write_timeline(mc: Any, path: Path) -> None:
    import pandas as pd

    frames = []
    for i, r in enumerate(mc.results):
        if r.timeline:
            f = r.timeline_frame()
            f.insert(0, "run", i)
            frames.append(f)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if path.suffix == ".json":
        path.write_text(df.to_json(orient="records", indent=1) + "\n", encoding="utf-8")
    else:
        df.to_csv(path, index=False)


def _interval_report(save_s: float, mtbf_h: float, restart_s: float, work_h: float, simulate: bool, runs: int,
                     seed: int) -> dict[str, Any]:
    import numpy as np

    from spotplan.simulator.fastpath import sweep_intervals
    from spotplan.simulator.theory import daly_expected_wall_s, daly_interval_s, young_interval_s
    from spotplan.stats import Z95

    m_s, work_s = mtbf_h * 3600.0, work_h * 3600.0
    daly = daly_interval_s(save_s, m_s)
    out: dict[str, Any] = {
        "save_s": save_s, "mtbf_h": mtbf_h, "restart_s": restart_s, "work_h": work_h,
        "young_s": young_interval_s(save_s, m_s), "daly_s": daly,
        "expected_makespan_h": daly_expected_wall_s(work_s, daly, save_s, restart_s, m_s) / 3600.0,
    }
    bad = [k for k in ("young_s", "daly_s", "expected_makespan_h") if not (math.isfinite(out[k]) and out[k] > 0)]
    if bad:
        raise ConfigError(f"--save-s {save_s:g} with --mtbf-h {mtbf_h:g}: {bad[0]} = {out[bad[0]]:g}, not a finite "
                          "positive number; expected a save time and an MTBF within a few orders of magnitude")
    if simulate:
        if runs < 2:
            raise ConfigError(f"--runs={runs}: expected at least 2 for a simulated sweep")
        grid = np.unique(np.concatenate([np.geomspace(daly / 4, daly * 4, 33), [daly]]))
        means, sems = sweep_intervals(work_s, grid, save_s, restart_s, m_s, runs, np.random.default_rng(seed))
        k = int(np.argmin(means))
        j = int(np.flatnonzero(grid == daly)[0])
        out.update({
            "simulated_best_s": float(grid[k]), "simulated_makespan_h": float(means[k] / 3600.0),
            "simulated_makespan_ci95_h": [float((means[k] - Z95 * sems[k]) / 3600),
                                          float((means[k] + Z95 * sems[k]) / 3600)],
            "simulated_makespan_at_daly_h": float(means[j] / 3600.0),
            "simulated_runs_per_interval": runs, "simulated_intervals": len(grid), "seed": seed,
            "simulator": "numpy fast path (exponential, one pool; spotplan.simulator.fastpath)",
        })
    return out


MAX_RUNS = 10_000_000
DEFAULT_RUNS = 1000


def _hours_s(text: str, flag: str) -> float:
    """A duration of 0 or more (``0``, ``0h``, ``120h``, ``5d``) in seconds."""
    from spotplan.advisor.request import parse_duration_h

    t = text.strip().lower().rstrip("hdms")
    try:
        if float(t) == 0:
            return 0.0
    except ValueError:
        pass
    return parse_duration_h(text, flag) * 3600.0


def _replays_traces(cs: Any) -> bool:
    """There is a deadline and the offline optimum can model the replay (every spot rung on traces of one tick,
    no elastic gang): what a default regret needs; an explicit ``--regret`` still reports why not, in one line."""
    from spotplan.simulator.optimum_replay import trace_tick_s

    if cs.deadline_s is None:
        return False
    try:
        trace_tick_s(cs)
    except ConfigError:
        return False
    return True


def _window_offsets(cs: Any, start: str | None, length: str | None, tile: bool, source: str) -> list[float]:
    """Start offsets (seconds) of the requested windows; one line and exit 2 for a window off the traces."""
    from spotplan.simulator.trace_scenario import check_window, tiling_offsets_s

    span = cs.replay_span_s
    if span is None:
        raise ConfigError(f"{source}: no rung replays a trace or price history; --window-start, --window-length "
                          "and --tile need one")
    if length is not None:
        length_s = _hours_s(length, "--window-length")
    elif cs.deadline_s is not None:
        length_s = cs.deadline_s
    else:
        raise ConfigError(f"{source}: no deadline to size the window; give --window-length, e.g. 60h")
    start_s = _hours_s(start, "--window-start") if start is not None else 0.0
    check_window(span, start_s, length_s, source)
    if not tile:
        return [start_s]
    return [start_s + o for o in tiling_offsets_s(span - start_s, length_s)]
MAX_WORKERS = 1024


def register(app: typer.Typer) -> None:
    """Add ``spotplan simulate`` and ``spotplan interval`` to the CLI."""

    @app.command("simulate")
    def simulate(
        scenario: Annotated[Path, typer.Argument(help="Scenario YAML or JSON file (see data/examples/).")],
        runs: Annotated[int | None, typer.Option(
            "--runs", help="Monte Carlo runs (default 1000; with windows, runs per window, default 1).")] = None,
        seed: Annotated[int, typer.Option("--seed", min=0, help="Seed; results are identical for any --workers.")] = 0,
        workers: Annotated[int, typer.Option("--workers", help="Worker processes (0 = all cores).")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
        timeline: Annotated[Path | None, typer.Option(
            "--timeline", help="Write the state intervals of the first runs (CSV, or JSON by suffix).")] = None,
        window_start: Annotated[str | None, typer.Option(
            "--window-start", help="Replay one fixed window starting this far into the traces (e.g. 0h, 120h).",
            rich_help_panel="Replay windows")] = None,
        window_length: Annotated[str | None, typer.Option(
            "--window-length", help="Window length (default: the deadline), e.g. 60h.",
            rich_help_panel="Replay windows")] = None,
        tile: Annotated[bool, typer.Option(
            "--tile", help="Replay every window of --window-length that tiles the traces.",
            rich_help_panel="Replay windows")] = False,
        tick_prices: Annotated[Path | None, typer.Option(
            "--tick-prices", help="Per-tick spot prices for the trace rungs ({trace stem: [USD/h, ...]}).",
            rich_help_panel="Replay windows")] = None,
        regret_: Annotated[bool | None, typer.Option(
            "--regret/--no-regret", help="Cost / offline optimum per replay (default: on for windows).",
            rich_help_panel="Replay windows")] = None,
    ) -> None:
        """Monte Carlo of a training scenario: cost and makespan distributions, breakdowns, counts."""
        from spotplan.outputs import output_file
        from spotplan.simulator.compile import load_scenario
        from spotplan.simulator.montecarlo import run_monte_carlo

        windowed = window_start is not None or window_length is not None or tile
        if runs is None:
            runs = 1 if windowed else DEFAULT_RUNS
        if not 1 <= runs <= MAX_RUNS:
            raise ConfigError(f"--runs={runs}: expected between 1 and {MAX_RUNS:,}")
        if not 0 <= workers <= MAX_WORKERS:
            raise ConfigError(f"--workers={workers}: expected between 0 (all cores) and {MAX_WORKERS}")
        if timeline is not None:
            output_file(timeline, "--timeline")
        cs = load_scenario(scenario)
        if tick_prices is not None:
            from spotplan.simulator.trace_scenario import attach_tick_prices

            cs = attach_tick_prices(cs, tick_prices)
        offsets = _window_offsets(cs, window_start, window_length, tile, str(scenario)) if windowed else None
        if offsets is not None:
            from spotplan.simulator.windows import simulate_windows

            mc = simulate_windows(cs, offsets, seed=seed, runs_per_window=runs)
        else:
            mc = run_monte_carlo(cs, runs, seed=seed, workers=workers or None, progress=not as_json)
        summary = mc.summary()
        if offsets is not None:
            summary["windows_h"] = [o / 3600.0 for o in offsets]
        if regret_ or (regret_ is None and offsets is not None and _replays_traces(cs)):
            from spotplan.simulator.windows import regret, regret_summary

            summary["regret"] = regret_summary(regret(mc))
        if timeline is not None:
            _write_timeline(mc, timeline)
        if as_json:
            from spotplan.schemas.outputs import OUTPUT_SCHEMA_VERSION

            typer.echo(json.dumps({"schema_version": OUTPUT_SCHEMA_VERSION, **summary}, indent=2))
        else:
            _print_summary(summary)

    @app.command("interval")
    def interval(
        save_s: Annotated[float, typer.Option("--save-s", help="Blocking checkpoint time δ in seconds.")],
        mtbf_h: Annotated[float, typer.Option("--mtbf-h", help="Mean time between interruptions M in hours.")],
        restart_s: Annotated[float, typer.Option("--restart-s", help="Restart cost R per failure, seconds.")] = 0.0,
        work_h: Annotated[float, typer.Option("--work-h", help="Total compute T_s in hours (for T_w).")] = 100.0,
        simulate_: Annotated[bool, typer.Option("--simulate", help="Also sweep intervals by Monte Carlo.")] = False,
        runs: Annotated[int, typer.Option("--runs", help="Runs per interval for --simulate.")] = 2000,
        seed: Annotated[int, typer.Option("--seed", min=0, help="Seed for --simulate.")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Checkpoint interval: Young, Daly (eq. 37), Daly's expected makespan T_w, optionally simulated."""
        for name, v, zero_ok in (("--save-s", save_s, False), ("--mtbf-h", mtbf_h, False),
                                 ("--restart-s", restart_s, True), ("--work-h", work_h, False)):
            if not math.isfinite(v) or v < 0 or (v == 0 and not zero_ok):
                raise ConfigError(f"{name}={v}: expected a finite number {'>= 0' if zero_ok else '> 0'}")
        if simulate_ and not 1 <= runs <= MAX_RUNS:
            raise ConfigError(f"--runs={runs}: expected between 1 and {MAX_RUNS:,}")
        rep = _interval_report(save_s, mtbf_h, restart_s, work_h, simulate_, runs, seed)

        if as_json:
            from spotplan.schemas.outputs import OUTPUT_SCHEMA_VERSION

            typer.echo(json.dumps({"schema_version": OUTPUT_SCHEMA_VERSION, **rep}, indent=2))
            return
        typer.echo(f"Young  √(2δM):          {rep['young_s']:,.1f} s ({rep['young_s'] / 60:.1f} min)")
        typer.echo(f"Daly   eq. 37:          {rep['daly_s']:,.1f} s ({rep['daly_s'] / 60:.1f} min)")
        typer.echo(f"Daly   T_w at eq. 37:   {rep['expected_makespan_h']:,.1f} h for {work_h:g} h of work")
        if simulate_:
            lo, hi = rep["simulated_makespan_ci95_h"]
            typer.echo(f"Simulated optimum:      {rep['simulated_best_s']:,.1f} s "
                       f"({rep['simulated_best_s'] / 60:.1f} min), mean makespan "
                       f"{rep['simulated_makespan_h']:,.1f} h (95% CI {lo:,.1f}-{hi:,.1f}); "
                       f"at Daly's interval {rep['simulated_makespan_at_daly_h']:,.1f} h "
                       f"[{runs} runs x {rep['simulated_intervals']} intervals]")
