"""The three baselines every plan is compared with, on the same replays.

1. ``on-demand``: the cheapest on-demand pool (per token) that finishes the whole job within the limit (the
   deadline) in closed form, at any node count searched; the fastest when none does; no interruptions.
2. ``single-pool-young``: spot in the one pool that is cheapest per token right now, waiting there after
   each interruption (no fallback), checkpointing at Young's interval √(2·δ·M).
3. ``eager-next-region-30min``: what a SkyPilot managed-job user typically runs: ``use_spot: true`` over
   the cheapest spot pools of that instance type in price order, EAGER_NEXT_REGION recovery, and a fixed
   30-minute checkpoint interval, no on-demand fallback.
Times are seconds.
"""

from __future__ import annotations

from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.ladder import MAX_SPOT_RUNGS, JobTimes, score_pool
from spotplan.advisor.scoring import Config
from spotplan.schemas.plan import Market
from spotplan.simulator.theory import young_interval_s

FIXED_INTERVAL_S = 1800.0
ON_DEMAND_INTERVAL_S = 3600.0  # on-demand is not interrupted; hourly saves only guard against crashes


def _per_token(p: PoolOption) -> tuple[float, str]:
    return (p.usd_per_token(), p.key)


def on_demand_baseline(pools: list[PoolOption], times: JobTimes | None = None,
                       limit_h: float | None = None) -> Config | None:
    """Cheapest on-demand pool per token, alone, among those whose one uninterrupted run (``ladder.score_pool``)
    finishes within ``limit_h``; the fastest when none does. Without ``times`` or ``limit_h``: cheapest per token."""
    od = sorted((p for p in pools if p.market is Market.ON_DEMAND), key=_per_token)
    if not od:
        return None
    if times is not None and limit_h is not None:
        walls = [(score_pool(p, times).wall_s / 3600.0, p) for p in od]
        fits = [p for wall_h, p in walls if wall_h <= limit_h]
        od = fits or [p for _, p in sorted(walls, key=lambda w: (w[0], _per_token(w[1])))]
    return Config(name="on-demand", ladder=(od[0],), interval_s=ON_DEMAND_INTERVAL_S, recovery="failover",
                  deadline_policy="none", description=f"on-demand only on {_gang(od[0])} in {od[0].region}")


def _gang(p: PoolOption) -> str:
    return p.instance_type if p.nodes == 1 else f"{p.nodes}x {p.instance_type}"


def single_pool_baseline(pools: list[PoolOption], times: JobTimes) -> Config | None:
    """Cheapest spot pool per token now, alone, at Young's interval."""
    spot = sorted((p for p in pools if p.market is Market.SPOT), key=_per_token)
    if not spot:
        return None
    p = spot[0]
    assert p.gang_mtbf_s is not None
    tau = young_interval_s(times.save(p.nodes).blocking_s, p.gang_mtbf_s)
    return Config(name="single-pool-young", ladder=(p,), interval_s=tau, recovery="failover", deadline_policy="none",
                  description=f"spot in {p.key} only, Young's interval {tau / 60:.1f} min")


def eager_next_region_baseline(pools: list[PoolOption]) -> Config | None:
    """SkyPilot-style: cheapest spot pools of the cheapest type in price order, EAGER_NEXT_REGION, 30 min."""
    spot = sorted((p for p in pools if p.market is Market.SPOT), key=_per_token)
    if not spot:
        return None
    itype = spot[0].instance_type
    ladder = tuple(sorted((p for p in spot if p.instance_type == itype),
                          key=lambda p: (p.price_usd_per_h, p.key))[:MAX_SPOT_RUNGS])
    return Config(name="eager-next-region-30min", ladder=ladder, interval_s=FIXED_INTERVAL_S,
                  recovery="eager-next-region", deadline_policy="none",
                  description=f"use_spot over {len(ladder)} cheapest {itype} pools, EAGER_NEXT_REGION, 30-min interval")


def baselines(pools: list[PoolOption], times: JobTimes, on_demand: Config | None = None) -> list[Config]:
    """All baselines that the candidate pools allow; ``on_demand``: the on-demand baseline chosen by the caller
    (over every node count, honouring the deadline), else the cheapest per token of ``pools``."""
    od = on_demand if on_demand is not None else on_demand_baseline(pools)
    out = [od, single_pool_baseline(pools, times), eager_next_region_baseline(pools)]
    return [c for c in out if c is not None]
