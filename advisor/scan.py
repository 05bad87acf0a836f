"""The node-count scan: at each count the closed-form ladder, SimPy for the counts worth it, and the choice.

At every count searched (``nodes.node_counts``) the advisor builds the ladder it would plan there
(``optimize.first_stage`` on ``nodes.pools_at``) and scores its ladder and strategy variants on the first
``SCAN_RUNS`` of the shared replays (same seed, same offsets as the plan's own runs: common random numbers),
unless its closed-form makespan is past the simulation horizon: such a count cannot meet the limit, and its runs
(a gang that is rarely all up) would be the slowest of the whole search. The choice follows
``spotplan.advisor.nodes``'s objective; the full search (all the runs, interval refinement, baselines) then runs
at the chosen count only, and the frontier shows the plan there and the scan's best variant elsewhere.
Times are hours where named ``_h``, else seconds; costs USD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from spotplan.advisor.baselines import on_demand_baseline
from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.frontier import FrontierPoint, mark_pareto
from spotplan.advisor.ladder import rank_pools, score_pool
from spotplan.advisor.nodes import MAKESPAN_CAP_H, Limit, implied_bound_h, pools_at
from spotplan.advisor.optimize import (
    HORIZON_FACTOR,
    FirstStage,
    choose,
    closest,
    feasible,
    first_stage,
    ladder_variants,
)
from spotplan.advisor.savecost import notice_checks
from spotplan.advisor.scoring import Config, ScoreCache, Scored, ScoringPool, SimSettings
from spotplan.advisor.sizing import DEFAULT_DP_EFFICIENCY, max_data_parallel_gpus
from spotplan.schemas.plan import Market

SCAN_RUNS = 16  # replays per count in the scan: the first 16 of the plan's own (same seed, same offsets)
DEADLINE_COMPUTE_SHARE = 0.8  # under a deadline, spot rungs need on-demand alone to leave 20% of it as slack


@dataclass(frozen=True, slots=True, kw_only=True)
class CountOption:
    """One node count: its pools, limit, closed-form ladder, settings and (where simulated) its SimPy figures."""

    nodes: int
    pools: list[PoolOption]
    limit: Limit
    stage: FirstStage
    settings: SimSettings
    closed_form_h: float  # the ladder head alone, Daly's model (on-demand: one uninterrupted run)
    closed_form_usd: float
    scored: Scored | None  # the best variant on SimPy; None: not simulated (``note`` says why)
    note: str = ""

    def meets(self, request: Any) -> bool:
        """Simulated, meets its limit, and without --deadline/--p95-max keeps its P95 within 30 days."""
        if self.scored is None or not feasible(self.scored, self.limit.deadline_h, self.limit.p95_bound_h):
            return False
        user = request.deadline_h is not None or request.p95_bound_h is not None
        return user or self.scored.expected.makespan_h.p95 <= MAKESPAN_CAP_H


def settings_at(base: SimSettings, job: Any, pools: list[PoolOption], notice_s: float | None) -> SimSettings:
    """``base`` with the notice check of this count's head pool (per-node save bytes shrink with the count)."""
    head = rank_pools(pools, base.times)[0].pool
    check = notice_checks(base.times.save(head.nodes), job.global_batch_tokens / head.tokens_per_s, notice_s)[0]
    return replace(base, notice_s=check.notice_s, emergency_save=check.fits)


def count_options(prep: Any, request: Any) -> list[CountOption]:
    """Every count searched, in closed form only (no simulation): pools, limit, ladder, settings."""
    eff = request.dp_efficiency if request.dp_efficiency is not None else DEFAULT_DP_EFFICIENCY
    out = []
    for n in prep.node_counts:
        pools = pools_at(prep.pools, n, prep.times, eff, max_data_parallel_gpus(prep.job))
        if not pools:
            continue
        od = on_demand_baseline(pools, prep.times, request.deadline_h)
        od_h = None if od is None else score_pool(od.ladder[0], prep.times).wall_s / 3600.0
        p95 = request.p95_bound_h if request.p95_bound_h is not None or request.deadline_h is not None \
            else implied_bound_h(od_h)
        limit = Limit(deadline_h=request.deadline_h, p95_bound_h=p95)
        stage = _stage(pools, prep, request, p95)
        if _no_room_for_spot(stage, od_h, limit):
            pools = [p for p in pools if p.market is Market.ON_DEMAND]
            stage = _stage(pools, prep, request, p95)
        horizon_h = limit.horizon_h
        if request.deadline_h is None and request.p95_bound_h is None and horizon_h is not None:
            horizon_h = min(horizon_h, HORIZON_FACTOR * MAKESPAN_CAP_H)  # past 30 days a count is not a candidate
        settings = replace(settings_at(prep.settings, prep.job, pools, request.notice_s), horizon_h=horizon_h)
        cf_h, cf_usd = stage.first.wall_s / 3600.0, stage.first.cost_usd
        note = f"closed form {cf_h:,.0f} h, past the {horizon_h:,.0f} h horizon" \
            if horizon_h is not None and cf_h > horizon_h else ""
        if not _has_spot(stage):
            note = note or "on-demand only: no spot gang of this size can help"
        out.append(CountOption(nodes=n, pools=pools, limit=limit, stage=stage, settings=settings, closed_form_h=cf_h,
                               closed_form_usd=cf_usd, scored=None, note=note))
    return out


