"""``spotplan prices fetch`` and ``spotplan prices show``: spot price data in, per-pool summaries out.

``show`` without ``--source`` prints the embedded fit (data/fitted): spot level vs on-demand per catalog pool, so it
works on a fresh machine with no cloud account. With ``--source PATH`` (or ``--cache``) it summarises a
describe-spot-price-history file or directory: span, change points, mean/min/max USD/h, discount vs on-demand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

prices_app = typer.Typer(help="Spot price history: fetch from AWS, show per-pool summaries.", no_args_is_help=True)

HISTORY_COLUMNS = [("instance_type", "type"), ("zone", "zone"), ("az_id", "az id"), ("start_utc", "start"),
                   ("end_utc", "end"), ("span_days", "days"), ("change_points", "changes"),
                   ("mean_usd_per_h", "mean $/h"), ("min_usd_per_h", "min $/h"), ("max_usd_per_h", "max $/h"),
                   ("on_demand_usd_per_h", "on-demand $/h"), ("discount", "discount")]
FITTED_COLUMNS = [("instance_type", "type"), ("region", "region"), ("zone", "zone"), ("basis", "basis"),
                  ("on_demand_usd_per_h", "on-demand $/h"), ("spot_usd_per_h", "spot $/h"), ("discount", "discount"),
                  ("price_changes_per_h", "changes/h"), ("mtbf_h", "MTBF h"), ("availability", "avail"),
                  ("advisor_band", "advisor")]


def _fmt(v: Any, key: str) -> str:
    if v is None:
        return "-"
    if key in {"discount", "availability"}:
        return f"{100 * v:.0f}%"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for _key, head in columns:
        t.add_column(head)
    for r in rows:
        t.add_row(*(_fmt(r.get(k), k) for k, _h in columns))
    Console(width=200).print(t)


def _warn(lines: list[str]) -> None:
    for w in lines[:10]:
        print(f"spotplan: warning: {w}", file=sys.stderr)
    if len(lines) > 10:
        print(f"spotplan: warning: ... and {len(lines) - 10} more", file=sys.stderr)


def show_cmd(instance_type: str | None, region: str | None, source: Path | None, cache: bool, as_json: bool) -> None:
    """Implementation of ``prices show``."""
    from spotplan.simulator.market.catalog import load_catalog
    from spotplan.simulator.market.price_summary import fitted_rows, history_rows

    if cache:
        from spotplan.simulator.market.fetch import cache_dir, cached_source

        source = cached_source()
        if source is None:
            from spotplan.errors import DataError

            raise DataError("the price cache is empty; run `spotplan prices fetch` first", path=str(cache_dir()))
    if source is None:
        from spotplan.simulator.market.fitted import load_fitted

        rows = fitted_rows(load_fitted(), instance_type=instance_type, region=region)
        if as_json:
            typer.echo(json.dumps({"source": "embedded fit (data/fitted/spot_behaviour.json)", "pools": rows},
                                  indent=1))
        else:
            _table(rows, FITTED_COLUMNS, "Embedded spot behaviour (data/fitted); spot $/h = ratio x on-demand")
        return
    from spotplan.simulator.market.prices import load_price_history

    history = load_price_history(source)
    rows = history_rows(history, load_catalog(), instance_type=instance_type, region=region, source=str(source))
    _warn(history.warnings)
    if as_json:
        typer.echo(json.dumps({"source": str(source), "as_of": str(history.as_of), "warnings": history.warnings,
                               "truncated_files": history.truncated_files, "pools": rows}, indent=1))
    else:
        _table(rows, HISTORY_COLUMNS, f"Spot price history: {source} (as of {history.as_of})")


def register(app: typer.Typer) -> None:
    """Add ``spotplan prices fetch|show``."""

    @prices_app.command("show")
    def show(
        instance_type: Annotated[str | None, typer.Option("--instance-type", help="Only this type.")] = None,
        region: Annotated[str | None, typer.Option("--region", help="Only this region.")] = None,
        source: Annotated[Path | None, typer.Option("--source", help="Price-history file or directory.")] = None,
        cache: Annotated[bool, typer.Option("--cache", help="Summarise the cache written by `prices fetch`.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ) -> None:
        """Per-pool summary: embedded fit by default, or a price history (--source / --cache)."""
        show_cmd(instance_type, region, source, cache, as_json)

    @prices_app.command("fetch")
    def fetch(
        region: Annotated[list[str], typer.Option("--region", help="AWS region (repeatable).")],
        instance_type: Annotated[list[str], typer.Option("--instance-type", help="Instance type (repeatable).")],
        days: Annotated[int, typer.Option("--days", help="Days back, 1..90.")] = 90,
        product: Annotated[str, typer.Option("--product", help="Product description.")] = "Linux/UNIX",
    ) -> None:
        """Download spot price history (boto3 paginator, standard credential chain) into the local cache."""
        from spotplan.simulator.market.fetch import cache_dir, check_regions, fetch_to_cache

        check_regions(region)
        files = fetch_to_cache(region, instance_type, days=days, product=product, progress=sys.stderr.isatty())
        for f in files:
            typer.echo(str(f))
        typer.echo(f"{len(files)} pull(s) cached under {cache_dir()}; show them with `spotplan prices show --cache`")

    app.add_typer(prices_app, name="prices")
