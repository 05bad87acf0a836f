"""The ``spotplan`` command line: one Typer app; each domain registers its commands.

User errors (``SpotplanError``) print one line on stderr and exit 2; a regression exits 1.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer

try:  # typer 0.2x vendors its click as typer._click; older typer uses click itself
    from typer._click import exceptions as cli_exc
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as cli_exc  # type: ignore[no-redef]

from spotplan.errors import SpotplanError

app = typer.Typer(
    name="spotplan",
    help="Plan, simulate and run ML training on spot and preemptible GPUs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

# Each module defines ``register(app)``. Heavy imports (torch, simpy, streamlit) stay inside the
# command functions so ``spotplan --help`` is fast and the advisor never drags torch in.
# Listed in workflow order, which is the order ``spotplan --help`` shows.
COMMAND_MODULES: tuple[str, ...] = (
    "spotplan.commands.recommend",
    "spotplan.commands.simulate",
    "spotplan.commands.prices",
    "spotplan.commands.data",
    "spotplan.commands.runner",
    "spotplan.commands.regress",
    "spotplan.commands.dashboard",
    "spotplan.commands.schema",
)


def _print_version(value: bool) -> None:
    if value:
        from spotplan import __version__

        typer.echo(f"spotplan {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print spotplan's version and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the answer: no progress, no detail.")]
    = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True,
                                         help="Print more: assumptions and sources (-v = recommend --explain).")]
    = 0,
) -> None:
    """Plan, simulate and run ML training on spot and preemptible GPUs."""
    from spotplan import verbosity

    if quiet and verbose:
        raise cli_exc.UsageError("-q and -v contradict each other; give one")
    verbosity.set_level(verbosity.QUIET if quiet else verbose)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


@app.command("version")
def version() -> None:
    """Print spotplan's version."""
    from spotplan import __version__

    typer.echo(__version__)



def _flags_without_metavar(command: Any) -> None:
    """Show on/off flags as ``--json``, not ``--json <bool>``: they take no value (``--json true`` is an error)."""
    for param in command.params:
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = "" if param.metavar is None else param.metavar
            if getattr(param, "count", False):
                param.show_default = False
    get_help_option = command.get_help_option

    def help_option(ctx: Any) -> Any:
        option = get_help_option(ctx)
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        _flags_without_metavar(sub)


def _usage_line(exc: cli_exc.UsageError) -> str:
    where = exc.ctx.command_path if exc.ctx is not None else "spotplan"
    return f"spotplan: error: {exc.format_message()} (see '{where} --help')"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code.

    Bad input of any kind is one line on stderr and exit 2, never a traceback: a usage error (unknown option,
    a value that does not parse) names the option and the command's help; a ``SpotplanError`` raised by a
    command carries its own message and exit code.
    """
    command = typer.main.get_command(app)
    _flags_without_metavar(command)
    try:
        result = command.main(args=argv, prog_name="spotplan", standalone_mode=False)
    except cli_exc.NoArgsIsHelpError as exc:  # bare ``spotplan`` or a bare group: its help
        print(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        return 2
    except cli_exc.UsageError as exc:
        print(_usage_line(exc), file=sys.stderr)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("spotplan: aborted", file=sys.stderr)
        return 130
    except SpotplanError as exc:
        print(f"spotplan: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
