"""Plain-word reasons, warnings, data as-of dates, per-rung assumptions and the progress bar of a recommendation.

Pure text built from search results; no numbers are computed here that the search did not produce.
Costs USD, times minutes/hours as printed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.request import RecommendRequest
from spotplan.advisor.savecost import NoticeCheck, SaveCosts
from spotplan.schemas.plan import Assumption, Market, Plan

PROGRESS_AFTER_S = 1.0  # the bar appears only when the search takes longer than this


@contextmanager
def progress_reporter(enabled: bool) -> Iterator[Callable[[str], None] | None]:
    """A callback that advances a transient rich progress bar (shown after ~1 s), or None when disabled."""
    import sys

    # On stderr, and only to a terminal: a transient bar on a pipe leaves a blank line in the summary.
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("simulating {task.description}"), BarColumn(), TimeElapsedColumn(),
                  transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("finalists", total=None)

        def report(label: str) -> None:
            bar.update(task, description=label, advance=1)

        yield report


def pool_assumptions(ladder: list[PoolOption]) -> list[Assumption]:
    """Price and interruption source of every rung."""
    out = []
    for i, p in enumerate(ladder, 1):
        out.append(Assumption(name=f"rung {i} price", value=round(p.price_usd_per_h, 4), unit="USD/h per instance",
                              source=f"{p.key}: {p.price_source}"))
        if p.mtbf_s is not None:
            out.append(Assumption(name=f"rung {i} MTBF", value=round(p.mtbf_s / 3600.0, 3), unit="h per instance",
                                  source=f"{p.key}: {p.interruption_source}"))
    return out


def data_as_of(catalog: Any, fitted: Any, history: Any | None, ladder: list[PoolOption]) -> dict[str, str]:
    """Data source -> as-of date for the catalog prices, the fit and a replayed history."""
    out: dict[str, str] = {}
    for p in ladder:
        spec = catalog.instance(p.instance_type)
        price = spec.prices.get(p.region)
        if price is not None:
            out[f"on-demand {p.instance_type} {p.region}"] = f"{price.as_of} ({price.source})"
    as_of = getattr(fitted, "as_of", None) or getattr(fitted, "created_utc", None)
    out["fitted spot behaviour"] = str(as_of) if as_of else "data/fitted/spot_behaviour.json"
    if history is not None and getattr(history, "as_of", None) is not None:
        out["price history (--prices)"] = str(history.as_of)
    return out


def _minutes(s: float) -> str:
    return f"{s / 60:.1f} min"


def reasons(result: Any, plan: Plan, checks: list[NoticeCheck], request: RecommendRequest) -> list[str]:
    """Why this plan, in plain words."""
    chosen = result.chosen
    first = plan.ladder[0]
    out = []
    spot = [p for p in plan.ladder if p.market is Market.SPOT]
    if spot:
        out.append(f"{first.instance_type} spot in {first.az_id or first.zone or first.region} has the lowest expected "
                   f"cost per token once interruptions are priced in (Daly's model at its fitted MTBF); "
                   f"{len(spot) - 1} further spot pool(s) follow as fallbacks")
    if plan.ladder[-1].market is Market.ON_DEMAND:
        out.append(f"on-demand {plan.ladder[-1].instance_type} in {plan.ladder[-1].region} is the last resort")
    if result.daly_interval_s:
        out.append(f"checkpoint every {_minutes(plan.checkpoint_interval_s)}: Daly's optimum for the first rung is "
                   f"{_minutes(result.daly_interval_s)} (Young {_minutes(result.young_interval_s)}); the SimPy replays "
                   + ("confirmed it (halving or doubling it was not significantly cheaper)"
                      if math.isclose(chosen.config.interval_s, result.closed_form_interval_s, rel_tol=1e-6)
                      else f"found {_minutes(chosen.config.interval_s)} significantly cheaper (paired t < -2)"))
    if request.interval_s is not None:
        out.append(f"interval fixed by request at {_minutes(request.interval_s)}")
    out.append(f"recovery {plan.recovery_strategy} scored best among the strategies tried on the same replays"
               if chosen.config.name.startswith("plan") else
               f"the search's best configuration is the '{chosen.config.name}' baseline itself")
    if request.deadline_h is not None:
        out.append(f"deadline {request.deadline_h:g} h: {plan.deadline_policy} policy, hit rate "
                   f"{chosen.hit_rate:.0%} of replays (target >= 95%)")
    out.append(_notice_reason(checks[0], plan))
    out.extend(_baseline_reasons(result, plan))
    return out


def _notice_reason(aws: NoticeCheck, plan: Plan) -> str:
    if aws.fits:
        return (f"an emergency save fits the {aws.notice_s:.0f} s notice (~{aws.expected_need_s:.0f} s needed), so "
                "little work is lost per interruption")
    persist_bytes = plan.model.checkpoint_bytes / plan.ladder[0].nodes
    budget_s = aws.notice_s - (aws.expected_need_s - plan.save_persist_s)
    need = f"; it would fit at >= {persist_bytes / budget_s / 1e9:.1f} GB/s per node" if budget_s > 0 else ""
    return (f"an emergency save does not fit the {aws.notice_s:.0f} s notice (~{aws.expected_need_s:.0f} s needed"
            f"{need}): the plan relies on periodic checkpoints, priced in the replays with the lost work since the "
            "last persisted one")


def _baseline_reasons(result: Any, plan: Plan) -> list[str]:
    out = []
    bound = result.p95_bound_h
    for b in result.baselines:
        if b.config.name == result.chosen.config.name:
            continue
        cheaper = b.expected.cost_usd.mean < plan.expected.cost_usd.mean
        if cheaper and b.cut_runs:
            out.append(f"baseline '{b.config.name}' looks cheaper (${b.expected.cost_usd.mean:,.0f}) only because "
                       f"{b.cut_runs} of its runs were cut at the horizon (1.5x the deadline/bound): they miss it")
        elif cheaper and bound is not None and b.expected.makespan_h.p95 > bound:
            out.append(f"baseline '{b.config.name}' is cheaper (${b.expected.cost_usd.mean:,.0f}) but its P95 makespan "
                       f"{b.expected.makespan_h.p95:,.0f} h exceeds the {bound:,.0f} h bound")
        elif cheaper:
            out.append(f"baseline '{b.config.name}' is cheaper (${b.expected.cost_usd.mean:,.0f}) but meets the "
                       f"deadline in only {b.hit_rate:.0%} of replays")
    return out


def _size(n: float) -> str:
    for div, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= div:
            return f"{n / div:,.3g} {unit}"
    return f"{n:,.0f} B"


def _same_device(measured: str, gpu_model: str) -> bool:
    """A CUDA device name ("NVIDIA H100 80GB HBM3") names the catalog's GPU model ("H100", "A100-80GB")."""
    return gpu_model.split("-")[0].casefold() in measured.casefold()


