"""Pool ranking and ladder construction on hand-built pools; baselines; the closed-form interval."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from spotplan.advisor.baselines import baselines
from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.ladder import JobTimes, build_ladder, rank_pools, score_pool
from spotplan.advisor.savecost import SaveCosts
from spotplan.schemas.plan import Market
from spotplan.simulator.theory import daly_interval_s, young_interval_s

H = 3600.0


def _pool(itype: str, region: str, az: str | None, price: float, *, mtbf_h: float | None = 10.0,
          tps: float = 1000.0, market: Market = Market.SPOT) -> PoolOption:
    return PoolOption(
        instance_type=itype, family=itype.split(".")[0], gpu_model="A100", gpus_per_node=8, market=market,
        region=region, zone=None, az_id=az, nodes=1, price_usd_per_h=price, on_demand_usd_per_h=price * 3,
        tokens_per_s=tps, mtbf_s=None if market is Market.ON_DEMAND else mtbf_h * H,
        interruption_source="test", price_source="test",
    )


def _times(block_s: float = 60.0) -> JobTimes:
    save = SaveCosts(bytes_per_node=1, snapshot_s=block_s, persist_s=0.0, restore_s=60.0, source="test")
    return JobTimes(work_ref_s=100 * H, ref_tokens_per_s=1000.0, saves={1: save})


def test_score_pool_uses_daly_interval() -> None:
    """A spot pool alone is checkpointed at Daly's eq. 37 optimum for its MTBF and blocking save."""
    s = score_pool(_pool("p4d.24xlarge", "us-east-1", "use1-az1", 10.0, mtbf_h=4.0), _times(60.0))
    assert s.interval_s == pytest.approx(daly_interval_s(60.0, 4 * H))
    assert s.cost_usd > 100 * 10.0  # interruptions cost more than pure compute


def test_ladder_order_is_preferred_pool_then_azs_then_regions_then_types_then_on_demand() -> None:
    """The ladder follows the practitioners' order regardless of raw price order across tiers."""
    pools = [
        _pool("p5.48xlarge", "us-east-1", "use1-az1", 10.0, tps=3000.0),  # best per token
        _pool("p5.48xlarge", "us-west-2", "usw2-az1", 10.5, tps=3000.0),
        _pool("p5.48xlarge", "us-east-1", "use1-az2", 11.0, tps=3000.0),
        _pool("p4d.24xlarge", "us-east-1", "use1-az1", 5.0, tps=1000.0),
        _pool("p5.48xlarge", "us-east-1", None, 55.0, tps=3000.0, market=Market.ON_DEMAND),
        _pool("p4d.24xlarge", "us-east-1", None, 22.0, tps=1000.0, market=Market.ON_DEMAND),
    ]
    ladder = build_ladder(rank_pools(pools, _times()))
    keys = [p.key for p in ladder]
    assert keys == [
        "p5.48xlarge/spot/use1-az1", "p5.48xlarge/spot/use1-az2", "p5.48xlarge/spot/usw2-az1",
        "p4d.24xlarge/spot/use1-az1", "p5.48xlarge/on-demand/us-east-1",  # cheaper per token than p4d
    ]


def test_ladder_keeps_room_for_other_gpu_types() -> None:
    """With many pools of the best type, the ladder still ends its spot part with other GPU types."""
    pools = [_pool("p5.48xlarge", "us-east-1", f"use1-az{i}", 10.0 + i / 100, tps=3000.0) for i in range(1, 7)]
    pools += [_pool("p4d.24xlarge", "us-east-1", "use1-az1", 5.0), _pool("p4de.24xlarge", "us-east-1", "use1-az1", 6.0),
              _pool("p4d.24xlarge", "us-east-1", "use1-az2", 5.1)]
    ladder = build_ladder(rank_pools(pools, _times()), with_on_demand=False)
    types = [p.instance_type for p in ladder]
    assert len(ladder) == 6 and types[:4] == ["p5.48xlarge"] * 4
    assert set(types[4:]) == {"p4d.24xlarge", "p4de.24xlarge"}


