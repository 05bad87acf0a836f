"""Closed-form pool ranking and fallback-ladder construction.

Each spot pool is scored alone with Daly's complete model (exponential failures at the pool's gang MTBF,
checkpoint interval at Daly's eq. 37 optimum): expected cost = hourly price x expected wall time. The
ladder is then built the way practitioners do: the preferred spot pool, its other AZs, other regions,
other GPU types (with their throughput factor), and on-demand as the last resort. Times are seconds.

Migration in closed form (``score_pool`` with ``home``): the ladder's checkpoint lives in its head's region. A rung
in another region pulls it from there each time the job falls back to it, and the head pulls it back when the job
returns: egress of ``checkpoint_bytes x USD/GB`` for each pair (``spotplan.simulator.market.egress``) and a
transfer of ``GB / MIGRATION_BANDWIDTH_GB_PER_S`` seconds on the instance it lands on, added to that instance's
restart (billed at its price). The expected number of visits comes from the failure model the closed form
already uses for the head: on exponential failures at the head's gang MTBF ``M``, the expected number of
interruptions over its expected wall time ``W`` is ``W / M`` (Wald's identity for a Poisson process stopped at the
run's end), and each sends the job down the ladder once and back once. The approximation: every head
interruption is taken to reach the rung (what eager-next-region, which leaves the preempted region first, does
when the rung has capacity; an upper bound for failover and for rungs further down), and the rung's own
interruptions are not counted as extra visits (they send the job back to the head, a move already counted). An
on-demand head is never interrupted: nothing moves. Intra-region moves are free.
"""

from __future__ import annotations

from dataclasses import dataclass

from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.savecost import SaveCosts
from spotplan.schemas.plan import Market
from spotplan.simulator.market.egress import egress_usd_per_gb, transfer_time_s
from spotplan.simulator.migration import BYTES_PER_GB
from spotplan.simulator.theory import daly_expected_wall_s, daly_interval_s

HEAD_MARGIN = 0.8  # the head's closed-form makespan must leave 20% of the bound for what Daly's model omits
MAX_SPOT_RUNGS = 6
OTHER_TYPE_RUNGS = 2  # rungs kept for other GPU types when they fit the same gang  # a ladder longer than this rarely reaches its tail before on-demand (SkyPilot PR #2234 used 3-9 zones)
PROVISION_S = 240.0  # Can't Be Late Table 4, ML training: 4 min provisioning
SETUP_S = 300.0  # same: 5 min setup (image, data)
CHANGEOVER_SOURCE = "Can't Be Late (NSDI '24) Table 4, ML workload: provisioning 4 min + setup 5 min, restore measured"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobTimes:
    """The job's compute time and per-gang-size checkpoint costs."""

    work_ref_s: float  # compute seconds at the reference throughput
    ref_tokens_per_s: float
    saves: dict[int, SaveCosts]  # node count -> per-node save/restore times
    checkpoint_bytes: int = 0  # what a move to another region transfers (0: migration left out)

    def work_s(self, pool: PoolOption) -> float:
        """Compute seconds of the whole job on ``pool``."""
        return self.work_ref_s * self.ref_tokens_per_s / pool.tokens_per_s

    def save(self, nodes: int) -> SaveCosts:
        """Save/restore times for a gang of ``nodes``."""
        return self.saves[nodes]

    def restart_s(self, nodes: int) -> float:
        """Daly's R: provisioning, setup and restore after each interruption."""
        return PROVISION_S + SETUP_S + self.saves[nodes].restore_s


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolScore:
    """Closed-form expectation of running the whole job on one pool (``cost_usd`` includes ``migration_usd``)."""

    pool: PoolOption
    interval_s: float
    wall_s: float  # on this pool, its transfers in included
    cost_usd: float
    migration_usd: float = 0.0  # egress both ways, and the head's billed time pulling the checkpoint back
    moves: float = 0.0  # expected checkpoint transfers, to this pool and back to the head (2 per visit)


