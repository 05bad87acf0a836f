"""``spotplan data fit``: refit the embedded per-pool spot behaviour from the public data folder.

Writes ``data/fitted/spot_behaviour.json`` (deterministic; every figure with its provenance). The shared data
folder defaults to ``$SPOTPLAN_SHARED_DATA`` or ``../shared/data`` beside the checkout.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from spotplan.paths import REPO_ROOT, shared_data_dir

data_app = typer.Typer(help="Project data: refit the embedded spot behaviour.", no_args_is_help=True)


def default_shared_data() -> Path:
    """The public data folder (spotplan.paths); when absent, the path that was expected, so the error names it."""
    found = shared_data_dir()
    if found is not None:
        return found
    env = os.environ.get("SPOTPLAN_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def register(app: typer.Typer) -> None:
    """Add ``spotplan data fit``."""

    @data_app.command("fit")
    def fit(
        shared_data: Annotated[Path | None, typer.Option("--shared-data", help="The public data folder.")] = None,
        out: Annotated[Path | None, typer.Option("--out", help="Output JSON (default data/fitted/...).")] = None,
    ) -> None:
        """Fit spot price level/changes, up/down-times and the advisor-band prior; write the JSON."""
        from spotplan.outputs import output_file
        from spotplan.simulator.market.fit import write_fit
        from spotplan.simulator.market.fitted import FITTED_PATH

        target = output_file(out or FITTED_PATH, "--out")
        doc = write_fit(shared_data or default_shared_data(), target)
        bases = Counter(p["basis"] for p in doc["pools"])
        typer.echo(f"wrote {target}: {len(doc['pools'])} pools ("
                   + ", ".join(f"{n} {b}" for b, n in sorted(bases.items())) + ")")
        typer.echo(f"band prior scale k = {doc['band_prior']['scale_k']} (naive band MTBF / trace MTBF)")

    app.add_typer(data_app, name="data")