def test_prefer_regions_reorders_ladder() -> None:
    """--prefer-regions puts the preferred region's pools first even when another is cheaper."""
    pools = [
        _pool("p5.48xlarge", "us-east-1", "use1-az1", 10.0),
        _pool("p5.48xlarge", "us-west-2", "usw2-az1", 12.0),
        _pool("p5.48xlarge", "us-west-2", None, 55.0, market=Market.ON_DEMAND),
        _pool("p5.48xlarge", "us-east-1", None, 50.0, market=Market.ON_DEMAND),
    ]
    ladder = build_ladder(rank_pools(pools, _times()), prefer_regions=("us-west-2",))
    assert ladder[0].region == "us-west-2" and ladder[-1].market is Market.ON_DEMAND
    assert ladder[-1].region == "us-west-2"


def test_baselines_are_on_demand_single_pool_young_and_eager_30min() -> None:
    """The three baselines take the cheapest on-demand, the cheapest spot pool at Young, and a 30-min eager ladder."""
    pools = [
        _pool("p4d.24xlarge", "us-east-1", "use1-az1", 7.0, mtbf_h=5.0),
        _pool("p4d.24xlarge", "us-west-2", "usw2-az1", 6.0, mtbf_h=2.0),
        _pool("p4d.24xlarge", "us-east-1", None, 22.0, market=Market.ON_DEMAND),
    ]
    times = _times(60.0)
    by = {c.name: c for c in baselines(pools, times)}
    assert set(by) == {"on-demand", "single-pool-young", "eager-next-region-30min"}
    assert [p.market for p in by["on-demand"].ladder] == [Market.ON_DEMAND]
    single = by["single-pool-young"]
    assert single.ladder[0].az_id == "usw2-az1" and single.recovery == "failover"
    assert single.interval_s == pytest.approx(young_interval_s(60.0, 2 * H))
    eager = by["eager-next-region-30min"]
    assert eager.interval_s == 1800 and eager.recovery == "eager-next-region"
    assert [p.az_id for p in eager.ladder] == ["usw2-az1", "use1-az1"]
    assert all(p.market is Market.SPOT for p in eager.ladder)


def test_gang_mtbf_divides_by_nodes() -> None:
    """A gang of N independent instances is interrupted N times as often (conservative)."""
    p = _pool("p5.48xlarge", "us-east-1", "use1-az1", 10.0, mtbf_h=8.0)
    from dataclasses import replace

    assert replace(p, nodes=4).gang_mtbf_s == pytest.approx(2 * H)
    assert math.isclose(p.usd_per_token(), 10.0 / 3600 / 1000.0)