def _stage(pools: list[PoolOption], prep: Any, request: Any, p95_h: float | None) -> FirstStage:
    return first_stage(pools, prep.times, head_bound_h=request.deadline_h or p95_h, deadline_h=request.deadline_h,
                       prefer_regions=request.prefer_regions, interval_override_s=request.interval_s)


def past_horizon(o: CountOption) -> bool:
    """The count's closed-form makespan is past its simulation horizon: it is shown, not simulated."""
    h = o.settings.horizon_h
    return h is not None and o.closed_form_h > h


def scan(prep: Any, request: Any, *, pool: ScoringPool | None, cache: ScoreCache,
         progress: Callable[[str], None] | None = None) -> list[CountOption]:
    """Every count searched, closed form first; where the closed form is within the horizon, the ladder and
    strategy variants the search starts from (``optimize.ladder_variants``) on SimPy, the best of them kept."""
    out = []
    for o in count_options(prep, request):
        if not past_horizon(o):
            if progress:
                progress(f"{o.nodes} node(s)")
            cfgs = [c for c in ladder_variants(o.stage.config, request.deadline_h) if _in_scan(c)] \
                if _has_spot(o.stage) else [o.stage.config]
            quick = replace(o.settings, runs=min(o.settings.runs, SCAN_RUNS))  # the first replays of the plan's
            scored = cache.score_many(cfgs, quick, pool=pool, workers=1 if pool is None else None)
            o = replace(o, scored=choose(scored, o.limit.deadline_h, o.limit.p95_bound_h))
        out.append(o)
    return out


def closed_form_count(options: list[CountOption]) -> CountOption:
    """The dashboard's quick choice: the cheapest count whose closed-form makespan meets its limit, else the
    fastest (the full advisor decides on the replays, ``choose_count``)."""
    def meets(o: CountOption) -> bool:
        limit = o.limit.deadline_h if o.limit.deadline_h is not None else o.limit.p95_bound_h
        return limit is None or o.closed_form_h <= limit

    ok = [o for o in options if meets(o)]
    if ok:
        return min(ok, key=lambda o: (o.closed_form_usd, o.nodes))
    return min(options, key=lambda o: (o.closed_form_h, o.nodes))


def _no_room_for_spot(stage: FirstStage, od_h: float | None, limit: Limit) -> bool:
    """Spot rungs cannot help at this count: under a deadline, on-demand alone needs more than
    ``DEADLINE_COMPUTE_SHARE`` of it (Uniform Progress has no slack to spend on spot's interruptions); without
    one, the spot head alone is slower than the P95 bound (closed form) while on-demand meets it."""
    if od_h is None or not any(p.market is Market.SPOT for p in stage.ladder):
        return False
    if limit.deadline_h is not None:
        return od_h > DEADLINE_COMPUTE_SHARE * limit.deadline_h
    bound = limit.p95_bound_h
    return bound is not None and stage.first.wall_s / 3600.0 > bound and od_h <= bound


SCAN_SKIPS = ("failover", "cost-aware")  # scored at the chosen count only: failover rarely wins, and the cost-aware
# deadline policy's runs are the slowest of the variants (x5-10 the scan's time for 1.3B by 300 h)


def _in_scan(c: Config) -> bool:
    return c.recovery not in SCAN_SKIPS and c.deadline_policy not in SCAN_SKIPS


def _has_spot(stage: FirstStage) -> bool:
    return any(p.market is Market.SPOT for p in stage.ladder)


def choose_count(options: list[CountOption], request: Any) -> CountOption:
    """The objective of ``spotplan.advisor.nodes``: the cheapest count that meets the limit; else, under a user
    deadline/bound, the closest count (the full search there may still find a feasible variant, or names it);
    else the fastest count."""
    ok = [o for o in options if o.meets(request)]
    if ok:
        return min(ok, key=lambda o: (o.scored.expected.cost_usd.mean, o.nodes))  # type: ignore[union-attr]
    simulated = [o for o in options if o.scored is not None]
    if not simulated:
        return min(options, key=lambda o: (o.closed_form_h, o.nodes))
    if request.deadline_h is not None or request.p95_bound_h is not None:
        best = closest([o.scored for o in simulated if o.scored is not None])
        return next(o for o in simulated if o.scored is best)
    return min(simulated, key=lambda o: (o.scored.expected.makespan_h.p95, o.nodes))  # type: ignore[union-attr]