@dataclass(frozen=True, slots=True)
class Move:
    """One checkpoint transfer between two regions: its egress and its time on the instance it lands on."""

    usd: float
    time_s: float


def move(src_region: str, dst_region: str, checkpoint_bytes: int) -> Move:
    """The transfer of ``checkpoint_bytes`` from ``src_region`` to ``dst_region`` (free and instant within one)."""
    if src_region == dst_region or checkpoint_bytes <= 0:
        return Move(usd=0.0, time_s=0.0)
    gb = checkpoint_bytes / BYTES_PER_GB
    return Move(usd=gb * egress_usd_per_gb(src_region, dst_region), time_s=transfer_time_s(gb))


def score_pool(pool: PoolOption, times: JobTimes, home: PoolScore | None = None) -> PoolScore:
    """Daly-optimal interval and expected cost for ``pool`` alone (on-demand: no interruptions).

    ``home``: the ladder head's own score, whose region holds the checkpoint; a pool in another region pays a move
    there and one back per expected head interruption (see the module docstring): its transfer time is added to
    its wall time and billed at its price, the way back billed at the head's. Without ``home``, or in the head's
    region, nothing moves.
    """
    work = times.work_s(pool)
    m = pool.gang_mtbf_s
    if m is None:
        wall = work + times.restart_s(pool.nodes)  # one start; saves run in the background
        interval = 3600.0
    else:
        delta = times.save(pool.nodes).blocking_s
        interval = daly_interval_s(delta, m)
        wall = daly_expected_wall_s(work, interval, delta, times.restart_s(pool.nodes), m)
    visits = _visits(home, pool, times)
    if not visits:
        return PoolScore(pool=pool, interval_s=interval, wall_s=wall, cost_usd=wall / 3600.0 * pool.hourly_usd)
    assert home is not None
    there = move(home.pool.region, pool.region, times.checkpoint_bytes)
    back = move(pool.region, home.pool.region, times.checkpoint_bytes)
    wall += visits * there.time_s
    migration = visits * (there.usd + back.usd + back.time_s / 3600.0 * home.pool.hourly_usd)
    return PoolScore(pool=pool, interval_s=interval, wall_s=wall,
                     cost_usd=wall / 3600.0 * pool.hourly_usd + migration, migration_usd=migration,
                     moves=2.0 * visits)


def _visits(home: PoolScore | None, pool: PoolOption, times: JobTimes) -> float:
    """Expected falls from the head to ``pool`` when they are in different regions: the head's expected
    interruptions (its wall time over its gang MTBF); 0 when nothing would move."""
    if home is None or home.pool.region == pool.region or times.checkpoint_bytes <= 0:
        return 0.0
    m = home.pool.gang_mtbf_s
    return 0.0 if m is None else home.wall_s / m


def rank_pools(pools: list[PoolOption], times: JobTimes, home: PoolScore | None = None) -> list[PoolScore]:
    """All pools scored, cheapest expected cost first (ties broken by key for determinism); ``home``: the head's
    own score, whose region holds the checkpoint (``score_pool``)."""
    return sorted((score_pool(p, times, home) for p in pools), key=lambda s: (s.cost_usd, s.pool.key))


def _region_rank(region: str, prefer: tuple[str, ...]) -> int:
    return prefer.index(region) if region in prefer else len(prefer)


def heads_by_type(ranked: list[PoolScore]) -> list[PoolScore]:
    """The best spot pool of every instance type, cheapest expected cost first."""
    seen: dict[str, PoolScore] = {}
    for s in ranked:
        if s.pool.market is Market.SPOT and s.pool.instance_type not in seen:
            seen[s.pool.instance_type] = s
    return list(seen.values())


def pick_head(ranked: list[PoolScore], bound_h: float | None, prefer_regions: tuple[str, ...] = ()) -> PoolOption | None:
    """Cheapest type's best spot pool whose closed-form makespan fits ``HEAD_MARGIN`` x the bound (else fastest)."""
    heads = heads_by_type(ranked)
    if prefer_regions:
        heads.sort(key=lambda s: _region_rank(s.pool.region, prefer_regions))
    if not heads:
        return None
    if bound_h is None:
        return heads[0].pool
    fits = [h for h in heads if h.wall_s / 3600.0 <= bound_h * HEAD_MARGIN]
    return (fits[0] if fits else min(heads, key=lambda h: h.wall_s)).pool


