"""``spotplan recommend``: pools, fallback ladder and checkpoint interval for a training job.

Heavy imports (advisor, simulator, pandas) stay inside the command so ``spotplan --help`` stays fast.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

# Options that choose what is printed or written, not what is planned: left out of the re-run line.
_OUTPUT_OPTIONS = frozenset({"as_json", "out", "skypilot", "explain"})


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in value.split(",") if x.strip()) if value else ()


def rerun_line(ctx: Any, extra: str) -> str:
    """``spotplan recommend`` with the options given this time (same plan id) plus ``extra``."""
    words = ["spotplan", "recommend"]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.name in _OUTPUT_OPTIONS or value is None or value == param.default or not param.opts:
            continue
        if isinstance(value, list | tuple):  # a repeatable option (--traces): once per value
            words += [w for v in value for w in (param.opts[0], str(v))]
            continue
        words += [param.opts[0]] if value is True else [param.opts[0], str(value)]
    return " ".join(shlex.quote(w) for w in words) + f" {extra}"


def plan_file_for(out: Path | None, skypilot: Path | None) -> Path | None:
    """Where the plan is written: ``--out``, or beside the SkyPilot task (``task.yaml`` -> ``task.plan.yaml``)."""
    if out is not None or skypilot is None:
        return out
    return skypilot.with_name(f"{skypilot.stem}.plan.yaml")


def next_commands(rec: Any, ctx: Any, plan_file: Path | None, skypilot: Path | None) -> list[tuple[str, str]]:
    """The commands to run next, each with the files it needs (written now, or to write first)."""
    from spotplan.advisor.skypilot import PLAN_MOUNT

    steps: list[tuple[str, str]] = []
    if plan_file is None:
        steps.append((rerun_line(ctx, "--out plan.yaml"), "writes plan.yaml, which the line below reads"))
    if skypilot is not None:
        steps.append((f"sky jobs launch {shlex.quote(str(skypilot))}",
                      f"from this directory; copies {plan_file} to {PLAN_MOUNT} and runs it"))
        return steps
    plan_arg = str(plan_file) if plan_file is not None else "plan.yaml"
    note = f"reads {plan_arg} (written)" if plan_file is not None else ""
    steps.append((rec.torchrun_command(plan_arg), note or "on the first rung, from the spotplan checkout"))
    return steps


def register(app: typer.Typer) -> None:
    """Add ``recommend`` to the app."""

    @app.command("recommend")
    def recommend_cmd(
        ctx: typer.Context,
        model_size: Annotated[str, typer.Option("--model-size", help="125M, 1.3B, 7B, 13B, 70B or a count (3e9).")],
        mode: Annotated[str, typer.Option("--mode", help="full (mixed-precision AdamW) or lora.")] = "full",
        tokens: Annotated[str | None, typer.Option("--tokens", help="Training tokens, e.g. 2e10 or 20B.")] = None,
        deadline: Annotated[str | None, typer.Option("--deadline", help="Finish within, e.g. 48h or 3d.")] = None,
        p95_max: Annotated[str | None, typer.Option("--p95-max", help="Bound on the P95 makespan, e.g. 60h.")] = None,
        regions: Annotated[str | None, typer.Option("--regions", help="Allowed regions, comma-separated.")] = None,
        prefer_regions: Annotated[
            str | None, typer.Option("--prefer-regions", help="Region priority order, comma-separated.")
        ] = None,
        families: Annotated[str | None, typer.Option("--families", help="Instance families, e.g. p4d,p5.")] = None,
        mfu: Annotated[float | None, typer.Option("--mfu", help="Model FLOPs utilisation (default 0.40).")] = None,
        save_bandwidth: Annotated[
            str | None, typer.Option("--save-bandwidth", help="Checkpoint write bandwidth per node, e.g. 2GB/s.")
        ] = None,
        calibration: Annotated[
            Path | None, typer.Option("--calibration", help="Calibration file from `spotplan calibrate`.")
        ] = None,
        prices: Annotated[
            Path | None, typer.Option("--prices", help="describe-spot-price-history file or folder to replay.")
        ] = None,
        traces: Annotated[list[Path] | None, typer.Option(
            "--traces", help="Plan on this availability trace (Can't Be Late JSON or timestamped CSV); repeatable.")
        ] = None,
        tick_prices: Annotated[Path | None, typer.Option(
            "--tick-prices", help="Per-tick spot prices of the --traces files ({trace stem: [USD/h, ...]}).")
        ] = None,
        notice: Annotated[float | None, typer.Option("--notice", help="Notice seconds (default AWS 120).")] = None,
        interval: Annotated[
            float | None, typer.Option("--interval", help="Fix the checkpoint interval in seconds (default: auto).")
        ] = None,
        nodes: Annotated[int | None, typer.Option(
            "--nodes", help="Fix the gang size (default: searched, see the frontier).")] = None,
        max_nodes: Annotated[int | None, typer.Option(
            "--max-nodes", help="Largest gang searched (default and limit: 128).")] = None,
        dp_efficiency: Annotated[float | None, typer.Option(
            "--dp-efficiency", help="Speed-up kept per doubling of nodes (default 0.93).")] = None,
        runs: Annotated[int, typer.Option("--runs", help="Monte Carlo runs per finalist.")] = 48,
        seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed (same replays for every option).")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print the JSON document instead of the summary.")] = False,
        out: Annotated[Path | None, typer.Option("--out", help="Write the Plan file (YAML or JSON).")] = None,
        skypilot: Annotated[Path | None, typer.Option(
            "--skypilot", help="Write a SkyPilot task YAML, and the plan beside it unless --out names it.")] = None,
        explain: Annotated[bool, typer.Option(
            "--explain", help="Also print every reason, the notice check, assumptions and sources.")] = False,
    ) -> None:
        """Choose pools, fallback ladder and checkpoint interval; compare with three baselines."""
        from spotplan import verbosity
        from spotplan.advisor.api import recommend
        from spotplan.advisor.request import RecommendRequest, parse_count, parse_duration_h
        from spotplan.advisor.savecost import parse_bandwidth
        from spotplan.errors import ConfigError
        from spotplan.outputs import output_file
        from spotplan.schemas.calibration import Calibration
        from spotplan.schemas.plan import TrainingMode

        plan_file = plan_file_for(out, skypilot)
        for flag, path in (("--out", plan_file), ("--skypilot", skypilot)):
            if path is not None:
                output_file(path, flag)
        if mode not in {m.value for m in TrainingMode}:
            raise ConfigError(f"--mode {mode!r} is not a mode; use full or lora")
        request = RecommendRequest(
            model_size=model_size, mode=TrainingMode(mode),
            tokens=parse_count(tokens, "--tokens") if tokens is not None else None,
            deadline_h=parse_duration_h(deadline, "--deadline") if deadline else None,
            p95_bound_h=parse_duration_h(p95_max, "--p95-max") if p95_max else None,
            regions=_split(regions), prefer_regions=_split(prefer_regions), families=_split(families), mfu=mfu,
            save_bandwidth_bytes_per_s=parse_bandwidth(save_bandwidth) if save_bandwidth else None,
            calibration=Calibration.load(calibration) if calibration else None,
            notice_s=notice, interval_s=interval, runs=runs, seed=seed, prices_path=prices,
            traces=tuple(str(t) for t in traces or ()), tick_prices_path=tick_prices,
            nodes=nodes, dp_efficiency=dp_efficiency, **({} if max_nodes is None else {"max_nodes": max_nodes}),
        )
        level = verbosity.level()
        rec = recommend(request, progress=not as_json and level > verbosity.QUIET)
        if plan_file is not None:
            rec.plan.dump(plan_file)
        if skypilot is not None and plan_file is not None:
            from spotplan.advisor.skypilot import plan_source

            skypilot.write_text(rec.to_skypilot_yaml(plan_source(plan_file)), encoding="utf-8")
        if as_json:
            typer.echo(json.dumps(rec.to_json(), indent=2))
            return
        from spotplan.advisor.render import render

        render(rec, commands=next_commands(rec, ctx, plan_file, skypilot),
               explain=explain or level >= verbosity.VERBOSE, quiet=level <= verbosity.QUIET)
        if rec.traces is not None:
            from spotplan.advisor.traces import traces_lines

            for line in traces_lines(rec.traces):
                typer.echo(line)