def on_demand_over_counts(options: list[CountOption], request: Any, times: Any) -> Config | None:
    """The on-demand baseline over every count: cheapest per token within the deadline (or the --p95-max, or
    30 days without either); the fastest when none is (``baselines.on_demand_baseline``)."""
    od = [p for o in options for p in o.pools if p.market is Market.ON_DEMAND]
    limit = request.deadline_h if request.deadline_h is not None else (request.p95_bound_h or MAKESPAN_CAP_H)
    return on_demand_baseline(od, times, limit)


def _label(p: PoolOption) -> str:
    return f"{p.instance_type} {p.market.value}"


def frontier(options: list[CountOption], chosen: CountOption, plan: Scored) -> tuple[FrontierPoint, ...]:
    """One point per count (the plan at its own), Pareto-optimal points marked."""
    points = []
    for o in options:
        s = plan if o is chosen else o.scored
        ladder = s.config.ladder if s is not None else o.stage.ladder
        common: dict[str, Any] = {"nodes": o.nodes, "head": _label(ladder[0]), "ladder": tuple(p.key for p in ladder),
                                  "plan": o is chosen, "note": o.note}
        if s is None:
            points.append(FrontierPoint(**common, cost_mean_usd=o.closed_form_usd, cost_p95_usd=None,
                                        makespan_mean_h=o.closed_form_h, makespan_p95_h=None, deadline_hit_rate=None,
                                        runs=0, simulated=False, feasible=False))
            continue
        e = s.expected
        if s.cut_runs:
            common["note"] = f"{s.cut_runs} run(s) cut at the horizon: the cost is a lower bound"
        points.append(FrontierPoint(**common, cost_mean_usd=e.cost_usd.mean, cost_p95_usd=e.cost_usd.p95,
                                    makespan_mean_h=e.makespan_h.mean, makespan_p95_h=e.makespan_h.p95,
                                    deadline_hit_rate=e.deadline_hit_rate, runs=e.runs, simulated=True,
                                    feasible=feasible(s, o.limit.deadline_h, o.limit.p95_bound_h)))
    return tuple(mark_pareto(points))


@dataclass(frozen=True, slots=True, kw_only=True)
class GangOption:
    """The plan with one gang policy: wait for the full gang, or continue elastic down to ``min_nodes``."""

    policy: str  # "wait" or "elastic"
    nodes: int
    min_nodes: int
    expected: Any  # spotplan.schemas.plan.Expected on the plan's replays

    def to_json(self) -> dict[str, Any]:
        """The ``gang_options`` entry of ``recommend --json``."""
        e = self.expected
        return {"policy": self.policy, "nodes": self.nodes, "min_nodes": self.min_nodes,
                "cost_mean_usd": e.cost_usd.mean, "cost_p95_usd": e.cost_usd.p95,
                "makespan_mean_h": e.makespan_h.mean, "makespan_p95_h": e.makespan_h.p95,
                "deadline_hit_rate": e.deadline_hit_rate}


def gang_options(plan: Scored, settings: SimSettings, prep: Any, request: Any, *, pool: ScoringPool | None,
                 cache: ScoreCache) -> tuple[GangOption, ...]:
    """For a multi-node plan with spot rungs: the plan as it is (wait for the full gang) and the same plan
    continuing elastic (``spotplan.simulator.gang``) down to half its nodes, or the nodes that hold the job where
    more, on the same replays; () where the gang cannot shrink, and under a deadline policy (the simulator does
    not model an elastic gang with Uniform Progress or greedy yet)."""
    ladder = plan.config.ladder
    n = ladder[0].nodes
    types = {p.instance_type for p in ladder}
    if n < 2 or not any(p.market is Market.SPOT for p in ladder) or plan.config.deadline_policy != "none":
        return ()
    hold = max((p.nodes for p in prep.pools if p.instance_type in types), default=n)
    min_nodes = max(hold, -(-n // 2))
    if min_nodes >= n:
        return ()
    eff = request.dp_efficiency if request.dp_efficiency is not None else DEFAULT_DP_EFFICIENCY
    cfg = replace(plan.config, name=f"{plan.config.name}-elastic", gang="elastic", min_nodes=min_nodes,
                  dp_efficiency=eff, description=f"{plan.config.description}, elastic down to {min_nodes} nodes")
    elastic = cache.score_many([cfg], settings, pool=pool, workers=1 if pool is None else None)[0]
    return (GangOption(policy="wait", nodes=n, min_nodes=n, expected=plan.expected),
            GangOption(policy="elastic", nodes=n, min_nodes=min_nodes, expected=elastic.expected))
