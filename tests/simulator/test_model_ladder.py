"""The fallback ladder moves to the rung the recovery strategy names after a preemption."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotplan.schemas.scenario import RecoveryStrategy
from spotplan.simulator.recovery import candidate_order, pick_rung
from tests.support.sim import run, scenario, spot_pool, write_trace

ALWAYS = {"kind": "always"}


def _ladder(tmp_path: Path, strategy: str, rest: list[dict]) -> list[str]:
    """Rung labels in launch order when rung A (us-east-1a) is preempted at 3600 s."""
    a = write_trace(tmp_path, "a", [1] * 6 + [0] * 100, 600.0)
    pools = [spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": a}, name="A"), *rest]
    doc = scenario(pools, work_h=2.0, interval_s=600.0, save_s=1.0, ladder={"recovery": strategy})
    return [b.pool for b in run(doc).bills]


def _b() -> dict:
    return spot_pool("us-east-1b", "us-east-1", ALWAYS, name="B")


def _c() -> dict:
    return spot_pool("us-west-2a", "us-west-2", ALWAYS, name="C")


@pytest.mark.parametrize(("strategy", "order", "expected"), [
    ("eager-next-region", "BC", ["A", "C"]),  # leave the preempted region
    ("failover", "BC", ["A", "B"]),  # same region first
    ("fixed-order", "BC", ["A", "B"]),  # first rung with capacity
    ("fixed-order", "CB", ["A", "C"]),
    ("failover", "CB", ["A", "B"]),
    ("eager-next-region", "CB", ["A", "C"]),
])
def test_strategy_picks_rung(tmp_path: Path, strategy: str, order: str, expected: list[str]) -> None:
    """After A's preemption each strategy lands where SkyPilot's would."""
    rest = [_b() if x == "B" else _c() for x in order]
    assert _ladder(tmp_path, strategy, rest) == expected


def test_eager_falls_back_to_the_preempted_region(tmp_path: Path) -> None:
    """When no other region has capacity, eager-next-region retries the whole ladder (SkyPilot step 3)."""
    down = write_trace(tmp_path, "c", [0, 1] + [0] * 100, 600.0)
    c = spot_pool("us-west-2a", "us-west-2", {"kind": "trace", "path": down}, name="C")
    assert _ladder(tmp_path, "eager-next-region", [c, _b()]) == ["A", "B"]


def test_on_demand_last_rung(tmp_path: Path) -> None:
    """With every spot rung down, the job lands on the on-demand rung and stays there."""
    od = {"instance_type": "p3.2xlarge", "region": "us-east-1", "market": "on-demand", "name": "OD",
          "price": {"kind": "fixed", "usd_per_h": 3.06}}
    assert _ladder(tmp_path, "eager-next-region", [od]) == ["A", "OD"]


def test_waits_for_capacity_on_the_retry_grid(tmp_path: Path) -> None:
    """With no rung up the job waits and relaunches on the 60 s retry grid after capacity returns."""
    a = write_trace(tmp_path, "a", [1] * 6 + [0] * 3 + [1] * 100, 610.0)  # back at 5490 s
    doc = scenario([spot_pool("us-east-1a", "us-east-1", {"kind": "trace", "path": a})], work_h=2.0,
                   interval_s=600.0, save_s=1.0)
    bills = run(doc).bills
    assert bills[0].end_s == pytest.approx(3660.0)
    assert bills[1].start_s == pytest.approx(3660.0 + 60 * 31)  # first grid point at or after 5490 s


def test_candidate_order_pure() -> None:
    """The pure ordering: eager puts other regions first, failover the same region, fixed keeps the ladder."""
    regions = ["r1", "r2", "r1", "r3"]
    assert candidate_order(RecoveryStrategy.EAGER_NEXT_REGION, regions, "r1") == [1, 3, 0, 2]
    assert candidate_order(RecoveryStrategy.FAILOVER, regions, "r1") == [0, 2, 1, 3]
    assert candidate_order(RecoveryStrategy.FIXED_ORDER, regions, "r1") == [0, 1, 2, 3]
    assert candidate_order(RecoveryStrategy.EAGER_NEXT_REGION, regions, None) == [0, 1, 2, 3]
    assert pick_rung(RecoveryStrategy.FAILOVER, regions, [False, True, False, True], "r1") == 1
    assert pick_rung(RecoveryStrategy.FAILOVER, regions, [False] * 4, "r1") is None
    assert candidate_order(RecoveryStrategy.FIXED_ORDER, regions, None, allowed=[1, 2]) == [1, 2]
