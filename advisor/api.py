"""``recommend(request) -> Recommendation``: the advisor's one entry point (CLI, dashboard, regression).

Sizes the job, builds candidate pools, checks the deadline against the fastest possible run (the largest node
count searched, on-demand), decides the node count (``spotplan.advisor.scan``: each count's ladder on the first
replays), searches ladders and intervals at that count (closed form, fast path, then SimPy on the same replays
as three baselines), refuses in one line when nothing meets the deadline or --p95-max, and assembles the Plan
with the cost/time frontier across counts. Never imports torch or streamlit. Times seconds/hours as named,
costs USD.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spotplan.advisor import narrative
from spotplan.advisor.candidates import (
    MULTI_NODE_MIN_GPUS,
    PoolOption,
    PriceSource,
    build_pools,
    check_regions,
    fitting_types,
    load_history,
)
from spotplan.advisor.ladder import CHANGEOVER_SOURCE, PROVISION_S, SETUP_S, JobTimes, rank_pools
from spotplan.advisor.nodes import MAKESPAN_CAP_SOURCE, node_counts
from spotplan.advisor.optimize import DEADLINE_TARGET, feasible, search
from spotplan.advisor.plan import assumptions, build_plan, inputs_sha256, to_pool
from spotplan.advisor.recommendation import BaselineResult, Recommendation
from spotplan.advisor.request import RecommendRequest
from spotplan.advisor.savecost import DETECTION_LAG_S, NOTICE_SOURCE, NoticeCheck, notice_checks, save_costs
from spotplan.advisor.scoring import ScoreCache, Scored, SimSettings, scoring_pool
from spotplan.advisor.sizing import (
    DEFAULT_DP_EFFICIENCY,
    DP_EFFICIENCY_SOURCE,
    JobSizing,
    parse_model_size,
    scaled_tokens_per_s,
    size_job,
)
from spotplan.errors import InfeasibleError
from spotplan.schemas.plan import Assumption, Expected, Market, NoticeHandling

if TYPE_CHECKING:
    from spotplan.simulator.market.catalog import Catalog
    from spotplan.simulator.market.fitted import FittedBehaviour
    from spotplan.simulator.market.prices import PriceHistory

def _check_deadline(pools: list[PoolOption], job: JobSizing, deadline_h: float | None, counts: list[int],
                    dp_efficiency: float) -> None:
    """InfeasibleError when even the fastest gang searched, on-demand, cannot finish by the deadline."""
    if deadline_h is None:
        return
    best: tuple[float, PoolOption] | None = None
    for p in pools:
        if p.market is not Market.ON_DEMAND:
            continue
        for n in counts:
            if n == p.nodes or (n > p.nodes and p.gpus_per_node >= MULTI_NODE_MIN_GPUS):
                q = replace(p, nodes=n, tokens_per_s=scaled_tokens_per_s(p.tokens_per_s, p.nodes, n, dp_efficiency))
                h = job.tokens / q.tokens_per_s / 3600.0 + (PROVISION_S + SETUP_S) / 3600.0
                if best is None or h < best[0]:
                    best = (h, q)
    if best is not None and deadline_h < best[0]:
        h, q = best
        raise InfeasibleError(
            f"--deadline {deadline_h:g}h is shorter than the fastest possible run ({h:,.1f} h on {q.nodes}x "
            f"{q.instance_type} on-demand, no interruptions, {dp_efficiency:g} efficiency per doubling); raise "
            f"--deadline to at least {math.ceil(h)}h, or lower --tokens, or allow more --max-nodes/--families"
        )


def _expected(s: Scored, od_cost: float | None) -> Expected:
    e = s.expected
    if od_cost is None or od_cost <= 0:
        return e
    return e.model_copy(update={"on_demand_cost_usd": od_cost,
                                "savings_vs_on_demand": 1.0 - e.cost_usd.mean / od_cost})


def _data_files(request: RecommendRequest) -> dict[str, Path]:
    from spotplan.simulator.market import catalog, fitted

    files = {"catalog": Path(catalog.CATALOG_DIR), "fitted": Path(fitted.FITTED_PATH).parent}
    if request.prices_path is not None:
        files["prices"] = Path(request.prices_path)
    return files


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """The advisor's first stage, shared by ``recommend`` and the dashboard's quick plan.

    Job sizing, the fitting candidate pools (each at its memory minimum of nodes; ``nodes.pools_at`` scales them
    to a count), the node counts to search, save costs per count and the SimPy settings of the cheapest pool:
    everything before the search, with no simulation run yet.
    """

    catalog: Catalog
    fitted: FittedBehaviour
    history: PriceHistory | None
    job: JobSizing
    pools: list[PoolOption]
    times: JobTimes
    notice_checks: tuple[NoticeCheck, ...]  # the request's notice (or AWS's) first, then the other clouds'
    settings: SimSettings
    node_counts: list[int]
    dp_efficiency: float


def prepare(request: RecommendRequest) -> Prepared:
    """Validate the request against the catalog and size everything the search needs (pure, no SimPy)."""
    from spotplan.simulator.market.catalog import load_catalog
    from spotplan.simulator.market.fitted import load_fitted

    catalog = load_catalog()
    check_regions(request.regions, catalog)
    check_regions(request.prefer_regions, catalog)
    job = size_job(parse_model_size(request.model_size), mode=request.mode, tokens=request.tokens, mfu=request.mfu)
    fits = fitting_types(job, catalog, request.families, request.max_nodes)
    fitted = load_fitted()
    history = load_history(request.prices_path)
    prices = PriceSource(fitted, history, request.price_multiplier)
    pools = build_pools(fits, catalog, prices, regions=request.regions,
                        interruption_multiplier=request.interruption_multiplier)
    if request.traces:  # plan on replayed availability traces (spotplan.advisor.traces)
        from spotplan.advisor.traces import trace_pools

        pools = trace_pools(pools, request.traces, tick_prices=request.tick_prices_path, history=history,
                            price_multiplier=request.price_multiplier, catalog=catalog)
    if not pools:
        raise InfeasibleError(f"no fitting instance type is offered in --regions {','.join(request.regions)}; "
                              f"widen --regions (catalog: {', '.join(catalog.regions())})")
    counts = node_counts(pools, job, max_nodes=request.max_nodes, fixed=request.nodes)
    eff = request.dp_efficiency if request.dp_efficiency is not None else DEFAULT_DP_EFFICIENCY
    _check_deadline(pools, job, request.deadline_h, counts, eff)
    ref_tps = max(p.tokens_per_s for p in pools)
    saves = {n: save_costs(job.checkpoint_bytes, n, calibration=request.calibration,
                           persist_bytes_per_s=request.save_bandwidth_bytes_per_s)
             for n in {p.nodes for p in pools} | set(counts)}
    times = JobTimes(work_ref_s=job.tokens / ref_tps, ref_tokens_per_s=ref_tps, saves=saves,
                     checkpoint_bytes=job.checkpoint_bytes)
    head = rank_pools(pools, times)[0].pool
    checks = tuple(notice_checks(saves[head.nodes], job.global_batch_tokens / head.tokens_per_s, request.notice_s))
    primary = checks[0]
    settings = SimSettings(
        times=times, step_time_ref_s=job.global_batch_tokens / ref_tps, checkpoint_bytes=job.checkpoint_bytes,
        keep_last=3, notice_s=primary.notice_s, emergency_save=primary.fits, deadline_h=request.deadline_h,
        runs=request.runs, seed=request.seed,
        prices_path=str(request.prices_path) if request.prices_path is not None else None,
        interruption_multiplier=request.interruption_multiplier,
    )
    return Prepared(catalog=catalog, fitted=fitted, history=history, job=job, pools=pools, times=times,
                    notice_checks=checks, settings=settings, node_counts=counts, dp_efficiency=eff)


def _traces_block(request: RecommendRequest, scenario: Any) -> dict[str, Any] | None:
    """recommend --traces: the files replayed and the plan's regret on tiled windows (``advisor.traces``)."""
    if not request.traces:
        return None
    from spotplan.advisor.traces import traces_block

    return traces_block(request, scenario)


