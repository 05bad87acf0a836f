"""Replays at fixed windows of the traces, and the regret of those replays against the offline optimum.

A window is a start offset into the replayed histories (seconds); each window's runs use the generators of
``spotplan.simulator.montecarlo.run_rng`` in window order, so results do not depend on how they are computed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from spotplan.simulator.compile import CompiledScenario
from spotplan.simulator.model import simulate_once
from spotplan.simulator.montecarlo import MonteCarloResult, run_rng
from spotplan.simulator.optimum_replay import Regret, optimum_for_replay


def simulate_windows(cs: CompiledScenario, offsets_s: Sequence[float], *, seed: int = 0, runs_per_window: int = 1,
                     keep_timelines: int = 20) -> MonteCarloResult:
    """``runs_per_window`` runs starting at each offset, in window order."""
    t0 = time.perf_counter()
    results = []
    for w, off in enumerate(offsets_s):
        for j in range(runs_per_window):
            i = w * runs_per_window + j
            results.append(simulate_once(cs, run_rng(seed, i), float(off), keep_timeline=i < keep_timelines))
    return MonteCarloResult(scenario=cs, seed=seed, workers=1, results=tuple(results),
                            elapsed_s=time.perf_counter() - t0)


def regret(mc: MonteCarloResult) -> Regret:
    """Each run's cost against the optimum of its replay (one programme per distinct start offset)."""
    cache: dict[float, float] = {}
    opt = []
    for r in mc.results:
        off = r.start_offset_s
        if off not in cache:
            cache[off] = optimum_for_replay(mc.scenario, off).cost_usd
        opt.append(cache[off])
    return Regret(optimum_usd=tuple(opt), plan_usd=tuple(r.cost_usd for r in mc.results),
                  met=tuple(bool(r.deadline_met) for r in mc.results))


def regret_summary(rg: Regret) -> dict[str, object]:
    """The ``regret`` block of a ``--json`` summary."""
    met = [o for o, m in zip(rg.optimum_usd, rg.met, strict=True) if m]
    return {
        "mean_ratio": rg.mean_ratio, "ratio_of_means": rg.ratio_of_means,
        "optimum_mean_usd": sum(met) / len(met) if met else None,
        "replays": len(rg.optimum_usd), "replays_meeting_deadline": len(met),
        "per_replay": [{"optimum_usd": o, "plan_usd": p, "deadline_met": m}
                       for o, p, m in zip(rg.optimum_usd, rg.plan_usd, rg.met, strict=True)],
        "method": "plan cost / offline optimum on the same replay (dynamic programme over trace ticks x progress, "
                  "a lower bound on any policy's cost; spotplan.simulator.optimum), over replays that met the deadline",
    }


def regret_line(rg: dict[str, Any], *, replays: str = "replays") -> str:
    """The summary line of a ``regret_summary`` block (``replays``: what a replay is called, e.g. tiled windows)."""
    if rg["mean_ratio"] is None:
        return f"regret: no replay met the deadline ({rg['replays']} {replays}); nothing to compare"
    return (f"regret (cost / offline optimum, same replays): mean {rg['mean_ratio']:.3f}x, ratio of means "
            f"{rg['ratio_of_means']:.3f}x over {rg['replays_meeting_deadline']} of {rg['replays']} {replays} "
            f"that met the deadline; optimum ${rg['optimum_mean_usd']:,.2f} on average")
