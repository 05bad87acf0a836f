"""The ``spotplan recommend`` summary, top-down: the answer, the next commands, then the ladder, baselines, reasons.

Pure layout: every number comes from the Recommendation. Costs USD, makespans hours, intervals minutes. The
default view fits one screen at 80 columns (no column is cut to "…"): the answer, the ladder, the baselines and
the node-count frontier; ``explain=True`` (``--explain`` or ``-v``) adds every reason, the notice check per cloud
and every assumption with its source.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from spotplan.advisor.frontier import FrontierPoint, doubling_lines, step
from spotplan.advisor.recommendation import Recommendation
from spotplan.advisor.zones import zone_label
from spotplan.schemas.plan import Distribution, Expected, Market, Pool


def _money(x: float) -> str:
    if abs(x) >= 1e6:
        return f"${x / 1e6:,.2f}M"
    return f"${x:,.0f}" if abs(x) >= 100 else f"${x:,.2f}"


def _hours(h: float) -> str:
    return f"{h:,.1f} h" if h < 48 else f"{h:,.0f} h ({h / 24:.1f} d)"


def _tokens(n: int) -> str:
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if n >= div:
            return f"{n / div:,.1f}{unit}"
    return f"{n:,}"


def where(p: Pool) -> str:
    """The rung's place: region and zone, the AZ ID first with the zone name where known."""
    if p.market is Market.ON_DEMAND or not (p.zone or p.az_id):
        return p.region
    return zone_label(p.region, p.zone, p.az_id)


def _dist(d: Distribution, fmt: str) -> str:
    f = _money if fmt == "money" else _hours
    return f"{f(d.mean)} expected, P95 {f(d.p95)}"


def headline_lines(rec: Recommendation, *, ladder_follows: bool = False) -> list[str]:
    """What to run, where, how often to checkpoint, and what it costs and takes, and where the cost goes.
    ``ladder_follows``: the ladder table comes next and names the fallback rungs and the recovery strategy."""
    p, e = rec.plan, rec.plan.expected
    first = p.ladder[0]
    gang = f"{first.nodes} nodes" if first.nodes > 1 else "1 node"
    save = ""
    if e.savings_vs_on_demand is not None and e.on_demand_cost_usd is not None:
        save = f"; {e.savings_vs_on_demand:.0%} below on-demand ({_money(e.on_demand_cost_usd)})"
    lines = [
        (f"spotplan plan {p.plan_id}: {p.model.model_size} {p.model.mode.value}, {_tokens(p.model.tokens)} tokens, "
         f"{p.model.total_steps:,} steps"),
        f"  run         {first.instance_type} {first.market.value}, {gang}, {where(first)}",
        *([] if ladder_follows else
          [f"              then {len(p.ladder) - 1} fallback rung(s) in order; recovery {p.recovery_strategy}"]),
        (f"  checkpoint  every {p.checkpoint_interval_s / 60:.1f} min ({p.checkpoint_interval_steps} steps), "
         f"keep last {p.keep_last_k}, async (stall {p.save_blocking_s:.1f} s)"),
        f"  cost        {_dist(e.cost_usd, 'money')}{save}",
        f"  makespan    {_dist(e.makespan_h, 'h')}",
    ]
    if p.deadline_h is not None and e.deadline_hit_rate is not None:
        lines.append(f"  deadline    {p.deadline_h:g} h, met in {e.deadline_hit_rate:.0%} of {e.runs} replays")
    split = split_line(rec)
    if split is not None:
        lines.append(split)
    if rec.notice_checks:
        c = rec.notice_checks[0]
        fit = "fits" if c.fits else "does not fit (periodic only)"
        lines.append(f"  notice      {c.cloud} {c.notice_s:.0f} s, emergency save ~{c.expected_need_s:.0f} s: {fit}")
    return lines


SPLIT_WIDTH = 80  # the headline's split stays one line of the default view's width


def split_line(rec: Recommendation) -> str | None:
    """The expected cost by activity in one line (the simulator's bucket names): the largest buckets as shares
    of the cost while they fit, then migration in USD and hours (always, 0 when the job stays in one region);
    ``breakdown_table`` (``--explain``) has every bucket."""
    b = rec.breakdown
    if b is None or b.total_usd <= 0:
        return None
    last = f"migration {_money(b.cost_usd.get('migration', 0.0))} ({b.time_h.get('migration', 0.0):.1f} h)"
    line = "  split       "
    for name, usd in sorted(b.cost_usd.items(), key=lambda kv: (-kv[1], kv[0])):
        item = f"{name} {usd / b.total_usd:.1%}, "
        if name == "migration":
            continue
        if usd <= 0 or len(line) + len(item) + len(last) > SPLIT_WIDTH:
            break  # the largest shares only: a smaller one after one that did not fit would misrank them
        line += item
    return line + last


