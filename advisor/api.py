"""``recommend(request) -> Recommendation``: the advisor's one entry point (CLI, dashboard, regression).

Sizes the job, builds candidate pools, checks the deadline against the fastest possible run, searches
ladders and intervals (closed form, fast path, then SimPy on the same replays as three baselines) and
assembles the Plan. Never imports torch or streamlit. Times seconds/hours as named, costs USD.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from spotplan.advisor import narrative
from spotplan.advisor.candidates import (
    PoolOption,
    PriceSource,
    build_pools,
    check_regions,
    fitting_types,
    load_history,
)
from spotplan.advisor.ladder import CHANGEOVER_SOURCE, PROVISION_S, SETUP_S, JobTimes, rank_pools
from spotplan.advisor.optimize import DEADLINE_TARGET, PATIENCE, feasible, search
from spotplan.advisor.plan import assumptions, build_plan, inputs_sha256, to_pool
from spotplan.advisor.recommendation import BaselineResult, Recommendation
from spotplan.advisor.request import RecommendRequest
from spotplan.advisor.savecost import DETECTION_LAG_S, NOTICE_SOURCE, NoticeCheck, notice_checks, save_costs
from spotplan.advisor.scoring import Scored, SimSettings, scoring_pool
from spotplan.advisor.sizing import JobSizing, parse_model_size, size_job
from spotplan.errors import InfeasibleError
from spotplan.schemas.plan import Assumption, Expected, Market, NoticeHandling

if TYPE_CHECKING:
    from spotplan.simulator.market.catalog import Catalog
    from spotplan.simulator.market.fitted import FittedBehaviour
    from spotplan.simulator.market.prices import PriceHistory

DEADLINE_COMPUTE_SHARE = 0.8  # size the gang so pure compute uses at most 80% of the deadline


def _scale_for_deadline(pools: list[PoolOption], work_tokens: float, deadline_h: float | None,
                        max_nodes: int) -> list[PoolOption]:
    """More nodes of 8-GPU types when one gang would use more than 80% of the deadline on compute."""
    if deadline_h is None:
        return pools
    out = []
    for p in pools:
        compute_h = work_tokens / p.tokens_per_s / 3600.0
        need = math.ceil(p.nodes * compute_h / (deadline_h * DEADLINE_COMPUTE_SHARE))
        if need > p.nodes and p.gpus_per_node >= 8:
            n = min(max_nodes, need)
            p = replace(p, nodes=n, tokens_per_s=p.tokens_per_s * n / p.nodes)
        out.append(p)
    return out


def _check_deadline(pools: list[PoolOption], job: JobSizing, deadline_h: float | None, max_nodes: int) -> None:
    """InfeasibleError when even the fastest gang on on-demand cannot finish by the deadline."""
    if deadline_h is None:
        return
    fastest = min(pools, key=lambda p: job.tokens / (p.tokens_per_s * (max_nodes / p.nodes if p.gpus_per_node >= 8
                                                                      else 1.0)))
    speed = fastest.tokens_per_s * (max_nodes / fastest.nodes if fastest.gpus_per_node >= 8 else 1.0)
    nodes = max_nodes if fastest.gpus_per_node >= 8 else fastest.nodes
    best_h = job.tokens / speed / 3600.0 + (PROVISION_S + SETUP_S) / 3600.0
    if deadline_h < best_h:
        raise InfeasibleError(
            f"--deadline {deadline_h:g}h is shorter than the fastest possible run ({best_h:.1f} h on {nodes}x "
            f"{fastest.instance_type} on-demand, no interruptions); raise --deadline to at least {math.ceil(best_h)}h "
            "or lower --tokens"
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

    Job sizing, the fitting candidate pools (scaled for a deadline), per-node save costs and the SimPy
    settings of the head pool: everything before the search, with no simulation run yet.
    """

    catalog: Catalog
    fitted: FittedBehaviour
    history: PriceHistory | None
    job: JobSizing
    pools: list[PoolOption]
    times: JobTimes
    notice_checks: tuple[NoticeCheck, ...]  # the request's notice (or AWS's) first, then the other clouds'
    settings: SimSettings


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
    _check_deadline(pools, job, request.deadline_h, request.max_nodes)
    pools = _scale_for_deadline(pools, job.tokens, request.deadline_h, request.max_nodes)
    ref_tps = max(p.tokens_per_s for p in pools)
    saves = {n: save_costs(job.checkpoint_bytes, n, calibration=request.calibration,
                           persist_bytes_per_s=request.save_bandwidth_bytes_per_s) for n in {p.nodes for p in pools}}
    times = JobTimes(work_ref_s=job.tokens / ref_tps, ref_tokens_per_s=ref_tps, saves=saves)
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
                    notice_checks=checks, settings=settings)


def recommend(request: RecommendRequest, *, progress: bool = False) -> Recommendation:
    """Plan a training job: ladder, checkpoint interval, expected cost and makespan, baselines."""
    t0 = time.perf_counter()
    prep = prepare(request)
    catalog, fitted, history, job = prep.catalog, prep.fitted, prep.history, prep.job
    pools, times, settings = prep.pools, prep.times, prep.settings
    checks = list(prep.notice_checks)
    primary = checks[0]
    saves = times.saves
    # the scoring workers are forked before the progress bar's thread starts (see scoring.can_fork)
    with scoring_pool(settings.workers) as pool, narrative.progress_reporter(progress) as report:
        result = search(pools, settings, deadline_h=request.deadline_h, p95_bound_h=request.p95_bound_h,
                        prefer_regions=request.prefer_regions, interval_override_s=request.interval_s,
                        progress=report, pool=pool)
    chosen = result.chosen
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
                   (f"implied without --deadline: {PATIENCE:g} x the on-demand baseline's P95 makespan (spotplan "
                    "default; otherwise waiting unbilled for one pool always looks cheapest)")
                   if result.p95_bound_h is not None else "none (a deadline is set)"),
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
    reasons = narrative.reasons(result, plan, checks, request)
    wall = time.perf_counter() - t0
    return Recommendation(
        plan=plan, baseline_results=base_results, interval_sweep=result.sweep, scenario=chosen.scenario,
        reasons=reasons, notice_checks=checks, gpus_per_node=ladder[0].gpus_per_node, p95_bound_h=result.p95_bound_h,
        daly_interval_s=result.daly_interval_s, young_interval_s=result.young_interval_s,
        warnings=narrative.warnings(result, request, costs, history),
        timing_s={"wall_s": wall, "simpy_s": result.simpy_s,
                  "simpy_configs": float(len(result.finalists) + len(result.baselines))},
    )


__all__ = ["Market", "RecommendRequest", "Recommendation", "recommend"]