def build_ladder(
    ranked: list[PoolScore], *, prefer_regions: tuple[str, ...] = (), max_spot: int = MAX_SPOT_RUNGS,
    with_on_demand: bool = True, head: PoolOption | None = None, deadline_h: float | None = None,
) -> list[PoolOption]:
    """Preferred spot pool, its other AZs, other regions, other GPU types, then on-demand (``on_demand_rung``)."""
    spot = [s for s in ranked if s.pool.market is Market.SPOT]
    if prefer_regions:  # user priority beats price (skypilot#1819): stable sort keeps cost order inside a region
        spot.sort(key=lambda s: _region_rank(s.pool.region, prefer_regions))
    ladder: list[PoolOption] = []
    if spot:
        head = head or spot[0].pool
        same = [s.pool for s in spot if s.pool.nodes == head.nodes]
        tiers = (
            [p for p in same if p.instance_type == head.instance_type and p.region == head.region],
            [p for p in same if p.instance_type == head.instance_type and p.region != head.region],
            [p for p in same if p.instance_type != head.instance_type],
        )
        ladder.append(head)
        # keep room for other GPU types: one type's pools all dry up together when its capacity is short
        own_cap = max_spot - OTHER_TYPE_RUNGS if tiers[2] else max_spot
        for tier in tiers[:2]:
            ladder.extend(p for p in tier if p not in ladder)
        ladder = ladder[:own_cap]
        other: list[PoolOption] = []
        for p in tiers[2]:  # the best pool of each other type, in cost order
            if all(o.instance_type != p.instance_type for o in other):
                other.append(p)
        ladder = (ladder + other)[:max_spot]
    if with_on_demand:
        od = on_demand_rung(ranked, ladder[0].nodes if ladder else None, deadline_h, prefer_regions)
        if od is not None:
            ladder.append(od)
    return ladder


def on_demand_rung(ranked: list[PoolScore], nodes: int | None, deadline_h: float | None,
                   prefer_regions: tuple[str, ...] = ()) -> PoolOption | None:
    """The on-demand last rung, by what the job needs: among the on-demand pools of the gang's size that finish
    the whole job by the deadline on their own (closed form), the cheapest per unit of work (``ranked`` order);
    the fastest when none does. The cheapest hourly price alone could pick a 1-GPU type that takes 389 h."""
    od = [s for s in ranked if s.pool.market is Market.ON_DEMAND and (nodes is None or s.pool.nodes == nodes)]
    if deadline_h is not None:
        od = [s for s in od if s.wall_s / 3600.0 <= deadline_h] or sorted(
            od, key=lambda s: (round(s.wall_s, 3), s.cost_usd, s.pool.key))  # equally fast: the cheapest
    pools = [s.pool for s in od]
    if prefer_regions:
        pools.sort(key=lambda p: _region_rank(p.region, prefer_regions))
    return pools[0] if pools else None


def worth_spot(ranked: list[PoolScore], deadline_h: float | None, prefer_regions: tuple[str, ...] = ()) -> list[PoolScore]:
    """``ranked`` without the spot pools whose closed-form expected cost exceeds the on-demand rung's: on-demand
    would be cheaper and faster, so such a pool is never worth a rung (nor the head of a ladder)."""
    nodes = {s.pool.nodes for s in ranked}
    kept = []
    for n in sorted(nodes):
        at_n = [s for s in ranked if s.pool.nodes == n]
        od = on_demand_rung(at_n, n, deadline_h, prefer_regions)
        od_cost = next((s.cost_usd for s in at_n if s.pool is od), None)
        kept += [s for s in at_n if od_cost is None or s.pool.market is Market.ON_DEMAND or s.cost_usd <= od_cost]
    return sorted(kept, key=lambda s: (s.cost_usd, s.pool.key))
