"""The offline optimum (spotplan.simulator.optimum): hand-computed cases and a brute-force search of schedules."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest

from spotplan.simulator.optimum import (
    EDGE_STEPS,
    FREE_HOUR_S,
    OptimumPool,
    OptimumProblem,
    egress_closure,
    solve,
)


def _pool(label: str, region: str, up: list[int] | None, usd_per_step: float | list[float],
          n: int, rate: float = 1.0, refund_share: float = 1.0) -> OptimumPool:
    spot = up is not None
    u = np.ones(n, dtype=bool) if up is None else np.asarray(up + [0] * (n - len(up)), dtype=bool)[:n]
    c = np.broadcast_to(np.asarray(usd_per_step, dtype=float), (n,)).copy()
    return OptimumPool(label=label, region=region, spot=spot, up=u, step_cost_usd=c, rate=rate,
                       refund_share=refund_share)


def _problem(pools: list[OptimumPool], *, work_s: float, deadline_s: float, step_s: float = 100.0,
             provisioning_s: float = 0.0, setup_s: float = 300.0, restore_s: float = 0.0,
             migration_s: float = 0.0, egress: dict[tuple[str, str], float] | None = None,
             free: bool = False) -> OptimumProblem:
    return OptimumProblem(step_s=step_s, pools=tuple(pools), work_s=work_s, deadline_s=deadline_s,
                          provisioning_s=provisioning_s, setup_s=setup_s, restore_s=restore_s,
                          migration_s=migration_s, egress_usd=egress or {}, first_hour_free=free)


def test_spot_throughout_pays_setup_and_work() -> None:
    """Spot up all along: one launch, one setup step (300 s less the two edge steps) and five work steps."""
    n = 11
    pb = _problem([_pool("spot", "r1", [1] * n, 0.01, n), _pool("od", "r1", None, 0.1, n)],
                  work_s=500, deadline_s=1000)
    assert solve(pb).cost_usd == pytest.approx(0.06)


def test_outage_waits_for_spot_or_takes_the_free_hour() -> None:
    """Spot down on steps 3-4: wait for it (0.03 + 0.04); with the free first hour the interrupted part is free."""
    n = 11
    up = [1, 1, 1, 0, 0] + [1] * 6
    pools = [_pool("spot", "r1", up, 0.01, n), _pool("od", "r1", None, 0.1, n)]
    assert solve(_problem(pools, work_s=500, deadline_s=1000)).cost_usd == pytest.approx(0.07)
    assert solve(_problem(pools, work_s=500, deadline_s=1000, free=True)).cost_usd == pytest.approx(0.04)


def test_tight_deadline_forces_on_demand() -> None:
    """With spot gone after step 3 and a deadline at step 7, the rest runs on on-demand."""
    n = 8
    pools = [_pool("spot", "r1", [1, 1, 1], 0.01, n), _pool("od", "r1", None, 0.1, n)]
    # spot [0,3) makes 2 units (0.03); on-demand from 3 needs 3 units: steps [3,7) = 0.4. All on-demand: 0.6.
    assert solve(_problem(pools, work_s=500, deadline_s=700)).cost_usd == pytest.approx(0.43)
    assert not solve(_problem(pools, work_s=500, deadline_s=500)).feasible


def test_migration_pays_egress_and_transfer_time() -> None:
    """Moving to the other region's spot pays egress and one more setup step for the transfer."""
    n = 16
    a = _pool("a", "r1", [1] * 5, 0.01, n)
    b = _pool("b", "r2", [0, 0, 0] + [1] * 13, 0.03, n)
    od = _pool("od", "r1", None, 0.1, n)
    egress = {("r1", "r2"): 0.01, ("r2", "r1"): 0.01}
    pb = _problem([a, b, od], work_s=500, deadline_s=1500, migration_s=100.0, egress=egress)
    # a [0,5): 4 units, 0.05. b from 5: overhead 400 s -> J = 2, one unit: [5,8) at 0.03 = 0.09, + 0.01 egress.
    # b alone from step 3: [3,9) = 0.18; without the transfer time the move would end at 7 (0.12).
    assert solve(pb).cost_usd == pytest.approx(0.15)


