"""``spotplan prices fetch`` and ``spotplan prices show``: spot price data in, per-pool summaries out.

``show`` without ``--source`` prints the embedded fit (data/fitted): spot level vs on-demand per catalog pool, so it
works on a fresh machine with no cloud account. With ``--source PATH`` (or ``--cache``) it summarises a
describe-spot-price-history file or directory: span, price changes, mean/min/max USD/h, discount vs on-demand.
``--product`` keeps one product description (a pool is a type, a zone and a product).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

prices_app = typer.Typer(help="Spot price history: fetch from AWS, show per-pool summaries.", no_args_is_help=True)

# (key, heading, priority): columns are shown in this order; a narrow terminal keeps the lower priorities that fit
# rather than cut every cell to "…" (-v shows all). "changes" counts records whose price differs from the one
# before; "records" counts all records.
HISTORY_COLUMNS = [("instance_type", "type", 0), ("region", "region", 1), ("where", "zone", 0),
                   ("product", "product", 2), ("span_days", "days", 6), ("changes", "changes", 0),
                   ("records", "records", 9), ("mean_usd_per_h", "mean $/h", 0), ("min_usd_per_h", "min $/h", 3),
                   ("max_usd_per_h", "max $/h", 3), ("on_demand_usd_per_h", "on-demand $/h", 7),
                   ("discount", "discount", 5), ("start_utc", "start", 8), ("end_utc", "end", 8)]
FITTED_COLUMNS = [("instance_type", "type", 0), ("region", "region", 1), ("where", "zone", 0), ("basis", "basis", 4),
                  ("on_demand_usd_per_h", "on-demand $/h", 3), ("spot_usd_per_h", "spot $/h", 0),
                  ("discount", "discount", 2), ("price_changes_per_h", "changes/h", 6), ("mtbf_h", "MTBF h", 2),
                  ("availability", "avail", 5), ("advisor_band", "advisor", 7)]
VPC_SUFFIX = " (Amazon VPC)"
GAP = 3  # between two columns: one space of padding each side and the (blank) divider of box.SIMPLE_HEAD


def _fmt(v: Any, key: str) -> str:
    if v is None:
        return "-"
    if key in {"discount", "availability"}:
        return f"{100 * v:.0f}%"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def fit_columns(rows: list[dict[str, Any]], columns: list[tuple[str, str, int]], width: int) -> list[tuple[str, str]]:
    """The columns that fit ``width`` side by side, most important first; a single-valued product is dropped."""
    def need(key: str, head: str) -> int:
        return max([len(head), *(len(_fmt(r.get(key), key)) for r in rows)])

    products = {r.get("product") for r in rows}
    keep: set[str] = set()
    used = -GAP
    for key, head, _prio in sorted(columns, key=lambda c: c[2]):
        if key == "product" and len(products) <= 1:
            continue
        if used + GAP + need(key, head) <= width:
            keep.add(key)
            used += GAP + need(key, head)
    return [(k, h) for k, h, _p in columns if k in keep]


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, int]], title: str) -> None:
    """A table as wide as the terminal (80 columns on a pipe): the columns that fit, none cut to "…"."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    from spotplan import verbosity

    con = Console()
    shown = ([(k, h) for k, h, _p in columns] if verbosity.level() >= verbosity.VERBOSE
             else fit_columns(rows, columns, con.width))
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for key, head in shown:
        t.add_column(head, overflow="fold", justify="left" if key in TEXT_KEYS else "right")
    for r in rows:
        t.add_row(*(_fmt(r.get(k), k) for k, _h in shown))
    con.print(t)
    hidden = [h for k, h, _p in columns if (k, h) not in shown and not (k == "product" and len(
        {r.get("product") for r in rows}) <= 1)]
    if hidden:
        con.print(f"[dim]not shown at {con.width} columns: {', '.join(hidden)} (-v or --json shows them)[/]")


TEXT_KEYS = frozenset({"instance_type", "region", "where", "product", "basis", "advisor_band", "start_utc", "end_utc"})


def product_matches(description: str, wanted: str) -> bool:
    """``--product Linux/UNIX`` matches "Linux/UNIX" and the older "Linux/UNIX (Amazon VPC)", in any case."""
    d = description.casefold()
    d = d[: -len(VPC_SUFFIX)] if d.endswith(VPC_SUFFIX.casefold()) else d
    return d == wanted.casefold()


