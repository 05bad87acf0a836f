"""Node count as a decision: throughput scaling, counts searched, bad --nodes, the on-demand rung and baseline by
need, spot rungs never dearer than on-demand, the closest option never chosen by cost, the frontier's marks."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from spotplan.advisor.api import prepare
from spotplan.advisor.baselines import on_demand_baseline
from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.frontier import FrontierPoint, doubling_line, doubling_lines, mark_pareto
from spotplan.advisor.ladder import JobTimes, on_demand_rung, rank_pools, score_pool, worth_spot
from spotplan.advisor.nodes import HOPELESS_WALL_FACTOR, pools_at
from spotplan.advisor.optimize import choose, closest
from spotplan.advisor.request import RecommendRequest
from spotplan.advisor.savecost import SaveCosts
from spotplan.advisor.scoring import Config, ScoreCache, Scored, SimSettings, expected_from
from spotplan.advisor.sizing import max_data_parallel_gpus, parse_model_size, scaled_tokens_per_s, size_job
from spotplan.errors import ConfigError
from spotplan.schemas.plan import Market, TrainingMode

H = 3600.0


def _pool(itype: str, market: Market, price: float, tokens_per_s: float, mtbf_h: float | None = None,
          nodes: int = 1) -> PoolOption:
    return PoolOption(
        instance_type=itype, family=itype.split(".")[0], gpu_model="H100", gpus_per_node=8, market=market,
        region="us-east-1", zone=None if market is Market.ON_DEMAND else "us-east-1a",
        az_id=None if market is Market.ON_DEMAND else "use1-az1", nodes=nodes, price_usd_per_h=price,
        on_demand_usd_per_h=price, tokens_per_s=tokens_per_s, mtbf_s=None if mtbf_h is None else mtbf_h * H,
        interruption_source="test", price_source="test", availability="exponential",
    )


def _times(work_h: float, ref_tokens_per_s: float = 1000.0) -> JobTimes:
    save = SaveCosts(bytes_per_node=1, snapshot_s=10.0, persist_s=0.0, restore_s=60.0, source="test")
    return JobTimes(work_ref_s=work_h * H, ref_tokens_per_s=ref_tokens_per_s, saves={n: save for n in (1, 2, 4, 8)})


def test_scaled_throughput_keeps_dp_efficiency_per_doubling() -> None:
    """8x the nodes at 0.93 per doubling is 8 x 0.93^3 the speed; the memory minimum itself is unchanged."""
    assert scaled_tokens_per_s(100.0, 2, 2, 0.93) == pytest.approx(100.0)
    assert scaled_tokens_per_s(100.0, 2, 16, 0.93) == pytest.approx(100.0 * 8 * 0.93**3)
    assert scaled_tokens_per_s(100.0, 1, 3, 1.0) == pytest.approx(300.0)  # linear at efficiency 1
    with pytest.raises(ConfigError):
        scaled_tokens_per_s(100.0, 2, 1, 0.93)


def test_data_parallel_width_is_one_sequence_per_gpu() -> None:
    """7B's 2M-token batch of 2,048-token sequences keeps at most 1,024 GPUs busy (128 nodes of 8)."""
    job = size_job(parse_model_size("7B"), mode=TrainingMode.FULL)
    assert max_data_parallel_gpus(job) == 2_097_152 // 2048 == 1024


def test_counts_searched_are_powers_of_two_and_memory_minima() -> None:
    """7B: 1..128 in powers of two; 70B starts at its memory minimum (2 nodes) and keeps the other types' minima."""
    assert prepare(RecommendRequest(model_size="7B")).node_counts == [1, 2, 4, 8, 16, 32, 64, 128]
    counts_70b = prepare(RecommendRequest(model_size="70B")).node_counts
    assert counts_70b[0] == 2 and counts_70b[-1] == 128 and {2, 4, 8, 16, 32, 64, 128} <= set(counts_70b)
    assert prepare(RecommendRequest(model_size="7B", max_nodes=8)).node_counts == [1, 2, 4, 8]
    assert prepare(RecommendRequest(model_size="7B", nodes=3)).node_counts == [3]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"model_size": "70B", "nodes": 1}, "use --nodes 2 or more"),
    ({"model_size": "1.3B", "nodes": 128}, "use --nodes 64 or fewer"),
    ({"model_size": "7B", "nodes": 0}, "between 1 and 128"),
    ({"model_size": "7B", "max_nodes": 200}, "above the limit of 128"),
    ({"model_size": "7B", "nodes": 8, "max_nodes": 4}, "above --max-nodes 4"),
    ({"model_size": "7B", "dp_efficiency": 0.0}, "--dp-efficiency"),
])
def test_bad_node_requests_name_the_fix(kwargs: dict, match: str) -> None:
    """--nodes 0, --nodes that cannot hold the model or exceed the batch, --max-nodes above 128: ConfigError."""
    with pytest.raises(ConfigError, match=match):
        prepare(RecommendRequest(**kwargs))


