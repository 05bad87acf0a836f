"""The dashboard's quick plan: the advisor's closed-form stage plus the numpy fast path, in well under a second.

``spotplan.advisor.api.recommend`` scores its finalists and baselines with SimPy replays, which takes seconds to minutes
for long jobs; the what-if sliders need an answer at once. This module runs only the advisor's first stage
(its own sizing, pools, save costs, Daly ranking, ladder, interval sweep and baselines, called unchanged) and
samples each option's first rung with ``spotplan.simulator.fastpath`` (Daly's single-pool model, every second billed).
The page labels these figures as such and offers the full advisor on a button. No streamlit here.
Times are seconds, prices USD per hour, costs USD.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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
    frontier: pd.DataFrame  # closed-form cost and makespan per node count (spotplan.dashboard.frames.frontier_frame)


def sample_first_rung(config: Any, times: Any, runs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(cost_usd, makespan_h) per run of ``config``'s first rung alone: the fast path for spot, and for
    on-demand the advisor's closed form (one start-up, no interruptions, identical in every run)."""
    from spotplan.advisor.ladder import score_pool
    from spotplan.simulator.fastpath import exponential_cost_usd, simulate_exponential

    pool = config.ladder[0]
    if pool.gang_mtbf_s is None:
        wall_s = np.full(runs, score_pool(pool, times).wall_s)
    else:
        wall_s = simulate_exponential(times.work_s(pool), config.interval_s, times.save(pool.nodes).blocking_s,
                                      times.restart_s(pool.nodes),
                                      pool.gang_mtbf_s, runs, rng)
    return exponential_cost_usd(wall_s, pool.hourly_usd), wall_s / 3600.0


def quick_plan(request: Any) -> QuickPlan:
    """Closed-form node count, ladder and interval (the advisor's own first stage at each count searched), its
    sweep, and fast-path samples of the plan and the baselines. The head pool's makespan bound uses the on-demand
    run's closed form where the advisor uses its SimPy P95 (no interruptions: they differ only by the final save).
    A spot pool whose closed-form cost exceeds on-demand's is never a rung (``ladder.worth_spot``)."""
    from spotplan.advisor.api import prepare
    from spotplan.advisor.baselines import baselines
    from spotplan.advisor.optimize import sweep_points
    from spotplan.advisor.scan import closed_form_count, count_options
    from spotplan.dashboard.frames import closed_form_frontier, sweep_frame

    prep = prepare(request)
    counts = count_options(prep, request)
    count = closed_form_count(counts)  # the node count, in closed form
    pools, times, settings, stage = count.pools, prep.times, count.settings, count.stage
    plan = replace(stage.config, description="quick plan: closed-form ladder and interval")
    options = [plan, *baselines(pools, times)]
    rngs = np.random.default_rng(request.seed).spawn(len(options) + 1)
    parts = []
    for config, rng in zip(options, rngs[1:], strict=True):
        cost, makespan = sample_first_rung(config, times, request.runs, rng)
        parts.append(pd.DataFrame({"option": config.name, "cost_usd": cost, "makespan_h": makespan}))
    return QuickPlan(
        ladder=stage.ladder, interval_s=plan.interval_s, young_s=stage.young_interval_s,
        daly_s=stage.daly_interval_s, sweep=sweep_frame(sweep_points(stage.first, settings, rngs[0])),
        samples=pd.concat(parts, ignore_index=True), config=plan, settings=settings, first_rung=stage.first.pool.key,
        frontier=closed_form_frontier(counts, count),
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
