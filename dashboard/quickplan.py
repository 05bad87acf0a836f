"""The dashboard's quick plan: the advisor's closed-form stage plus the numpy fast path, in well under a second.

``spotplan.advisor.api.recommend`` scores its finalists and baselines with SimPy replays, which takes seconds to minutes
for long jobs; the what-if sliders need an answer at once. This module runs only the advisor's first stage
(its own sizing, pools, save costs, Daly ranking, ladder, interval sweep and baselines, called unchanged) and
samples each option's first rung with ``spotplan.simulator.fastpath`` (Daly's single-pool model, every second billed).
The page labels these figures as such and offers the full advisor on a button. No streamlit here.
Times are seconds, prices USD per hour, costs USD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

FIRST_RUNG_NOTE = "fast path: each option's first rung alone (Daly's model), before the SimPy replay of the ladder"


@dataclass(frozen=True, slots=True, kw_only=True)
class QuickPlan:
    """What the quick stage decided: ladder, interval, Young/Daly marks, sweep, options sampled, settings."""

    ladder: tuple[Any, ...]  # spotplan.advisor.candidates.PoolOption, first rung first
    interval_s: float
    young_s: float | None
    daly_s: float | None
    sweep: pd.DataFrame
    samples: pd.DataFrame  # option, cost_usd, makespan_h (one row per fast-path run)
    config: Any  # spotplan.advisor.scoring.Config of the plan (for the SimPy replay)
    settings: Any  # spotplan.advisor.scoring.SimSettings
    first_rung: str


def sample_first_rung(config: Any, times: Any, runs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(cost_usd, makespan_h) per run of ``config``'s first rung alone: the fast path for spot, and for
    on-demand the advisor's closed form (one start-up, no interruptions, identical in every run)."""
    from spotplan.advisor.ladder import score_pool
    from spotplan.simulator.fastpath import exponential_cost_usd, simulate_exponential

    pool = config.ladder[0]
    if pool.gang_mtbf_s is None:
        wall_s = np.full(runs, score_pool(pool, times).wall_s)
    else:
        save_s = max(times.save(pool.nodes).snapshot_s, 1e-3)  # the advisor's floor (spotplan.advisor.ladder)
        wall_s = simulate_exponential(times.work_s(pool), config.interval_s, save_s, times.restart_s(pool.nodes),
                                      pool.gang_mtbf_s, runs, rng)
    return exponential_cost_usd(wall_s, pool.hourly_usd), wall_s / 3600.0


def _head_bound_h(request: Any, pools: list[Any], times: Any) -> float | None:
    """The makespan bound the advisor picks its head pool under (spotplan.advisor.optimize.search): the deadline, else the
    P95 bound, else PATIENCE x the on-demand baseline's makespan, here its closed form (no interruptions, so the
    SimPy figure differs only by the final save)."""
    from spotplan.advisor.baselines import on_demand_baseline
    from spotplan.advisor.ladder import score_pool
    from spotplan.advisor.optimize import PATIENCE

    if request.deadline_h is not None:
        return float(request.deadline_h)
    if request.p95_bound_h is not None:
        return float(request.p95_bound_h)
    od = on_demand_baseline(pools)
    return None if od is None else PATIENCE * score_pool(od.ladder[0], times).wall_s / 3600.0


def quick_plan(request: Any) -> QuickPlan:
    """Closed-form ladder and interval, the advisor's sweep, and fast-path samples of plan and baselines."""
    from spotplan.advisor.api import prepare
    from spotplan.advisor.baselines import baselines
    from spotplan.advisor.ladder import build_ladder, pick_head, rank_pools
    from spotplan.advisor.optimize import starting_deadline_policy, sweep_frame
    from spotplan.advisor.scoring import Config
    from spotplan.simulator.theory import daly_interval_s, young_interval_s

    prep = prepare(request)
    pools, times, settings = prep.pools, prep.times, prep.settings
    ranked = rank_pools(pools, times)
    head = pick_head(ranked, _head_bound_h(request, pools, times), request.prefer_regions)
    ladder = build_ladder(ranked, prefer_regions=request.prefer_regions, head=head)
    first = next(r for r in ranked if r.pool is ladder[0])
    interval_s = request.interval_s or first.interval_s
    plan = Config(name="plan", ladder=tuple(ladder), interval_s=interval_s, recovery="eager-next-region",
                  deadline_policy=starting_deadline_policy(request.deadline_h, ladder),
                  description="quick plan: closed-form ladder and interval")
    options = [plan, *baselines(pools, times)]
    rngs = np.random.default_rng(request.seed).spawn(len(options) + 1)
    parts = []
    for config, rng in zip(options, rngs[1:], strict=True):
        cost, makespan = sample_first_rung(config, times, request.runs, rng)
        parts.append(pd.DataFrame({"option": config.name, "cost_usd": cost, "makespan_h": makespan}))
    m = first.pool.gang_mtbf_s
    block_s = max(times.save(first.pool.nodes).snapshot_s, 1e-3)
    return QuickPlan(
        ladder=tuple(ladder), interval_s=interval_s,
        young_s=young_interval_s(block_s, m) if m else None, daly_s=daly_interval_s(block_s, m) if m else None,
        sweep=sweep_frame(first, settings, rngs[0]), samples=pd.concat(parts, ignore_index=True), config=plan,
        settings=settings, first_rung=first.pool.key,
    )


def summarise(samples: pd.DataFrame) -> pd.DataFrame:
    """Mean, P50 and P95 of cost and makespan per option, the plan first (the comparison chart's frame)."""
    g = samples.groupby("option", sort=False)
    out = pd.DataFrame({
        "option": list(g.groups),
        "cost_mean_usd": g["cost_usd"].mean().to_numpy(), "cost_p50_usd": g["cost_usd"].quantile(0.5).to_numpy(),
        "cost_p95_usd": g["cost_usd"].quantile(0.95).to_numpy(),
        "makespan_mean_h": g["makespan_h"].mean().to_numpy(),
        "makespan_p50_h": g["makespan_h"].quantile(0.5).to_numpy(),
        "makespan_p95_h": g["makespan_h"].quantile(0.95).to_numpy(),
    })
    out.insert(1, "is_plan", out["option"] == "plan")
    return out
