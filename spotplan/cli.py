"""The ``spotplan`` command line: one Typer app; each domain registers its commands.

User errors (``SpotplanError``) print one line on stderr and exit 2; a regression exits 1.
"""

from __future__ import annotations

import importlib
import sys

import typer

from spotplan.errors import SpotplanError

app = typer.Typer(
    name="spotplan",
    help="Plan, simulate and run ML training on spot and preemptible GPUs.",
    no_args_is_help=True,
    add_completion=False,
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
)

@app.callback()
def _root() -> None:
    """Plan, simulate and run ML training on spot and preemptible GPUs."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


@app.command("version")
def version() -> None:
    """Print spotplan's version."""
    from spotplan import __version__

    typer.echo(__version__)



def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code.

    Typer handles usage errors itself (exit 2 with the usage line); a ``SpotplanError`` raised by a
    command becomes one line on stderr and its exit code, never a traceback.
    """
    try:
        app(args=argv, prog_name="spotplan")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except SpotplanError as exc:
        print(f"spotplan: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