def breakdown_table(rec: Recommendation) -> Table | None:
    """Every activity bucket: expected cost, its share, and expected time (billed or not)."""
    b = rec.breakdown
    if b is None:
        return None
    t = _table(f"Cost and time by activity (mean of {b.runs} replays)",
               [("activity", "left"), ("cost", "right"), ("share", "right"), ("time", "right")])
    for name, usd in b.cost_usd.items():
        share = f"{usd / b.total_usd:.1%}" if b.total_usd > 0 else "-"
        t.add_row(name, _money(usd), share, _hours(b.time_h.get(name, 0.0)))
    if b.migrations > 0:
        t.add_row(f"  of which egress ({b.migrations:.1f} moves)", _money(b.egress_usd), "", "")
    return t


def next_lines(commands: Sequence[tuple[str, str]]) -> list[str]:
    """``Next:`` and one command per line, each with what it needs or writes."""
    out = ["Next:"]
    for command, note in commands:
        out.append(f"  {command}")
        if note:
            out.append(f"      # {note}")
    return out


def _table(title: str, columns: Sequence[tuple[str, str]]) -> Table:
    # at least as wide as its title (up to 80 columns): a narrow table would wrap its title onto a second line
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
              padding=(0, 1), min_width=min(len(title), 80))
    for name, justify in columns:
        t.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    return t


def ladder_table(rec: Recommendation) -> Table:
    """One row per rung: order, instance, market, zone, price of the gang, speed, MTBF (every rung has the plan's
    node count, named in the title)."""
    nodes = rec.plan.ladder[0].nodes
    gang = "" if nodes == 1 else f"; {nodes} nodes, gang $/h"
    t = _table(f"Fallback ladder (in this order, recovery {rec.plan.recovery_strategy}{gang})",
               [("#", "right"), ("instance", "left"),
               ("market", "left"), ("zone", "left"), ("$/h", "right"), ("speed", "right"), ("MTBF", "right")])
    for i, p in enumerate(rec.plan.ladder, 1):
        t.add_row(str(i), p.instance_type, p.market.value, where(p), f"{p.price_usd_per_h * p.nodes:,.2f}",
                  f"{p.throughput_factor:.2f}x", "-" if p.mtbf_h is None else f"{p.mtbf_h:.1f} h")
    return t


def _compliance(ok: bool, cut_runs: int) -> str:
    if ok:
        return "yes"
    return f"no, {cut_runs} cut" if cut_runs else "no"


def comparison_table(rec: Recommendation) -> Table:
    """The plan and the baselines side by side, on the same replays."""
    e0 = rec.plan.expected
    t = _table(f"Plan vs baselines (same {e0.runs} replays, seed {e0.seed}; {comparison_note(rec)})",
               [("option", "left"), ("cost", "right"), ("P95", "right"), ("makespan", "right"), ("P95", "right"),
                ("hit", "right"), ("meets", "left")])
    rows: list[tuple[str, Expected, str, bool]] = [("plan", e0, "yes", False)]
    rows += [(name, b.expected, _compliance(b.compliant, b.cut_runs), 0 < b.expected.runs <= b.cut_runs)
             for name, b in rec.baseline_results.items()]
    deadline = rec.plan.deadline_h is not None
    if not deadline:
        t.columns.pop(5)  # "hit" (deadline hit rate): every row would say "-"
    for name, e, ok, all_cut in rows:
        hit = ["-" if e.deadline_hit_rate is None else f"{e.deadline_hit_rate:.0%}"] if deadline else []
        if all_cut:  # every run stopped at the horizon, most before they began: no cost to show, only "too slow"
            cells = ["-", "-", f"> {e.makespan_h.mean:,.0f} h", "-"]
        else:
            cells = [_money(e.cost_usd.mean), _money(e.cost_usd.p95), f"{e.makespan_h.mean:,.0f} h",
                     f"{e.makespan_h.p95:,.0f} h"]
        t.add_row(name, *cells, *hit, ok, style="bold" if name == "plan" else None)
    return t


def comparison_note(rec: Recommendation) -> str:
    """What "meets" means, short enough for the comparison's title (a run cut at the horizon always misses)."""
    bound = "" if rec.p95_bound_h is None else f"P95 <= {rec.p95_bound_h:,.0f} h"
    hit = "hit >= 95%" if rec.plan.deadline_h is not None else ""
    return f"meets: {' and '.join(x for x in (hit, bound) if x) or 'always'}"


def _short_hours(h: float | None) -> str:
    return "-" if h is None else (f"{h:,.1f} h" if h < 10 else f"{h:,.0f} h")


def _step(prev: FrontierPoint | None, cur: FrontierPoint) -> str:
    """What this count costs and saves against the count before it (its doubling), e.g. "-2.7 d, +6%"."""
    if prev is None or prev.cost_mean_usd <= 0:
        return ""
    saved_h, cost = step(prev, cur)
    time = f"{abs(saved_h) / 24:,.1f} d" if abs(saved_h) >= 48 else f"{abs(saved_h):,.1f} h"
    return f"{'-' if saved_h >= 0 else '+'}{time}, {cost:+.0%}"