def recommend(request: RecommendRequest, *, progress: bool = False) -> Recommendation:
    """Plan a training job: node count, ladder, checkpoint interval, expected cost and makespan, baselines and
    the cost/time frontier across node counts. InfeasibleError (exit 2) when nothing meets the deadline/bound."""
    from spotplan.advisor import scan

    t0 = time.perf_counter()
    prep = prepare(request)
    catalog, fitted, history, job = prep.catalog, prep.fitted, prep.history, prep.job
    times = prep.times
    # the scoring workers are forked before the progress bar's thread starts (see scoring.can_fork)
    with scoring_pool(prep.settings.workers) as pool, narrative.progress_reporter(progress) as report:
        cache = ScoreCache()
        options = scan.scan(prep, request, pool=pool, cache=cache, progress=report)
        count = scan.choose_count(options, request)
        scan_s = time.perf_counter() - t0
        result = search(count.pools, count.settings, deadline_h=request.deadline_h,
                        p95_bound_h=count.limit.p95_bound_h, prefer_regions=request.prefer_regions,
                        interval_override_s=request.interval_s, progress=report, pool=pool,
                        on_demand=scan.on_demand_over_counts(options, request, times), cache=cache)
        gangs = scan.gang_options(result.chosen, result.settings, prep, request, pool=pool, cache=cache)
    chosen = result.chosen
    if not feasible(chosen, request.deadline_h, result.p95_bound_h) and (
            request.deadline_h is not None or request.p95_bound_h is not None):
        raise InfeasibleError(narrative.infeasible_line(chosen, request, count.nodes))
    frontier = scan.frontier(options, count, chosen)
    checks = list(notice_checks(times.save(count.nodes), job.global_batch_tokens
                                / rank_pools(count.pools, times)[0].pool.tokens_per_s, request.notice_s))
    primary = checks[0]
    saves = times.saves
    od = next((b for b in result.baselines if b.config.name == "on-demand"), None)
    od_cost = od.expected.cost_usd.mean if od else None
    ladder = list(chosen.config.ladder)
    costs = saves[ladder[0].nodes]
    notice = NoticeHandling(notice_s=primary.notice_s, emergency_save=primary.notice_s > 0, emergency_save_fits=primary.fits,
                            imds_poll_s=5.0, detection_lag_s=DETECTION_LAG_S)
    extra = [
        Assumption(name="notice", value=primary.notice_s, unit="s",
                   source="--notice" if request.notice_s is not None else NOTICE_SOURCE),
        Assumption(name="changeover", value=PROVISION_S + SETUP_S, unit="s", source=CHANGEOVER_SOURCE),
        Assumption(name="deadline target", value=DEADLINE_TARGET,
                   source="spotplan: a plan meets a deadline when >= 95% of replays finish in time"),
        Assumption(name="Monte Carlo runs", value=request.runs, source="--runs (same seed and replays for all)"),
        Assumption(name="P95 makespan bound", value=None if result.p95_bound_h is None else round(result.p95_bound_h, 3),
                   unit="h", source="--p95-max" if request.p95_bound_h is not None else
                   MAKESPAN_CAP_SOURCE if result.p95_bound_h is not None else "none (a deadline is set)"),
        Assumption(name="nodes", value=count.nodes, source="--nodes" if request.nodes is not None else
                   f"searched {', '.join(map(str, prep.node_counts))} (powers of two and the memory minimum, up to "
                   f"--max-nodes {request.max_nodes}); see the frontier"),
        Assumption(name="data-parallel efficiency", value=prep.dp_efficiency, unit="per doubling",
                   source="--dp-efficiency" if request.dp_efficiency is not None else DP_EFFICIENCY_SOURCE),
        *narrative.pool_assumptions(ladder),
    ]
    digest = inputs_sha256(request, _data_files(request))
    plan = build_plan(
        request=request, job=job, costs=costs, ladder=ladder, interval_s=chosen.config.interval_s,
        recovery_strategy=chosen.config.recovery, deadline_policy=chosen.config.deadline_policy, notice=notice,
        expected=_expected(chosen, od_cost), assumption_list=assumptions(request, job, costs, ladder[0], extra),
        data_as_of=narrative.data_as_of(catalog, fitted, history, ladder), digest=digest,
    )
    base_results = {
        b.config.name: BaselineResult(
            name=b.config.name, description=b.config.description,
            ladder=[to_pool(p, b.config.ladder[0].tokens_per_s) for p in b.config.ladder],
            checkpoint_interval_s=b.config.interval_s, recovery_strategy=b.config.recovery,
            expected=_expected(b, od_cost), compliant=feasible(b, request.deadline_h, result.p95_bound_h),
            cut_runs=b.cut_runs,
        )
        for b in result.baselines
    }
    reasons = [narrative.node_reason(count.nodes, frontier, request), *narrative.reasons(result, plan, checks, request)]
    wall = time.perf_counter() - t0
    return Recommendation(
        plan=plan, baseline_results=base_results, interval_sweep=result.sweep, scenario=chosen.scenario,
        reasons=reasons, notice_checks=checks, gpus_per_node=ladder[0].gpus_per_node, p95_bound_h=result.p95_bound_h,
        daly_interval_s=result.daly_interval_s, young_interval_s=result.young_interval_s,
        warnings=narrative.warnings(result, request, costs, history), frontier=frontier, gang_options=gangs,
        traces=_traces_block(request, chosen.scenario), breakdown=chosen.breakdown,
        timing_s={"wall_s": wall, "simpy_s": result.simpy_s, "node_scan_s": scan_s,
                  "simpy_configs": float(len(result.finalists) + len(result.baselines)
                                         + sum(o.scored is not None for o in options))},
    )


__all__ = ["Market", "RecommendRequest", "Recommendation", "recommend"]