def test_egress_closure_takes_the_cheapest_chain() -> None:
    """A move through a third region that is cheaper than the direct one sets the bound."""
    d = egress_closure(("a", "b", "c"), {("a", "c"): 0.09, ("a", "b"): 0.02, ("b", "c"): 0.02})
    assert d[0, 2] == pytest.approx(0.04) and d[2, 0] == 0.0


def _brute(pb: OptimumProblem) -> float:
    """Exhaustive search over sequences of instance lifetimes [s, e) under the programme's rules (independent)."""
    st, T = pb.step_s, pb.steps
    regions = sorted({p.region for p in pb.pools})
    ex = egress_closure(tuple(regions), pb.egress_usd)
    unit = st * max(p.rate for p in pb.pools)
    K = math.ceil(pb.work_s / unit - 1e-9)

    def lifetime(i: int, s: int, e: int, k: int, ckpt: int | None) -> tuple[float, int] | None:
        p = pb.pools[i]
        if p.spot and not p.up[s:e].all():
            return None
        moved = k > 0 and ckpt is not None and regions.index(p.region) != ckpt
        over = pb.provisioning_s + pb.setup_s + (pb.restore_s if k > 0 else 0.0) + (pb.migration_s if moved else 0.0)
        credit = e - s - (math.floor(over / st + 1e-9) - EDGE_STEPS)
        if credit <= 0:
            return None
        bill = math.ceil(pb.provisioning_s / st - 1e-9)
        cost = float(p.step_cost_usd[s + bill:e].sum()) if e > s + bill else 0.0
        interrupted = p.spot and e < p.up.size and not p.up[e]
        if pb.first_hour_free and interrupted and (e - s) * st - pb.provisioning_s < FREE_HOUR_S:
            cost *= 1.0 - p.refund_share  # one node's share (a gang's other nodes are still billed)
        if moved:
            cost += float(ex[ckpt, regions.index(p.region)])
        return cost, credit * math.ceil(p.rate * st / unit - 1e-9)

    @cache
    def best(t: int, k: int, ckpt: int | None) -> float:
        if k >= K:
            return 0.0
        out = math.inf
        for s in range(t, T):
            for i in range(len(pb.pools)):
                for e in range(s + 1, T + 1):
                    lt = lifetime(i, s, e, k, ckpt)
                    if lt is not None:
                        out = min(out, lt[0] + best(e, min(K, k + lt[1]), regions.index(pb.pools[i].region)))
        return out

    return best(0, 0, None)


@pytest.mark.parametrize("seed", range(24))
def test_matches_brute_force_on_random_small_traces(seed: int) -> None:
    """On random 14-step traces with two regions, prices and overheads, the programme equals exhaustive search."""
    rng = np.random.default_rng(seed)
    n = 15
    step = 100.0
    pools = [
        _pool("a", "r1", list(rng.random(n) < 0.7), list(rng.uniform(0.005, 0.02, n)), n,
              refund_share=1.0 if seed % 4 < 2 else 0.5),  # a 2-node gang: one node's share refunded
        _pool("b", "r2", list(rng.random(n) < 0.6), list(rng.uniform(0.005, 0.02, n)), n),
        _pool("od", "r1", None, 0.05, n),
    ]
    prov = float(rng.choice([0.0, 60.0, 150.0, 290.0]))  # 290 s with a short setup: billing starts after J
    setup = max(2 * step - prov, float(rng.choice([10.0, 200.0, 250.0, 330.0])))
    pb = _problem(pools, work_s=float(rng.integers(3, 9)) * step, deadline_s=14 * step, step_s=step,
                  provisioning_s=prov, setup_s=setup,
                  restore_s=float(rng.choice([0.0, 120.0])), migration_s=float(rng.choice([0.0, 200.0])),
                  egress={("r1", "r2"): 0.03, ("r2", "r1"): 0.01}, free=bool(seed % 2))
    got, want = solve(pb).cost_usd, _brute(pb)
    assert got == pytest.approx(want, abs=1e-12) or (math.isinf(got) and math.isinf(want))
