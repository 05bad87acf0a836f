"""``spotplan schema NAME``: print the JSON Schema of a file contract or of a ``--json`` document.

The schemas come from the pydantic models in ``spotplan.schemas``, so they are what spotplan itself accepts.
An editor's YAML language server checks a plan or scenario file against one of them (see the README).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def _complete_name(incomplete: str) -> list[str]:
    from spotplan.schemas.outputs import SCHEMAS

    return [n for n in SCHEMAS if n.startswith(incomplete)]


def register(app: typer.Typer) -> None:
    """Add ``spotplan schema`` to the app."""

    @app.command("schema")
    def schema_cmd(
        name: Annotated[str | None, typer.Argument(
            help="scenario, plan, calibration, run-report, run-event, baseline, reference-scenario, or a --json "
                 "document: recommend-output, prices-output, simulate-output, interval-output.",
            autocompletion=_complete_name)] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Write the schema to this file.")] = None,
        list_: Annotated[bool, typer.Option("--list", help="List the names and what each describes.")] = False,
    ) -> None:
        """Print the JSON Schema (draft 2020-12) of a spotplan file or output, for editors and validators."""
        from spotplan.errors import ConfigError, did_you_mean
        from spotplan.outputs import output_file
        from spotplan.schemas.outputs import SCHEMAS, json_schema

        if list_ or name is None:
            for key, model in SCHEMAS.items():
                doc = (model.__doc__ or "").strip().splitlines()[0]
                typer.echo(f"{key:<19} {doc}")
            return
        if name not in SCHEMAS:
            raise ConfigError(f"schema {name!r} is not published{did_you_mean(name, SCHEMAS)}; "
                              f"known: {', '.join(SCHEMAS)}")
        text = json.dumps(json_schema(name), indent=2) + "\n"
        if out is None:
            typer.echo(text, nl=False)
            return
        output_file(out, "--out").write_text(text, encoding="utf-8")
        typer.echo(f"wrote the {name} schema: {out}")
