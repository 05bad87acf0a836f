"""Interval and ladder search: closed-form/fast-path scan, then SimPy Monte Carlo scoring of finalists.

1. Scan: every pool is scored alone with Daly's model; the ladder is built from that ranking
   (``advisor.ladder``); the interval sweep of the first rung uses Daly's T_w and the numpy fast path.
2. Finalists: the ladder at Daly's interval and at half and twice it (extended once in the winning
   direction), a failover variant, a short ladder (best pool + on-demand), greedy when there is a deadline,
   and the three baselines: all scored by the SimPy model on the same replays (same seed, same offsets).
3. Choice: the cheapest finalist by mean cost among those meeting the deadline (hit rate >= 95%) and the
   P95 bound; an interval other than Daly's is taken only when the paired difference is significant.
Times are seconds, costs USD.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from advisor.baselines import baselines
from advisor.ladder import PoolScore, build_ladder, rank_pools
from advisor.scoring import Config, Scored, SimSettings, score
from simulator.fastpath import simulate_exponential
from simulator.theory import daly_expected_wall_s, daly_interval_s, young_interval_s
from spotplan.schemas.plan import Market

DEADLINE_TARGET = 0.95  # a plan "meets" a deadline when at least 95% of replays finish in time
SIGNIFICANT_T = 2.0  # paired t statistic needed to move away from the closed-form interval
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
    sweep: pd.DataFrame
    closed_form_interval_s: float
    young_interval_s: float | None
    daly_interval_s: float | None
    reasons: list[str]
    simpy_s: float


def feasible(s: Scored, deadline_h: float | None, p95_bound_h: float | None) -> bool:
    """Meets the deadline target and the P95 makespan bound, where given."""
    ok = deadline_h is None or s.hit_rate >= DEADLINE_TARGET
    return ok and (p95_bound_h is None or s.expected.makespan_h.p95 <= p95_bound_h)


def choose(cands: list[Scored], deadline_h: float | None, p95_bound_h: float | None) -> Scored:
    """Cheapest feasible candidate; if none is feasible, the most compliant, then the cheapest."""
    ok = [c for c in cands if feasible(c, deadline_h, p95_bound_h)]
    if ok:
        return min(ok, key=lambda c: (c.expected.cost_usd.mean, c.config.name))
    return min(cands, key=lambda c: (-c.hit_rate, c.expected.makespan_h.p95 if p95_bound_h else 0.0,
                                     c.expected.cost_usd.mean, c.config.name))


def paired_t(a: Scored, b: Scored) -> float:
    """t statistic of the per-run cost difference a - b (negative: a cheaper). Runs share replays."""
    d = a.cost_usd - b.cost_usd
    sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
    if sd == 0.0:
        return 0.0 if d.mean() == 0 else math.copysign(math.inf, float(d.mean()))
    return float(d.mean() / (sd / math.sqrt(d.size)))


def sweep_frame(first: PoolScore, s: SimSettings, rng: np.random.Generator) -> pd.DataFrame:
    """Closed form and fast-path cost of the first rung alone over a log grid of intervals."""
    pool = first.pool
    save = s.times.save(pool.nodes)
    m = pool.gang_mtbf_s
    rows = []
    if m is None:
        return pd.DataFrame(rows, columns=_SWEEP_COLUMNS)
    delta, work, restart = max(save.snapshot_s, 1e-3), s.times.work_s(pool), s.times.restart_s(pool.nodes)
    for tau in np.geomspace(first.interval_s / 8, first.interval_s * 8, SWEEP_POINTS):
        wall = simulate_exponential(work, float(tau), delta, restart, m, SWEEP_FASTPATH_RUNS, rng)
        cost = wall / 3600.0 * pool.hourly_usd
        half = 1.96 * cost.std(ddof=1) / math.sqrt(cost.size)
        cf = daly_expected_wall_s(work, float(tau), delta, restart, m) / 3600.0 * pool.hourly_usd
        rows.append((float(tau), float(tau) / 60, float(cost.mean()), float(cost.mean() - half),
                     float(cost.mean() + half), cf, "fastpath"))
    return pd.DataFrame(rows, columns=_SWEEP_COLUMNS)


_SWEEP_COLUMNS = ["interval_s", "interval_min", "cost_mean_usd", "cost_lo_usd", "cost_hi_usd",
                  "closed_form_cost_usd", "method"]


def _simpy_rows(scored: list[Scored]) -> pd.DataFrame:
    rows = [(c.config.interval_s, c.config.interval_s / 60, c.expected.cost_usd.mean, c.expected.cost_usd.ci95[0],
             c.expected.cost_usd.ci95[1], float("nan"), "simpy") for c in scored]
    return pd.DataFrame(rows, columns=_SWEEP_COLUMNS)


def refine_interval(base: Config, s: SimSettings, run: Callable[[Config], Scored]) -> tuple[Scored, list[Scored]]:
    """Score ``base`` at τ, τ/2 and 2τ (and one more step outward if an end wins); keep τ unless beaten."""
    tau = base.interval_s
    at = {1.0: run(base), 0.5: run(replace(base, interval_s=tau * 0.5)), 2.0: run(replace(base, interval_s=tau * 2))}
    for end, nxt in ((0.5, 0.25), (2.0, 4.0)):
        if paired_t(at[end], at[1.0]) < -SIGNIFICANT_T and at[end].expected.cost_usd.mean == min(
            a.expected.cost_usd.mean for a in at.values()
        ):
            at[nxt] = run(replace(base, interval_s=tau * nxt))
    best = at[1.0]
    for k in sorted(at):
        if paired_t(at[k], best) < -SIGNIFICANT_T:
            best = at[k]
    return best, [at[k] for k in sorted(at)]


def _variants(best: Scored, ranked: list[PoolScore], deadline_h: float | None) -> list[Config]:
    cfg = best.config
    out = [replace(cfg, name="plan-failover", recovery="failover")]
    spot = [p for p in cfg.ladder if p.market is Market.SPOT]
    od = [p for p in cfg.ladder if p.market is Market.ON_DEMAND]
    if len(spot) > 1:
        out.append(replace(cfg, name="plan-short", ladder=tuple(spot[:1] + od)))
    if deadline_h is not None and cfg.deadline_policy != "greedy":
        out.append(replace(cfg, name="plan-greedy", deadline_policy="greedy"))
    return out


def search(
    pools: list, s: SimSettings, *, deadline_h: float | None, p95_bound_h: float | None,
    prefer_regions: tuple[str, ...], interval_override_s: float | None, progress: Progress | None = None,
) -> SearchResult:
    """Run the whole search over ``pools`` (candidates.PoolOption)."""
    ranked = rank_pools(pools, s.times)
    ladder = build_ladder(ranked, prefer_regions=prefer_regions)
    first = next(r for r in ranked if r.pool is ladder[0])
    tau_cf = interval_override_s or first.interval_s
    policy = "uniform-progress" if deadline_h is not None and _has_both(ladder) else "none"
    base = Config(name="plan", ladder=tuple(ladder), interval_s=tau_cf, recovery="eager-next-region",
                  deadline_policy=policy, description="recommended ladder")
    simpy_s = 0.0

    def run(c: Config) -> Scored:
        nonlocal simpy_s
        if progress:
            progress(f"{c.name} @ {c.interval_s / 60:.0f} min")
        r = score(c, s)
        simpy_s += r.elapsed_s
        return r

    if interval_override_s is None and first.pool.mtbf_s is not None:
        best, interval_points = refine_interval(base, s, run)
    else:
        best = run(base)
        interval_points = [best]
    variants = [run(v) for v in _variants(best, ranked, deadline_h)]
    base_scored = [run(b) for b in baselines(pools, s.times)]
    chosen = choose([best, *variants, *base_scored], deadline_h, p95_bound_h)
    sweep = pd.concat([sweep_frame(first, s, np.random.default_rng(s.seed)), _simpy_rows(interval_points)],
                      ignore_index=True).sort_values(["method", "interval_s"], ignore_index=True)
    m = first.pool.gang_mtbf_s
    block = max(s.times.save(first.pool.nodes).snapshot_s, 1e-3)
    return SearchResult(
        chosen=chosen, finalists=[*interval_points, *variants], baselines=base_scored, ranked=ranked, sweep=sweep,
        closed_form_interval_s=tau_cf,
        young_interval_s=young_interval_s(block, m) if m else None,
        daly_interval_s=daly_interval_s(block, m) if m else None,
        reasons=[], simpy_s=simpy_s,
    )


def _has_both(ladder: list) -> bool:
    markets = {p.market for p in ladder}
    return Market.SPOT in markets and Market.ON_DEMAND in markets
