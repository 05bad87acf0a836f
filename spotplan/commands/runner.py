"""``spotplan run`` (train a real model under a Plan with atomic async checkpoints) and ``spotplan calibrate``
(measure snapshot, persist and restore times and write a Calibration file).

Exit codes of ``spotplan run``: 0 completed, 75 interrupted by a notice (state saved or last periodic kept;
relaunch to resume), 2 user error (bad plan, option or checkpoint directory). Heavy imports stay inside the
command functions so ``spotplan --help`` never loads torch.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer


def _setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="spotplan: warning: %(message)s", stream=sys.stderr)


def register(app: typer.Typer) -> None:
    """Add ``spotplan run`` and ``spotplan calibrate`` to the CLI."""

    @app.command("run")
    def run_cmd(
        plan_path: Annotated[Path, typer.Argument(metavar="PLAN.yaml", help="Plan file from spotplan recommend.")],
        checkpoint_dir: Annotated[Path, typer.Option(help="Local checkpoint directory.")] = Path("checkpoints"),
        max_steps: Annotated[int | None, typer.Option(min=0, help="Stop after this step.")] = None,
        device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when present).")] = None,
        model_size: Annotated[
            str | None, typer.Option(help="tiny, small, base, medium or large instead of the plan's size.")
        ] = None,
        sync_save: Annotated[bool, typer.Option("--sync-save", help="Write checkpoints on the training thread.")] \
        = False,
        interval_unit: Annotated[
            str, typer.Option(help="steps: the plan's interval in steps; seconds: its interval in seconds, "
                                   "converted with the step time measured here.")
        ] = "steps",
        seed: Annotated[int, typer.Option(min=0, max=2**32 - 1, help="Seed of weights, data order and RNGs.")] = 0,
        s3: Annotated[str | None, typer.Option(help="Mirror checkpoints to S3 (an s3:// URL with bucket and "
                                                    "prefix).")] = None,
        endpoint_url: Annotated[str | None, typer.Option(help="S3-compatible endpoint URL.")] = None,
        imds: Annotated[
            bool | None, typer.Option("--imds/--no-imds", help="Poll AWS IMDS (default: when rung 1 is spot).")
        ] = None,
        imds_endpoint: Annotated[str, typer.Option(show_default=False, help="IMDS base URL (default: EC2's "
                                                   "link-local address).")] = "http://169.254.169.254",
        parallel: Annotated[str, typer.Option(help="Under torchrun: ddp, fsdp, or auto (fsdp when the state "
                                                  "does not fit one device).")] = "auto",
        allow_nonfinite: Annotated[
            bool, typer.Option("--allow-nonfinite", help="Resume from checkpoints whose weights hold NaN or inf "
                                                         "(refused by default).")
        ] = False,
        run_log: Annotated[Path | None, typer.Option(help="JSON-lines run log (default: in the checkpoint "
                                                         "directory).")] = None,
        report: Annotated[Path | None, typer.Option(help="RunReport JSON (default: in the checkpoint directory).")]
        = None,
    ) -> None:
        """Train a GPT-style model on the Python stdlib sources under PLAN.yaml, with checkpoints and resume."""
        from spotplan.errors import ConfigError
        from spotplan.outputs import output_dir, output_file
        from spotplan.runner.loop import RunOptions, run
        from spotplan.runner.policy import IntervalUnit
        from spotplan.schemas.plan import Plan

        _setup_logging()
        if interval_unit not in {u.value for u in IntervalUnit}:
            raise ConfigError(f"--interval-unit {interval_unit!r}: expected steps or seconds")
        if parallel not in ("auto", "ddp", "fsdp"):
            raise ConfigError(f"--parallel {parallel!r}: expected auto, ddp or fsdp")
        plan = Plan.load(plan_path)
        # every output is checked before the model is built, so no path can fail a run after hours of training
        root = output_dir(checkpoint_dir, "--checkpoint-dir").resolve()
        run_log = output_file(run_log or root / "run_log.jsonl", "--run-log")
        report = output_file(report or root / "run_report.json", "--report")
        opts = RunOptions(
            plan=plan, checkpoint_dir=root, device=device, model_size=model_size,
            max_steps=max_steps, sync_save=sync_save, interval_unit=IntervalUnit(interval_unit), seed=seed,
            s3_url=s3, endpoint_url=endpoint_url, imds=imds, imds_endpoint=imds_endpoint, run_log=run_log,
            report=report, allow_nonfinite=allow_nonfinite, parallel=parallel,
        )
        result = run(opts)
        typer.echo(f"{result.exit_reason}; steps {result.start_step}->{result.end_step}, {result.saves} saves, "
                   f"exit {result.exit_code}")
        raise typer.Exit(code=result.exit_code)

    @app.command("launch", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def launch_cmd(
        ctx: typer.Context,
        plan_path: Annotated[Path, typer.Argument(metavar="PLAN.yaml", help="Plan file from spotplan recommend.")],
        nproc_per_node: Annotated[
            int | None, typer.Option(min=1, help="Processes per node (default: the CUDA devices here, else 1).")
        ] = None,
        max_attempts: Annotated[int, typer.Option(min=1, max=1000, help="torchrun launches in all.")] = 10,
        checkpoint_dir: Annotated[Path, typer.Option(help="Local checkpoint directory.")] = Path("checkpoints"),
        report: Annotated[Path | None, typer.Option(help="RunReport JSON (default CKPT/run_report.json).")] = None,
        run_log: Annotated[Path | None, typer.Option(help="Run log (default CKPT/run_log.jsonl).")] = None,
    ) -> None:
        """Run PLAN.yaml under torchrun on this node and relaunch it after failures until it completes.

        Any other option goes to `spotplan run` (e.g. --max-steps, --model-size, --s3). Exit codes: 0 complete,
        75 interrupted by a notice (run `spotplan launch` again on the next machine), 2 user error, 1 gave up.
        """
        from spotplan.outputs import output_dir, output_file
        from spotplan.runner.supervise import supervise, torchrun_argv
        from spotplan.schemas.plan import Plan

        Plan.load(plan_path)  # a bad plan is one line now, not max-attempts failed launches
        root = output_dir(checkpoint_dir, "--checkpoint-dir").resolve()
        report = output_file(report or root / "run_report.json", "--report")
        run_log = output_file(run_log or root / "run_log.jsonl", "--run-log")
        if nproc_per_node is None:
            import torch

            nproc_per_node = max(1, torch.cuda.device_count())
        run_args = [str(plan_path), "--checkpoint-dir", str(root), "--report", str(report), "--run-log",
                    str(run_log), *ctx.args]
        code = supervise(torchrun_argv(nproc_per_node=nproc_per_node, run_args=run_args), report, run_log,
                         max_attempts=max_attempts, echo=typer.echo)
        raise typer.Exit(code=code)

    @app.command("calibrate")
    def calibrate_cmd(
        sizes: Annotated[
            list[str] | None, typer.Option("--sizes", help="Runner model sizes to measure (repeatable).")
        ] = None,
        device: Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda when present).")] = None,
        out: Annotated[Path, typer.Option(help="Calibration JSON to write.")] = Path("calibration.json"),
        checkpoint_dir: Annotated[
            Path | None, typer.Option(help="Directory to measure (default: a temp dir beside --out).")
        ] = None,
        repeats: Annotated[int, typer.Option(min=1, help="Measured repeats per size after one warm-up.")] = 3,
        predict_bytes: Annotated[
            list[float] | None, typer.Option(help="Also predict these state sizes in bytes (repeatable).")
        ] = None,
        nproc: Annotated[int, typer.Option(min=1, max=1024, help="Measure sharded saves at this world size "
                                                               "(torchrun, one process per GPU).")] = 1,
    ) -> None:
        """Measure snapshot, persist and restore times for several state sizes; fit time = a + bytes / bandwidth."""
        from spotplan.outputs import output_dir, output_file
        from spotplan.runner.calibrate import DEFAULT_SIZES, calibrate, render

        _setup_logging()
        output_file(out, "--out")
        if checkpoint_dir is not None:
            output_dir(checkpoint_dir, "--checkpoint-dir")
        cal = calibrate(sizes or list(DEFAULT_SIZES), device=device, out=out, checkpoint_dir=checkpoint_dir,
                        repeats=repeats, nproc=nproc)
        typer.echo(render(cal, predict_bytes or [1e9, 1e10, 1.12e11]))
        typer.echo(f"wrote {out}")