def test_hopeless_spot_gangs_are_left_out_at_large_counts() -> None:
    """At 128 nodes no spot pool whose closed-form wall is over 10x its compute stays; on-demand always does."""
    prep = prepare(RecommendRequest(model_size="7B"))
    at_128 = pools_at(prep.pools, 128, prep.times, 0.93)
    assert any(p.market is Market.ON_DEMAND for p in at_128) and all(p.nodes == 128 for p in at_128)
    for p in at_128:
        if p.market is Market.SPOT:
            assert score_pool(p, prep.times).wall_s <= HOPELESS_WALL_FACTOR * prep.times.work_s(p)
    every_spot = [replace(p, nodes=128) for p in prep.pools if p.market is Market.SPOT and p.gpus_per_node >= 8]
    assert len([p for p in at_128 if p.market is Market.SPOT]) < len(every_spot)


def test_on_demand_rung_is_chosen_by_what_the_deadline_needs() -> None:
    """A cheap slow on-demand pool (389 h) loses to a fast one when the deadline is 300 h; without one it wins."""
    slow = _pool("g6e.xlarge", Market.ON_DEMAND, 1.0, 1000.0 * 100 / 389)
    fast = _pool("p5.48xlarge", Market.ON_DEMAND, 50.0, 1000.0 * 100 / 40)
    ranked = rank_pools([slow, fast], _times(100.0))
    assert on_demand_rung(ranked, 1, None) is slow  # cheapest per unit of work
    assert on_demand_rung(ranked, 1, 300.0) is fast
    assert on_demand_rung(ranked, 1, 10.0) is fast  # none finishes: the fastest


def test_on_demand_baseline_honours_the_limit() -> None:
    """The on-demand baseline is the cheapest per token that finishes within the limit, else the fastest."""
    slow = _pool("g6e.xlarge", Market.ON_DEMAND, 1.0, 1000.0 * 100 / 389)
    fast = _pool("p5.48xlarge", Market.ON_DEMAND, 50.0, 1000.0 * 100 / 40)
    times = _times(100.0)
    assert on_demand_baseline([slow, fast]).ladder[0] is slow
    assert on_demand_baseline([slow, fast], times, 300.0).ladder[0] is fast
    assert on_demand_baseline([slow, fast], times, 1000.0).ladder[0] is slow


def test_spot_pool_dearer_than_on_demand_is_never_a_rung() -> None:
    """A spot pool whose closed-form cost (interruptions priced) exceeds on-demand's is dropped from the ranking."""
    od = _pool("p5.48xlarge", Market.ON_DEMAND, 50.0, 1000.0)
    cheap = _pool("p5.48xlarge", Market.SPOT, 20.0, 1000.0, mtbf_h=9.0)
    awful = _pool("p4d.24xlarge", Market.SPOT, 45.0, 1000.0, mtbf_h=0.05)  # reclaimed every 3 min
    ranked = rank_pools([od, cheap, awful], _times(100.0))
    by_pool = {id(s.pool): s for s in ranked}
    assert by_pool[id(awful)].cost_usd > by_pool[id(od)].cost_usd > by_pool[id(cheap)].cost_usd
    kept = [s.pool for s in worth_spot(ranked, None)]
    assert cheap in kept and od in kept and awful not in kept


def _scored(name: str, cost: float, makespan_h: float, hit: float, cut: int) -> Scored:
    cfg = Config(name=name, ladder=(_pool("p5.48xlarge", Market.SPOT, 20.0, 1000.0, mtbf_h=9.0),), interval_s=600.0,
                 recovery="failover", deadline_policy="none")
    c, m = np.full(8, cost), np.full(8, makespan_h)
    return Scored(config=cfg, scenario=None, expected=expected_from(c, m, hit, 8, 0), cost_usd=c, makespan_h=m,
                  elapsed_s=0.0, cut_runs=cut)