def frontier_table(rec: Recommendation) -> Table:
    """One row per node count: first rung, cost, makespan (mean, P95), hit rate, and the step from the count
    before (time saved at P95, extra cost); the plan and the Pareto-optimal counts marked."""
    deadline = rec.plan.deadline_h is not None
    cols = [("nodes", "right"), ("first rung", "left"), ("cost", "right"), ("makespan", "right"), ("P95", "right"),
            *([("hit", "right")] if deadline else []), ("vs fewer", "left")]
    t = _table("Node counts (* the plan, P Pareto-optimal; ~ closed form, not simulated)", cols)
    prev: FrontierPoint | None = None
    for p in rec.frontier:
        mark = ("*" if p.plan else " ") + ("P" if p.pareto else " ")
        hit = ["-" if p.deadline_hit_rate is None else f"{p.deadline_hit_rate:.0%}"] if deadline else []
        approx = "" if p.simulated else "~"
        t.add_row(f"{mark} {p.nodes}", p.head.replace(" on-demand", " od"), approx + _money(p.cost_mean_usd),
                  approx + _short_hours(p.makespan_mean_h), _short_hours(p.makespan_p95_h), *hit, _step(prev, p),
                  style="bold" if p.plan else None)
        prev = p
    return t


def gang_lines(rec: Recommendation) -> list[str]:
    """Wait for the full gang vs continue elastic, one line each (multi-node spot plans only)."""
    out = []
    for g in rec.gang_options:
        e = g.expected
        what = "wait for the full gang" if g.policy == "wait" else f"continue elastic (>= {g.min_nodes})"
        hit = "" if e.deadline_hit_rate is None else f", met {e.deadline_hit_rate:.0%}"
        out.append(f"{g.nodes} nodes, {what}: {_money(e.cost_usd.mean)}, {_short_hours(e.makespan_h.mean)}"
                   f" (P95 {_short_hours(e.makespan_h.p95)}){hit}")  # within 80 columns
    return out


def notice_lines(rec: Recommendation) -> list[str]:
    """Emergency-save feasibility, one line per cloud."""
    out = []
    for c in rec.notice_checks:
        verdict = "fits" if c.fits else "does NOT fit"
        out.append(f"{c.cloud}: {c.notice_s:.0f} s notice; an emergency save needs ~{c.expected_need_s:.0f} s "
                   f"(worst {c.worst_need_s:.0f} s): {verdict}")
    return out


def assumptions_table(rec: Recommendation) -> Table:
    """Every assumption with value, unit and source (the source wraps; nothing is cut)."""
    t = Table(title="Assumptions", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    t.add_column("name", overflow="fold")
    t.add_column("value", justify="right", overflow="fold")
    t.add_column("source", overflow="fold", ratio=1)
    for a in rec.plan.assumptions:
        v = f"{a.value:,.4g}" if isinstance(a.value, float) else (f"{a.value:,}" if isinstance(a.value, int)
                                                                   and not isinstance(a.value, bool) else str(a.value))
        t.add_row(a.name, f"{v} {a.unit}".strip(), a.source)
    return t


def _bullets(con: Console, title: str, items: Sequence[str]) -> None:
    if items:
        con.print(Text(title, style="bold"))
        for item in items:
            con.print(Text(f"- {item}"))


def render(rec: Recommendation, *, commands: Sequence[tuple[str, str]] = (), explain: bool = False,
           quiet: bool = False, console: Console | None = None, notes: Sequence[str] = ()) -> None:
    """Print the summary: headline and next commands; unless quiet, the ladder, baselines and the main reasons."""
    con = console or Console()
    for line in headline_lines(rec, ladder_follows=not quiet):
        con.print(Text(line))
    for w in [*notes, *rec.warnings]:
        con.print(Text(f"warning: {w}", style="yellow"))
    for line in next_lines(commands):
        con.print(Text(line), soft_wrap=True)  # a command stays one line, to copy whole
    if quiet:
        return
    con.print(ladder_table(rec))
    con.print(comparison_table(rec))
    for line in gang_lines(rec):
        con.print(Text(line))
    if rec.frontier:
        con.print(frontier_table(rec))
    if not explain:
        con.print(Text("--explain or -v: why this plan, notice per cloud, assumptions, sources", style="dim"))
        return
    con.print()
    _bullets(con, "Why", rec.reasons)
    _bullets(con, "Each step up in nodes (P95 makespan, mean cost)", doubling_lines(list(rec.frontier)))
    _bullets(con, "Interruption notice", notice_lines(rec))
    table = breakdown_table(rec)
    if table is not None:
        con.print()
        con.print(table)
    con.print()
    con.print(assumptions_table(rec))
    if rec.plan.data_as_of:
        _bullets(con, "Data as of", [f"{k}: {v}" for k, v in rec.plan.data_as_of.items()])
