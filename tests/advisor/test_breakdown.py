"""The plan's cost and time by activity: a cross-region fallback by hand, and the split of recommend's plan."""

from __future__ import annotations

from dataclasses import replace

import pytest
from rich.console import Console

from spotplan.advisor.api import recommend
from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.ladder import JobTimes
from spotplan.advisor.recommendation import Recommendation
from spotplan.advisor.render import render
from spotplan.advisor.request import RecommendRequest
from spotplan.advisor.savecost import SaveCosts
from spotplan.advisor.scoring import Config, SimSettings, score, score_many
from spotplan.schemas.outputs import RecommendOutput
from spotplan.schemas.plan import Market
from spotplan.simulator.market.egress import MIGRATION_BANDWIDTH_GB_PER_S
from spotplan.simulator.result import CostBucket

H = 3600.0
CHECKPOINT_GB = 50.0
OD_USD_PER_H = 30.0
US_EAST_2_TO_US_WEST_2_USD_PER_GB = 0.02  # data/catalog/egress.json


def _pool(region: str, market: Market, mtbf_h: float | None) -> PoolOption:
    az = {"us-east-2": "use2-az1", "us-west-2": "usw2-az1"}[region]
    return PoolOption(
        instance_type="p4d.24xlarge", family="p4d", gpu_model="A100", gpus_per_node=8, market=market,
        region=region, zone=None, az_id=None if market is Market.ON_DEMAND else az, nodes=1,
        price_usd_per_h=10.0 if market is Market.SPOT else OD_USD_PER_H, on_demand_usd_per_h=OD_USD_PER_H,
        tokens_per_s=1000.0, mtbf_s=None if mtbf_h is None else mtbf_h * H, interruption_source="exponential (test)",
        price_source="fixed (test)", availability="exponential" if market is Market.SPOT else "fitted",
    )


def _settings(runs: int = 16) -> SimSettings:
    save = SaveCosts(bytes_per_node=1, snapshot_s=30.0, persist_s=0.0, restore_s=60.0, source="test")
    times = JobTimes(work_ref_s=20 * H, ref_tokens_per_s=1000.0, saves={1: save},
                     checkpoint_bytes=int(CHECKPOINT_GB * 1e9))
    return SimSettings(times=times, step_time_ref_s=1.0, checkpoint_bytes=int(CHECKPOINT_GB * 1e9), keep_last=2,
                       notice_s=0.0, emergency_save=False, deadline_h=None, runs=runs, seed=3, prices_path=None,
                       interruption_multiplier=1.0)


def _fallback() -> Config:
    """Spot in us-east-2, then on-demand in us-west-2: eager-next-region leaves us-east-2 at the first
    interruption and stays on the never-interrupted on-demand rung, so a run moves its checkpoint at most once."""
    return Config(name="fallback", ladder=(_pool("us-east-2", Market.SPOT, 8.0), _pool("us-west-2", Market.ON_DEMAND,
                  None)), interval_s=1800.0, recovery="eager-next-region", deadline_policy="none")


def test_cross_region_fallback_egress_and_transfer_time_by_hand() -> None:
    """Each move takes 50 GB / 0.25 GB/s = 200 s on the $30/h on-demand rung and 50 GB x $0.02/GB = $1 egress:
    the migration bucket is the runs' moves times ($1 + 200 s at $30/h), its time the moves times 200 s."""
    b = score(_fallback(), _settings()).breakdown
    assert b is not None and b.runs == 16
    assert 0 < b.migrations <= 1.0  # some runs fall back (the head's MTBF is 8 h for 20 h of work)
    transfer_s = CHECKPOINT_GB / MIGRATION_BANDWIDTH_GB_PER_S
    assert transfer_s == pytest.approx(200.0)
    egress_usd = CHECKPOINT_GB * US_EAST_2_TO_US_WEST_2_USD_PER_GB
    assert b.egress_usd == pytest.approx(b.migrations * egress_usd)
    assert b.time_h["migration"] == pytest.approx(b.migrations * transfer_s / H)
    assert b.cost_usd["migration"] == pytest.approx(b.migrations * (egress_usd + transfer_s / H * OD_USD_PER_H))
    # on these seeds every run is interrupted before it finishes: one move each, $1 + $1.67 and 200 s
    assert b.migrations == 1.0
    assert b.cost_usd["migration"] == pytest.approx(1.0 + 200.0 / 3600.0 * 30.0)
    assert b.time_h["migration"] * H == pytest.approx(200.0)


def test_one_region_ladder_has_no_migration_and_splits_sum_to_the_cost() -> None:
    """The same ladder with its on-demand rung in us-east-2: nothing moves, the migration bucket is 0; every
    bucket of the simulator is present and the split sums to the expected cost."""
    cfg = _fallback()
    one_region = replace(cfg, name="one-region", ladder=(cfg.ladder[0], _pool("us-east-2", Market.ON_DEMAND, None)))
    s = score(one_region, _settings())
    b = s.breakdown
    assert b is not None
    assert set(b.cost_usd) == {c.value for c in CostBucket} == set(b.time_h)
    assert b.cost_usd["migration"] == 0.0 and b.time_h["migration"] == 0.0 and b.migrations == 0.0
    assert b.total_usd == pytest.approx(s.expected.cost_usd.mean, rel=1e-12)
    assert b.cost_usd["useful_compute"] > 0 and b.cost_usd["lost_work"] > 0


def test_breakdown_does_not_depend_on_workers() -> None:
    """Scoring on two worker processes keeps the same runs, so the same split as in this process."""
    s = _settings(runs=8)
    one = score_many([_fallback()], s, workers=1)[0]
    two = score_many([_fallback()], s, workers=2)[0]
    assert one.breakdown == two.breakdown


@pytest.fixture(scope="module")
def rec_7b() -> Recommendation:
    """``recommend --model-size 7B`` on the embedded data (seed 0)."""
    return recommend(RecommendRequest(model_size="7B"))


def test_recommend_7b_breakdown_sums_to_expected_cost_and_prices_its_moves(rec_7b: Recommendation) -> None:
    """The 7B plan's ladder reaches us-east-1 rungs from its us-east-2 head: its migration bucket is priced at
    $0.01/GB both ways (egress per transfer second = $/GB x GB/s); the split sums to the plan's expected cost and
    is in the --json document, which the schema accepts."""
    rec = rec_7b
    b = rec.breakdown
    assert b is not None and b.runs == rec.expected.runs
    assert b.total_usd == pytest.approx(rec.expected.cost_usd.mean, rel=1e-9)
    assert {p.region for p in rec.plan.ladder} == {"us-east-2", "us-east-1"}
    assert b.migrations > 0
    assert b.egress_usd / (b.time_h["migration"] * H) == pytest.approx(0.01 * MIGRATION_BANDWIDTH_GB_PER_S)
    doc = RecommendOutput.model_validate(rec.to_json())
    assert doc.breakdown is not None and doc.breakdown.cost_usd == b.cost_usd


def test_summary_shows_the_split_in_one_line_and_every_bucket_with_explain(rec_7b: Recommendation) -> None:
    """The headline has one split line of at most 80 columns, ending with migration; --explain adds every bucket."""
    con = Console(width=80, record=True, force_terminal=False)
    render(rec_7b, console=con, explain=True)
    text = con.export_text()
    split = [line for line in text.splitlines() if line.startswith("  split ")]
    assert len(split) == 1 and len(split[0]) <= 80 and "migration $" in split[0] and "useful_compute 9" in split[0]
    table = text[text.index("Cost and time by activity"):]
    assert all(c.value in table for c in CostBucket) and "of which egress" in table
