"""Rich summary of a Recommendation: ladder, interval, expected figures, baselines, notice check, reasons.

Pure layout: every number comes from the Recommendation. Costs USD, makespans hours, intervals minutes.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

from spotplan.advisor.recommendation import Recommendation
from spotplan.schemas.plan import Distribution, Expected


def _money(x: float) -> str:
    return f"${x:,.0f}" if abs(x) >= 100 else f"${x:,.2f}"


def _dist(d: Distribution, fmt: str = "money") -> str:
    f = _money if fmt == "money" else (lambda v: f"{v:,.1f} h")
    return f"{f(d.mean)} (P50 {f(d.p50)}, P95 {f(d.p95)})"


def ladder_table(rec: Recommendation) -> Table:
    """One row per rung: order, instance, market, place, price, speed, interruption source."""
    t = Table(title="Fallback ladder (first rung preferred)", show_lines=False)
    for col in ("#", "instance", "market", "where", "nodes", "USD/h", "speed", "MTBF", "interruptions from"):
        t.add_column(col, no_wrap=col in ("instance", "where"))
    for i, p in enumerate(rec.plan.ladder, 1):
        where = p.zone or p.az_id or p.region
        if p.az_id and p.zone:
            where = f"{p.zone} ({p.az_id})"
        t.add_row(str(i), p.instance_type, p.market.value, f"{p.region} {where}" if where != p.region else p.region,
                  str(p.nodes), f"{p.price_usd_per_h * p.nodes:,.2f}", f"{p.throughput_factor:.2f}x",
                  "-" if p.mtbf_h is None else f"{p.mtbf_h:.1f} h", p.interruption_source.split(":")[0])
    return t


def comparison_table(rec: Recommendation) -> Table:
    """The plan and the baselines side by side, on the same replays."""
    t = Table(title=f"Plan vs baselines (same {rec.plan.expected.runs} replays, seed {rec.plan.expected.seed})")
    for col in ("option", "cost mean", "cost P50", "cost P95", "makespan P50", "makespan P95", "deadline hit",
                "compliant"):
        t.add_column(col, justify="right" if col != "option" else "left")
    rows: list[tuple[str, Expected, str]] = [("plan", rec.plan.expected, "yes")]
    rows += [(name, b.expected, "yes" if b.compliant else (f"no, {b.cut_runs} runs cut" if b.cut_runs else "no"))
             for name, b in rec.baseline_results.items()]
    for name, e, ok in rows:
        hit = "-" if e.deadline_hit_rate is None else f"{e.deadline_hit_rate:.0%}"
        t.add_row(name, _money(e.cost_usd.mean), _money(e.cost_usd.p50), _money(e.cost_usd.p95),
                  f"{e.makespan_h.p50:,.1f} h", f"{e.makespan_h.p95:,.1f} h", hit, ok,
                  style="bold" if name == "plan" else None)
    if rec.p95_bound_h is not None:
        t.caption = (f"compliant: deadline hit >= 95% where a deadline is set, and P95 makespan <= {rec.p95_bound_h:,.0f} h;"
                     " runs cut at 1.5x that limit make cost and makespan lower bounds")
    return t


def assumptions_table(rec: Recommendation) -> Table:
    """Every assumption with value, unit and source."""
    t = Table(title="Assumptions", show_lines=False)
    t.add_column("name")
    t.add_column("value", justify="right")
    t.add_column("source", overflow="fold", ratio=1)
    for a in rec.plan.assumptions:
        v = f"{a.value:,.4g}" if isinstance(a.value, float) else str(a.value)
        t.add_row(a.name, f"{v} {a.unit}".strip(), a.source)
    return t


def headline(rec: Recommendation) -> Panel:
    """Interval, keep-last-K, expected figures and savings in a few lines."""
    p, e = rec.plan, rec.plan.expected
    save = "" if e.savings_vs_on_demand is None else f", {e.savings_vs_on_demand:.0%} below on-demand"
    lines = [
        (f"[bold]{p.model.model_size} {p.model.mode.value}[/], {p.model.tokens:,} tokens, "
         f"{p.model.total_steps:,} steps of {p.model.global_batch_tokens:,} tokens ({p.model.step_time_s:.1f} s each)"),
        (f"Checkpoint every [bold]{p.checkpoint_interval_s / 60:.1f} min[/] = {p.checkpoint_interval_steps} steps, "
         f"keep last {p.keep_last_k}, async save (stall {p.save_blocking_s:.1f} s, persist {p.save_persist_s:.1f} s), "
         f"restore {p.restore_s:.1f} s"),
        f"Recovery [bold]{p.recovery_strategy}[/], deadline policy {p.deadline_policy}",
        f"Expected cost {_dist(e.cost_usd)}{save}",
        f"Makespan {_dist(e.makespan_h, 'h')}",
    ]
    return Panel("\n".join(lines), title=f"spotplan plan {p.plan_id}", expand=False)


def notice_lines(rec: Recommendation) -> list[str]:
    """Emergency-save feasibility, one line per cloud."""
    out = []
    for c in rec.notice_checks:
        verdict = "fits" if c.fits else "does NOT fit"
        out.append(f"{c.cloud}: {c.notice_s:.0f} s notice; an emergency save needs ~{c.expected_need_s:.0f} s "
                   f"(worst {c.worst_need_s:.0f} s): {verdict}")
    return out


def render(rec: Recommendation, console: Console | None = None) -> None:
    """Print the whole summary."""
    con = console or Console()
    con.print(headline(rec))
    con.print(ladder_table(rec))
    con.print(comparison_table(rec))
    con.print(Panel(Group(*notice_lines(rec)), title="Interruption notice", expand=False))
    con.print(Panel("\n".join(f"- {r}" for r in rec.reasons), title="Why", expand=False))
    for w in rec.warnings:
        con.print(f"[yellow]warning:[/] {w}")
    con.print(assumptions_table(rec))
