"""Interval and ladder search: closed-form/fast-path scan, then SimPy Monte Carlo scoring of finalists.

1. Scan: every pool is scored alone with Daly's model; the ladder is built from that ranking
   (``spotplan.advisor.ladder``); the interval sweep of the first rung uses Daly's T_w and the numpy fast path.
2. Finalists, all scored by the SimPy model on the same replays (same seed, same offsets): the three
   baselines; ladder and strategy variants at Daly's interval (eager-next-region, failover, spot-only
   without the on-demand rung, a short ladder, greedy vs uniform progress under a deadline); then the best
   variant at halved and doubled intervals, continuing while that keeps winning significantly.
3. Choice: the cheapest finalist by mean cost among those meeting the deadline (hit rate >= 95%) and the
   P95 bound; an interval other than Daly's is taken only when the paired difference is significant.
   Without a deadline or bound, a plan must keep its P95 makespan within ``PATIENCE`` x the on-demand
   makespan: otherwise waiting unbilled for one pool's capacity would always look cheapest.
   When no finalist is feasible, the closest one (``closest``: hit rate, then cut runs, then P95 makespan,
   never the cost of cut runs) is returned for the caller to name; ``api.recommend`` then refuses.
The node count is decided before this search (``spotplan.advisor.nodes``); every pool here has that count.
Times are seconds, costs USD.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace

import numpy as np

from spotplan.advisor.baselines import baselines
from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.ladder import JobTimes, PoolScore, build_ladder, pick_head, rank_pools, worth_spot
from spotplan.advisor.scoring import (
    Config,
    ScoreCache,
    Scored,
    ScoringPool,
    SimSettings,
    score_many,
    scoring_pool,
)
from spotplan.schemas.plan import Market
from spotplan.simulator.fastpath import simulate_exponential
from spotplan.simulator.theory import daly_expected_wall_s, daly_interval_s, young_interval_s
from spotplan.stats import mean_ci_half_width

DEADLINE_TARGET = 0.95  # a plan "meets" a deadline when at least 95% of replays finish in time
SIGNIFICANT_T = 2.0  # paired t statistic needed to move away from the closed-form interval
REFINE_STEPS = 3  # at most 8x or 1/8 of the closed-form interval
HORIZON_FACTOR = 1.5  # runs longer than 1.5x the deadline/bound are cut (they miss it anyway)
PATIENCE = 2.0  # without --deadline/--p95-max: P95 makespan at most 2x the on-demand makespan
SWEEP_POINTS = 17
SWEEP_FASTPATH_RUNS = 200

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResult:
    """Everything the search learned."""

    chosen: Scored
    finalists: list[Scored]
    baselines: list[Scored]
    ranked: list[PoolScore]
    sweep: tuple[SweepPoint, ...]  # fast-path points, then SimPy points, each by interval
    closed_form_interval_s: float
    young_interval_s: float | None
    daly_interval_s: float | None
    p95_bound_h: float | None  # the user's, or the implied PATIENCE x on-demand bound
    simpy_s: float
    settings: SimSettings  # what every option was scored with (its horizon set by the deadline or bound)


@dataclass(frozen=True, slots=True, kw_only=True)
class FirstStage:
    """The closed-form stage of the search: pools ranked alone by Daly's model, the ladder built from that
    ranking under a makespan bound, and the plan at its first rung's interval (or the user's)."""

    ranked: list[PoolScore]
    ladder: tuple[PoolOption, ...]
    first: PoolScore  # the ladder's first rung, as ranked
    rungs: list[PoolScore]  # the pools as the ladder was built from them: priced with their moves from the head
    config: Config  # the plan at the closed-form (or overridden) interval
    young_interval_s: float | None  # Young's and Daly's intervals of the first rung (None: on-demand)
    daly_interval_s: float | None


def first_stage(
    pools: list[PoolOption], times: JobTimes, *, head_bound_h: float | None, deadline_h: float | None,
    prefer_regions: tuple[str, ...], interval_override_s: float | None,
) -> FirstStage:
    """Ladder and interval in closed form: what ``search`` refines with SimPy and the dashboard's quick plan
    shows at once. ``head_bound_h`` is the makespan the head pool must be able to meet (see ``head_bound_h``)."""
    ranked = worth_spot(rank_pools(pools, times), deadline_h, prefer_regions)
    head = pick_head(ranked, head_bound_h, prefer_regions)
    # the checkpoint lives in the head's region: the other rungs are ranked with their moves there and back
    home = next((r for r in ranked if r.pool is head), None)
    rungs = ranked if home is None else worth_spot(rank_pools(pools, times, home=home), deadline_h, prefer_regions)
    ladder = tuple(build_ladder(rungs, prefer_regions=prefer_regions, head=head, deadline_h=deadline_h))
    first = next(r for r in ranked if r.pool is ladder[0])
    config = Config(name="plan", ladder=ladder, interval_s=interval_override_s or first.interval_s,
                    recovery="eager-next-region", deadline_policy=starting_deadline_policy(deadline_h, list(ladder)),
                    description="recommended ladder")
    m = first.pool.gang_mtbf_s
    block_s = times.save(first.pool.nodes).blocking_s
    return FirstStage(ranked=ranked, ladder=ladder, first=first, rungs=rungs, config=config,
                      young_interval_s=young_interval_s(block_s, m) if m else None,
                      daly_interval_s=daly_interval_s(block_s, m) if m else None)


def head_bound_h(deadline_h: float | None, p95_bound_h: float | None, on_demand_makespan_h: float | None) -> float | None:
    """The makespan the head pool is picked under: the deadline, else the P95 bound (the user's or the implied
    one, see ``implied_p95_bound_h``)."""
    if deadline_h is not None:
        return deadline_h
    return implied_p95_bound_h(on_demand_makespan_h, deadline_h, p95_bound_h)


def feasible(s: Scored, deadline_h: float | None, p95_bound_h: float | None) -> bool:
    """Meets the deadline target and the P95 makespan bound, where given; no run was cut at the horizon."""
    ok = s.cut_runs == 0 and (deadline_h is None or s.hit_rate >= DEADLINE_TARGET)
    return ok and (p95_bound_h is None or s.expected.makespan_h.p95 <= p95_bound_h)


def choose(cands: list[Scored], deadline_h: float | None, p95_bound_h: float | None) -> Scored:
    """Cheapest feasible candidate; if none is feasible, the closest (``closest``), never ranked by cost."""
    ok = [c for c in cands if feasible(c, deadline_h, p95_bound_h)]
    if ok:
        return min(ok, key=lambda c: (c.expected.cost_usd.mean, c.config.name))
    return closest(cands)


def closest(cands: list[Scored]) -> Scored:
    """The candidate nearest to feasible: highest hit rate, fewest runs cut, shortest P95 makespan. Cost is not
    a criterion: the cost of an option whose runs were cut at the horizon is only a lower bound."""
    return min(cands, key=lambda c: (-c.hit_rate, c.cut_runs, c.expected.makespan_h.p95, c.config.name))


def paired_t(a: Scored, b: Scored) -> float:
    """t statistic of the per-run cost difference a - b (negative: a cheaper). Runs share replays.

    A configuration stopped at its first cut run has fewer runs: the runs both have are compared.
    """
    n = min(a.cost_usd.size, b.cost_usd.size)
    d = a.cost_usd[:n] - b.cost_usd[:n]
    sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
    if sd == 0.0:
        return 0.0 if d.mean() == 0 else math.copysign(math.inf, float(d.mean()))
    return float(d.mean() / (sd / math.sqrt(d.size)))


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepPoint:
    """One interval of the sweep with its scored cost; ``closed_form_cost_usd`` is None for SimPy points."""

    interval_s: float
    cost_mean_usd: float
    cost_lo_usd: float  # 95% CI of the mean
    cost_hi_usd: float
    closed_form_cost_usd: float | None
    method: str  # "fastpath" (first rung alone, exponential) or "simpy" (the finalist's whole ladder)

    @property
    def interval_min(self) -> float:
        """The interval in minutes."""
        return self.interval_s / 60.0

    def row(self) -> dict[str, float | str | None]:
        """The point as a table row (the ``--json`` document's and the dashboard's columns, in order)."""
        return {"interval_s": self.interval_s, "interval_min": self.interval_min, "cost_mean_usd": self.cost_mean_usd,
                "cost_lo_usd": self.cost_lo_usd, "cost_hi_usd": self.cost_hi_usd,
                "closed_form_cost_usd": self.closed_form_cost_usd, "method": self.method}


def sweep_points(first: PoolScore, s: SimSettings, rng: np.random.Generator) -> tuple[SweepPoint, ...]:
    """Closed form and fast-path cost of the first rung alone over a log grid of intervals."""
    pool = first.pool
    save = s.times.save(pool.nodes)
    m = pool.gang_mtbf_s
    if m is None:
        return ()
    delta, work, restart = save.blocking_s, s.times.work_s(pool), s.times.restart_s(pool.nodes)
    points = []
    for tau in np.geomspace(first.interval_s / 8, first.interval_s * 8, SWEEP_POINTS):
        wall = simulate_exponential(work, float(tau), delta, restart, m, SWEEP_FASTPATH_RUNS, rng)
        cost = wall / 3600.0 * pool.hourly_usd
        mean, half = float(cost.mean()), mean_ci_half_width(cost)
        cf = daly_expected_wall_s(work, float(tau), delta, restart, m) / 3600.0 * pool.hourly_usd
        points.append(SweepPoint(interval_s=float(tau), cost_mean_usd=mean, cost_lo_usd=mean - half,
                                 cost_hi_usd=mean + half, closed_form_cost_usd=float(cf), method="fastpath"))
    return tuple(points)


def _simpy_points(scored: list[Scored]) -> list[SweepPoint]:
    return [SweepPoint(interval_s=c.config.interval_s, cost_mean_usd=c.expected.cost_usd.mean,
                       cost_lo_usd=c.expected.cost_usd.ci95[0], cost_hi_usd=c.expected.cost_usd.ci95[1],
                       closed_form_cost_usd=None, method="simpy") for c in scored]


def refine_interval(
    base: Scored, s: SimSettings, run: Callable[[Config], Scored], ok: Callable[[Scored], bool],
    run_many: Callable[[list[Config]], list[Scored]] | None = None,
) -> tuple[Scored, list[Scored]]:
    """Halve and double the interval (up to ``REFINE_STEPS`` times each way while it keeps winning).

    A point replaces the closed-form interval only when it is feasible and its paired cost difference
    against it is significant (t < -2): on Daly's exponential case the closed form therefore stands.
    The two directions are independent: each step scores the next point of every direction still going
    together (``run_many``, default ``run`` one by one), which gives the points that going one way, then
    the other, would give.
    """
    many = run_many if run_many is not None else (lambda cfgs: [run(c) for c in cfgs])
    tau = base.config.interval_s
    points = [base]
    going = {factor: (base, factor) for factor in (0.5, 2.0)}  # direction -> (last point, next factor)
    for _ in range(REFINE_STEPS):
        if not going:
            break
        dirs = list(going)
        scored = many([replace(base.config, interval_s=tau * going[d][1]) for d in dirs])
        for d, c in zip(dirs, scored, strict=True):
            points.append(c)
            prev, f = going[d]
            if ok(c) and paired_t(c, prev) < -SIGNIFICANT_T:
                going[d] = (c, f * d)
            else:
                del going[d]
    better = [p for p in points[1:] if ok(p) and paired_t(p, base) < -SIGNIFICANT_T]
    best = min(better, key=lambda p: (p.expected.cost_usd.mean, p.config.interval_s)) if better else base
    return best, sorted(points, key=lambda p: p.config.interval_s)


def ladder_variants(base: Config, deadline_h: float | None) -> list[Config]:
    """Ladder and strategy variants scored at the closed-form interval before the interval is refined."""
    spot = [p for p in base.ladder if p.market is Market.SPOT]
    od = [p for p in base.ladder if p.market is Market.ON_DEMAND]
    out = [base, replace(base, name="plan-failover", recovery="failover")]
    if deadline_h is None and od and spot:  # without a deadline, staying on spot may beat the on-demand fallback
        out.append(replace(base, name="plan-spot-only", ladder=tuple(spot)))
    if deadline_h is not None and len(spot) > 1 and od:
        out.append(replace(base, name="plan-short", ladder=tuple(spot[:1] + od)))
    if deadline_h is not None and base.deadline_policy == "uniform-progress":
        out.append(replace(base, name="plan-greedy", deadline_policy="greedy"))
        out.append(replace(base, name="plan-cost-aware", deadline_policy="cost-aware"))
    return out


def _adopt(winner: Scored, ranked: list[PoolScore], run: Callable[[Config], Scored]) -> Scored:
    """The winning baseline's ladder and strategy at Daly's interval for its first rung, scored."""
    head = next(r for r in ranked if r.pool is winner.config.ladder[0])
    cfg = replace(winner.config, name=f"plan-{winner.config.name}", interval_s=head.interval_s,
                  description=f"{winner.config.description}, interval optimised")
    return run(cfg)


def implied_p95_bound_h(on_demand_makespan_h: float | None, deadline_h: float | None,
                        p95_bound_h: float | None) -> float | None:
    """The user's P95 bound; without a deadline or bound, PATIENCE x the on-demand makespan (its P95)."""
    if p95_bound_h is not None or deadline_h is not None or on_demand_makespan_h is None:
        return p95_bound_h
    return PATIENCE * on_demand_makespan_h