def test_advisor_never_imports_torch_or_streamlit() -> None:
    """Importing the advisor (api, render, CLI command) leaves torch and streamlit out of sys.modules."""
    code = (
        "import sys, spotplan.advisor.api, spotplan.advisor.render, spotplan.advisor.emit, spotplan.commands.recommend\n"
        "bad = [m for m in ('torch', 'streamlit') if m in sys.modules]\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def _ckpt_times(checkpoint_gb: float) -> JobTimes:
    save = SaveCosts(bytes_per_node=1, snapshot_s=60.0, persist_s=0.0, restore_s=60.0, source="test")
    return JobTimes(work_ref_s=100 * H, ref_tokens_per_s=1000.0, saves={1: save},
                    checkpoint_bytes=int(checkpoint_gb * 1e9))


def test_rung_in_another_region_pays_egress_and_transfer_per_head_interruption() -> None:
    """By hand: a 50 GB checkpoint in us-east-2, a head with a 10 h MTBF, a us-west-2 rung at $12/h. The head's
    closed-form wall W over its MTBF gives the visits; each moves 50 GB there at $0.02/GB (egress.json) and back at
    $0.02/GB, 50 / 0.25 = 200 s each way: there on the rung's bill (and its time), back on the head's."""
    times = _ckpt_times(50.0)
    head_pool = _pool("p5.48xlarge", "us-east-2", "use2-az1", 10.0, mtbf_h=10.0)
    rung = _pool("p5.48xlarge", "us-west-2", "usw2-az1", 12.0, mtbf_h=5.0)
    head = score_pool(head_pool, times)
    alone = score_pool(rung, times)
    priced = score_pool(rung, times, home=head)
    visits = head.wall_s / (10.0 * H)
    transfer_s = 50.0 / 0.25
    egress_round_trip_usd = 50.0 * 0.02 + 50.0 * 0.02
    assert priced.moves == pytest.approx(2 * visits)
    assert priced.wall_s == pytest.approx(alone.wall_s + visits * transfer_s)
    assert priced.migration_usd == pytest.approx(visits * (egress_round_trip_usd + transfer_s / H * 10.0))
    assert priced.migration_usd / visits == pytest.approx(2.0 + 200.0 / 3600.0 * 10.0)  # $2 egress + $0.56 back
    assert priced.cost_usd - alone.cost_usd == pytest.approx(visits * (2.0 + 200.0 / 3600.0 * (10.0 + 12.0)))
    assert priced.cost_usd == pytest.approx(priced.wall_s / H * 12.0 + priced.migration_usd)
    assert priced.interval_s == alone.interval_s  # Daly's interval does not depend on the restart


def test_moves_within_the_head_region_and_from_an_on_demand_head_are_free() -> None:
    """Another zone of the head's region, or any rung under an on-demand head (never interrupted): no move."""
    times = _ckpt_times(50.0)
    head = score_pool(_pool("p5.48xlarge", "us-east-2", "use2-az1", 10.0), times)
    same_region = _pool("p5.48xlarge", "us-east-2", "use2-az2", 11.0)
    assert score_pool(same_region, times, home=head) == score_pool(same_region, times)
    od_head = score_pool(_pool("p5.48xlarge", "us-east-2", None, 30.0, market=Market.ON_DEMAND), times)
    far = _pool("p5.48xlarge", "us-west-2", "usw2-az1", 12.0)
    assert score_pool(far, times, home=od_head).migration_usd == 0.0


def test_migration_reorders_rungs_and_picks_the_on_demand_rung_in_the_head_region() -> None:
    """Of two rungs in other regions, the one a cheaper egress pair away (us-east-1, $0.01/GB vs $0.02/GB) comes
    first although it is a little dearer per hour; of two equally priced on-demand pools the one in the head's
    region is the last rung."""
    times = _ckpt_times(500.0)
    pools = [
        _pool("p5.48xlarge", "us-east-2", "use2-az1", 10.0, mtbf_h=2.0),
        _pool("p5.48xlarge", "us-west-2", "usw2-az1", 12.0),
        _pool("p5.48xlarge", "us-east-1", "use1-az1", 12.05),
        _pool("p5.48xlarge", "us-east-1", None, 30.0, market=Market.ON_DEMAND),
        _pool("p5.48xlarge", "us-east-2", None, 30.0, market=Market.ON_DEMAND),
    ]
    head = score_pool(pools[0], times)
    alone = build_ladder(rank_pools(pools, times), head=pools[0])
    priced = build_ladder(rank_pools(pools, times, home=head), head=pools[0])
    assert [p.key for p in alone][1:] == ["p5.48xlarge/spot/usw2-az1", "p5.48xlarge/spot/use1-az1",
                                          "p5.48xlarge/on-demand/us-east-1"]  # equal prices: by key
    assert [p.key for p in priced][1:] == ["p5.48xlarge/spot/use1-az1", "p5.48xlarge/spot/usw2-az1",
                                           "p5.48xlarge/on-demand/us-east-2"]