def test_closest_option_is_never_ranked_by_the_cost_of_cut_runs() -> None:
    """No option feasible: the highest hit rate wins; at equal hit rate, fewer cut runs beat a lower cost."""
    cut_cheap = _scored("cut-cheap", 10.0, 450.0, 0.0, cut=3)
    whole = _scored("whole", 700.0, 389.0, 0.0, cut=0)
    near = _scored("near", 900.0, 310.0, 0.8, cut=0)
    assert closest([cut_cheap, whole]) is whole
    assert choose([cut_cheap, whole, near], 300.0, None) is near
    ok = _scored("ok", 1000.0, 290.0, 1.0, cut=0)
    assert choose([cut_cheap, whole, near, ok], 300.0, None) is ok


def test_score_cache_simulates_a_configuration_once() -> None:
    """The same configuration and settings come back from the cache; other settings are scored afresh."""
    times = _times(2.0)
    s = SimSettings(times=times, step_time_ref_s=1.0, checkpoint_bytes=1, keep_last=2, notice_s=0.0,
                    emergency_save=False, deadline_h=None, runs=4, seed=5, prices_path=None,
                    interruption_multiplier=1.0)
    cfg = Config(name="a", ladder=(_pool("p5.48xlarge", Market.SPOT, 20.0, 1000.0, mtbf_h=1.0),), interval_s=600.0,
                 recovery="failover", deadline_policy="none")
    cache = ScoreCache()
    first = cache.score_many([cfg], s, workers=1)[0]
    assert cache.score_many([cfg], s, workers=1)[0] is first
    other = cache.score_many([cfg], replace(s, seed=6), workers=1)[0]
    assert other is not first and other.expected.runs == 4


def _pt(nodes: int, cost: float, p95_h: float, plan: bool = False) -> FrontierPoint:
    return FrontierPoint(nodes=nodes, head="p5.48xlarge spot", ladder=("x",), cost_mean_usd=cost, cost_p95_usd=cost,
                         makespan_mean_h=p95_h, makespan_p95_h=p95_h, deadline_hit_rate=None, runs=8,
                         simulated=True, feasible=True, plan=plan)


def test_pareto_marks_and_doubling_lines_by_hand() -> None:
    """Hand example: 4 nodes is dominated by 8 (dearer and slower); each step says time saved and extra cost."""
    pts = mark_pareto([_pt(1, 1000.0, 480.0, plan=True), _pt(2, 1060.0, 240.0), _pt(4, 1300.0, 200.0),
                       _pt(8, 1200.0, 120.0)])
    assert [p.pareto for p in pts] == [True, True, False, True]
    assert doubling_line(pts[0], pts[1]) == "2 nodes: 10.0 days sooner for +6%"
    assert doubling_line(pts[2], pts[3]) == "8 nodes: 3.3 days sooner for -8%"
    assert doubling_line(pts[3], _pt(16, 1300.0, 130.0)) == "16 nodes: 10.0 h later for +8%"
    assert len(doubling_lines(pts)) == 3
    assert math.isclose(pts[0].p95_or_mean_h, 480.0)


@pytest.mark.parametrize("interruption_multiplier", [1.0, 60.0])
def test_quick_plan_never_recommends_spot_dearer_than_on_demand(interruption_multiplier: float) -> None:
    """The dashboard's quick plan: every spot rung's closed-form cost is at most the on-demand rung's, although
    pools dearer than on-demand exist at that node count (1.3B, 2e9 tokens)."""
    from spotplan.advisor.scan import closed_form_count, count_options
    from spotplan.dashboard.quickplan import quick_plan

    req = RecommendRequest(model_size="1.3B", tokens=2 * 10**9, interruption_multiplier=interruption_multiplier,
                           runs=8)
    q = quick_plan(req)
    prep = prepare(req)
    ranked = rank_pools(closed_form_count(count_options(prep, req)).pools, prep.times)
    cost = {(s.pool.key, s.pool.nodes): s.cost_usd for s in ranked}
    od = [p for p in q.ladder if p.market is Market.ON_DEMAND]
    assert len(od) == 1
    od_cost = cost[(od[0].key, od[0].nodes)]
    assert all(cost[(p.key, p.nodes)] <= od_cost for p in q.ladder if p.market is Market.SPOT)
    assert any(s.cost_usd > od_cost for s in ranked if s.pool.market is Market.SPOT)