def search(
    pools: list, s: SimSettings, *, deadline_h: float | None, p95_bound_h: float | None,
    prefer_regions: tuple[str, ...], interval_override_s: float | None, progress: Progress | None = None,
    pool: ScoringPool | None = None, on_demand: Config | None = None, cache: ScoreCache | None = None,
) -> SearchResult:
    """Run the whole search over ``pools`` (candidates.PoolOption).

    Configurations that do not depend on each other's figures are scored together (``score_many``, on the
    worker processes of one ``ScoringPool``): the baselines with the ladder and strategy variants, then each
    step of the interval refinement. Every figure is the one scoring them one by one gives. ``pool``: workers
    the caller started (before any thread of its own); else they are started here where that is safe.
    ``on_demand``: the on-demand baseline chosen by the caller (see ``baselines.baselines``); ``cache``: figures
    the caller scored already (the node scan's), reused where configuration and settings are the same.
    """
    with ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(scoring_pool(s.workers))
        return _search(pools, s, deadline_h=deadline_h, p95_bound_h=p95_bound_h, prefer_regions=prefer_regions,
                       interval_override_s=interval_override_s, progress=progress, pool=pool, on_demand=on_demand,
                       cache=cache)


def _search(
    pools: list, s: SimSettings, *, deadline_h: float | None, p95_bound_h: float | None,
    prefer_regions: tuple[str, ...], interval_override_s: float | None, progress: Progress | None,
    pool: ScoringPool | None, on_demand: Config | None = None, cache: ScoreCache | None = None,
) -> SearchResult:
    simpy_s = 0.0

    def run_many(cfgs: list[Config], first_cut: list[bool] | None = None) -> list[Scored]:
        nonlocal simpy_s
        if progress:
            for c in cfgs:
                progress(f"{c.name} @ {c.interval_s / 60:.0f} min")
        t0 = time.perf_counter()
        scorer = cache.score_many if cache is not None else score_many
        out = scorer(cfgs, s, pool=pool, workers=1 if pool is None else None, first_cut=first_cut or ())
        simpy_s += time.perf_counter() - t0
        return out

    def run(c: Config) -> Scored:
        return run_many([c])[0]

    base_cfgs = baselines(pools, s.times, on_demand)
    od_cfg = next((b for b in base_cfgs if b.name == "on-demand"), None)
    given = deadline_h if deadline_h is not None else p95_bound_h
    if given is not None:  # the horizon is known before the on-demand baseline runs: score it at that horizon too
        s = replace(s, horizon_h=HORIZON_FACTOR * max(given, p95_bound_h or 0.0))
    od = run(od_cfg) if od_cfg is not None else None
    od_p95_h = od.expected.makespan_h.p95 if od is not None else None
    bound = implied_p95_bound_h(od_p95_h, deadline_h, p95_bound_h)
    limit = deadline_h if deadline_h is not None else bound
    if limit is not None:
        s = replace(s, horizon_h=HORIZON_FACTOR * max(limit, p95_bound_h or 0.0))
    stage = first_stage(pools, s.times, head_bound_h=head_bound_h(deadline_h, p95_bound_h, od_p95_h),
                        deadline_h=deadline_h, prefer_regions=prefer_regions, interval_override_s=interval_override_s)
    ranked, ladder, first, base = stage.ranked, stage.ladder, stage.first, stage.config

    def ok(c: Scored) -> bool:
        return feasible(c, deadline_h, bound)

    others = [b for b in base_cfgs if b is not od_cfg]
    variant_cfgs = ladder_variants(base, deadline_h) if any(p.market is Market.SPOT for p in ladder) else []
    # none of these depends on another's figures; a baseline stops at its first run cut at the horizon
    together = run_many(others + variant_cfgs, [True] * len(others))
    it = iter(together)
    base_scored = [od if b is od_cfg else next(it) for b in base_cfgs]
    variants = together[len(others):]
    interval_points: list[Scored] = []
    if variants:
        best_variant = choose(variants, deadline_h, bound)
        if interval_override_s is None:
            refined, interval_points = refine_interval(best_variant, s, run, ok, run_many)
            variants.append(refined)
    chosen = choose([*variants, *base_scored], deadline_h, bound)
    if interval_override_s is None and chosen in base_scored and chosen.config.ladder[0].mtbf_s is not None:
        # a baseline's ladder won: keep its ladder and strategy, but optimise its interval like the plan's
        adopted = _adopt(chosen, ranked, run)
        refined, more = refine_interval(adopted, s, run, ok, run_many)
        variants += [adopted, refined]
        interval_points += more
        chosen = choose([*variants, *base_scored], deadline_h, bound)
    points = [*sweep_points(first, s, np.random.default_rng(s.seed)), *_simpy_points(interval_points)]
    sweep = tuple(sorted(points, key=lambda p: (p.method, p.interval_s)))
    return SearchResult(
        chosen=chosen, finalists=[*variants, *interval_points], baselines=base_scored, ranked=ranked, sweep=sweep,
        closed_form_interval_s=base.interval_s, p95_bound_h=bound, young_interval_s=stage.young_interval_s,
        daly_interval_s=stage.daly_interval_s, simpy_s=simpy_s, settings=s,
    )


def starting_deadline_policy(deadline_h: float | None, ladder: list[PoolOption]) -> str:
    """Uniform progress when a deadline meets a ladder with both spot and on-demand rungs, else none."""
    markets = {p.market for p in ladder}
    both = Market.SPOT in markets and Market.ON_DEMAND in markets
    return "uniform-progress" if deadline_h is not None and both else "none"