def calibration_note(calibration: Any, pool: PoolOption, costs: SaveCosts) -> str | None:
    """One line when the calibration was measured elsewhere than the plan runs: device, processes, state size.

    A calibration is measured by ``machine.world_size`` processes (``spotplan calibrate [--nproc N]``); the plan
    saves ``costs.bytes_per_node`` from ``gpus_per_node`` ranks on each node. None when device, world and sizes match.
    """
    if calibration is None:
        return None
    machine = calibration.machine
    ranks = pool.nodes * pool.gpus_per_node
    diffs = []
    if not _same_device(machine.device, pool.gpu_model):
        diffs.append(f"on {machine.device}, not {pool.gpu_model}")
    measured = machine.world_size
    if ranks != measured:
        diffs.append(f"by {measured} process{'es' if measured > 1 else ''}, not {ranks}")
    factor = costs.bytes_per_node / calibration.max_measured_bytes
    if factor > 1:
        diffs.append(f"with states up to {_size(calibration.max_measured_bytes)}, not {_size(costs.bytes_per_node)} "
                     f"per node: save times extrapolated {float(f'{factor:.3g}'):,.0f}x beyond the largest measured"
                     if factor >= 10 else f"per node: save times extrapolated {factor:.2g}x beyond the largest measured")
    if not diffs:
        return None
    return f"calibration measured {'; '.join(diffs)} (fit: a + bytes / bandwidth)"


def warnings(result: Any, request: RecommendRequest, costs: SaveCosts, history: Any | None) -> list[str]:
    """Things a user should double-check."""
    out = []
    note = calibration_note(request.calibration, result.chosen.config.ladder[0], costs)
    if note is not None:
        out.append(note)
    elif costs.extrapolated:
        out.append("save times are extrapolated beyond the largest calibrated checkpoint size")
    if request.deadline_h is not None and result.chosen.hit_rate < 0.95:
        out.append(f"no configuration meets the {request.deadline_h:g} h deadline in 95% of replays; the plan shown "
                   f"meets it in {result.chosen.hit_rate:.0%}")
    if request.p95_bound_h is not None and result.chosen.expected.makespan_h.p95 > request.p95_bound_h:
        out.append(f"P95 makespan {result.chosen.expected.makespan_h.p95:.1f} h exceeds --p95-max "
                   f"{request.p95_bound_h:g} h")
    if history is not None:
        out.extend(str(w) for w in getattr(history, "warnings", [])[:3])
    return out


def infeasible_line(closest: Any, request: RecommendRequest, nodes: int) -> str:
    """One line: nothing meets the deadline (or --p95-max) in >= 95% of replays; the closest option and its figures."""
    e = closest.expected
    first = closest.config.ladder[0]
    gang = f"{nodes}x {first.instance_type}" if nodes > 1 else first.instance_type
    cut = f", {closest.cut_runs} run(s) cut at the horizon" if closest.cut_runs else ""
    if request.deadline_h is not None:
        target, flag = f"--deadline {request.deadline_h:g}h in >= 95% of replays", "--deadline"
        what = f"meets it in {closest.hit_rate:.0%} of {e.runs} replays (P95 makespan {e.makespan_h.p95:,.1f} h{cut})"
    else:
        target, flag = f"--p95-max {request.p95_bound_h:g}h", "--p95-max"
        what = f"has a P95 makespan of {e.makespan_h.p95:,.1f} h{cut}"
    return (f"no option meets {target}: the closest, '{closest.config.name}' ({gang} {first.market.value} first, "
            f"{len(closest.config.ladder)} rung(s)), {what}; raise {flag}, or allow more --max-nodes or other "
            "--families")


def node_reason(nodes: int, frontier: Any, request: RecommendRequest) -> str:
    """Why this node count: the objective it met, among the counts searched (``spotplan.advisor.nodes``)."""
    counts = ", ".join(str(p.nodes) for p in frontier)
    if request.nodes is not None:
        return f"{nodes} node(s): fixed by --nodes"
    if request.deadline_h is not None:
        goal = f"the cheapest count whose plan meets the {request.deadline_h:g} h deadline in >= 95% of replays"
    elif request.p95_bound_h is not None:
        goal = f"the cheapest count within --p95-max {request.p95_bound_h:g} h"
    else:
        goal = "the cheapest count whose P95 makespan is within 30 days (no --deadline given)"
    return f"{nodes} node(s): {goal}, among {counts} (the Node counts table shows what the others cost and take)"