def with_real_changes(rows: list[dict[str, Any]], history: Any) -> list[dict[str, Any]]:
    """Add ``changes`` (records whose price moved) and ``records``, and the zone as one label, to history rows."""
    from spotplan.advisor.zones import zone_label
    from spotplan.simulator.market.fit_stats import price_stats

    out = []
    for r in rows:
        st = price_stats(history.series(r["instance_type"], r["zone"] or r["az_id"], r["product"]))
        out.append({**r, "changes": st.changes, "records": r["change_points"],
                    "where": r["zone"] if r["zone"] and not r["az_id"] else zone_label(r["region"], None, r["az_id"])
                    if not r["zone"] else zone_label(r["region"], r["zone"], r["az_id"])})
    return out


def filter_product(rows: list[dict[str, Any]], product: str | None, source: str) -> list[dict[str, Any]]:
    """Rows of one product description; ConfigError naming the ones present when none matches."""
    if product is None:
        return rows
    kept = [r for r in rows if product_matches(str(r.get("product", "")), product)]
    if not kept:
        from spotplan.errors import ConfigError, did_you_mean

        present = sorted({str(r.get("product", "")) for r in rows})
        raise ConfigError(f"--product '{product}' has no data in {source}{did_you_mean(product, present)}; "
                          f"present: {', '.join(present) or 'none'}")
    return kept


def _warn(lines: list[str]) -> None:
    for w in lines[:10]:
        print(f"spotplan: warning: {w}", file=sys.stderr)
    if len(lines) > 10:
        print(f"spotplan: warning: ... and {len(lines) - 10} more", file=sys.stderr)


def show_cmd(instance_type: str | None, region: str | None, source: Path | None, cache: bool, as_json: bool,
             product: str | None = None) -> None:
    """Implementation of ``prices show``."""
    from spotplan import verbosity
    from spotplan.schemas.outputs import OUTPUT_SCHEMA_VERSION
    from spotplan.simulator.market.catalog import load_catalog
    from spotplan.simulator.market.price_summary import fitted_rows, history_rows

    if cache:
        from spotplan.simulator.market.fetch import cache_dir, cached_source

        source = cached_source()
        if source is None:
            from spotplan.errors import DataError

            raise DataError("the price cache is empty; run `spotplan prices fetch` first", path=str(cache_dir()))
    if source is None:
        from spotplan.advisor.zones import zone_label
        from spotplan.simulator.market.fitted import load_fitted

        rows = [{**r, "where": zone_label(r["region"], r["zone"], r["az_id"]) if r["zone"] or r["az_id"] else "-"}
                for r in fitted_rows(load_fitted(), instance_type=instance_type, region=region)]
        if as_json:
            typer.echo(json.dumps({"schema_version": OUTPUT_SCHEMA_VERSION,
                                   "source": "embedded fit (data/fitted/spot_behaviour.json)", "pools": rows},
                                  indent=1))
        else:
            _table(rows, FITTED_COLUMNS, "Embedded spot behaviour (data/fitted); spot $/h = ratio x on-demand")
        return
    from spotplan.simulator.market.prices import load_price_history

    history = load_price_history(source)
    rows = history_rows(history, load_catalog(), instance_type=instance_type, region=region, source=str(source))
    rows = with_real_changes(filter_product(rows, product, str(source)), history)
    if verbosity.level() > verbosity.QUIET:
        _warn(history.warnings)
    if as_json:
        typer.echo(json.dumps({"schema_version": OUTPUT_SCHEMA_VERSION, "source": str(source), "as_of": str(history.as_of), "warnings": history.warnings,
                               "truncated_files": history.truncated_files, "pools": rows}, indent=1))
    else:
        _table(rows, HISTORY_COLUMNS, f"Spot price history {source.name}{f' ({product})' if product else ''}, "
                                     f"as of {history.as_of:%Y-%m-%d %H:%M} UTC")


def register(app: typer.Typer) -> None:
    """Add ``spotplan prices fetch|show``."""

    @prices_app.command("show")
    def show(
        instance_type: Annotated[str | None, typer.Option("--instance-type", help="Only this type.")] = None,
        region: Annotated[str | None, typer.Option("--region", help="Only this region.")] = None,
        source: Annotated[Path | None, typer.Option("--source", help="Price-history file or directory.")] = None,
        cache: Annotated[bool, typer.Option("--cache", help="Summarise the cache written by `prices fetch`.")] = False,
        product: Annotated[str | None, typer.Option(
            "--product", help="Only this product description, e.g. Linux/UNIX (a history's Windows, SUSE, RHEL rows "
                              "are separate pools).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    ) -> None:
        """Per-pool summary: embedded fit by default, or a price history (--source / --cache)."""
        show_cmd(instance_type, region, source, cache, as_json, product)

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
