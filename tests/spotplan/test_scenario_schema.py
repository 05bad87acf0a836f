"""The Scenario schema refuses inconsistent ladders and incomplete policies, naming the field."""

from __future__ import annotations

import pytest

from spotplan.errors import ConfigError
from spotplan.schemas import Scenario
from spotplan.simulator.compile import resolve_path
from tests.support.sim import compiled, scenario, spot_pool

OD = {"instance_type": "p3.2xlarge", "region": "us-east-1", "market": "on-demand",
      "price": {"kind": "fixed", "usd_per_h": 3.06}}


def _spot(zone: str = "us-east-1a") -> dict:
    return spot_pool(zone, "us-east-1", {"kind": "exponential", "mtbf_h": 10})


@pytest.mark.parametrize(("doc", "needle"), [
    (scenario([OD, _spot()]), "on-demand rungs must come after"),
    (scenario([_spot()], deadline={"policy": "greedy", "deadline_h": 10}), "needs spot rungs and an on-demand"),
    (scenario([_spot(), OD], deadline={"policy": "uniform-progress"}), "needs deadline_h"),
    (scenario([_spot(), _spot()]), "labels must be unique"),
    (scenario([spot_pool("a", "r", {"kind": "exponential"})]), "needs mtbf_h"),
    (scenario([spot_pool("a", "r", {"kind": "trace"})]), "needs path"),
    (scenario([_spot()], work_h=1.0) | {"job": {"steps": 10}}, "steps together with step_time_s"),
])
def test_invalid_scenarios(doc: dict, needle: str) -> None:
    """Each inconsistency is one ConfigError line mentioning what to fix."""
    with pytest.raises(ConfigError, match=needle):
        Scenario.from_dict(doc, source="s.yaml")


def test_interval_policies_resolve() -> None:
    """fixed, steps (rounded to whole steps), young and daly (M from the first spot rung, gang-adjusted)."""
    doc = scenario([_spot(), OD])
    assert compiled(doc).interval_s == 1e9
    doc["checkpoint"]["save_blocking_s"] = 60.0
    doc["checkpoint"]["interval"] = {"policy": "young"}
    assert compiled(doc).interval_s == pytest.approx((2 * 60 * 36000) ** 0.5)
    doc["job"] = {"work_h": 2.0, "nodes": 4}
    assert compiled(doc).interval_s == pytest.approx((2 * 60 * 9000) ** 0.5)  # 4 nodes: M / 4
    doc["job"] = {"steps": 1000, "step_time_s": 7.0}
    doc["checkpoint"]["interval"] = {"policy": "steps", "every_steps": 50}
    assert compiled(doc).interval_s == 350.0
    doc["checkpoint"]["interval"] = {"policy": "daly", "mtbf_h": 4.0}
    assert compiled(doc).interval_s % 7.0 == pytest.approx(0.0)


def test_young_without_spot_needs_mtbf() -> None:
    """An all-on-demand ladder has no MTBF to derive an interval from."""
    doc = scenario([OD], save_s=30.0)
    doc["checkpoint"]["interval"] = {"policy": "daly"}
    with pytest.raises(ConfigError, match="mtbf_h"):
        compiled(doc)


def test_shared_data_variable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """${SPOTPLAN_SHARED_DATA} expands from the environment; relative paths are relative to the scenario."""
    monkeypatch.setenv("SPOTPLAN_SHARED_DATA", str(tmp_path))
    assert resolve_path("${SPOTPLAN_SHARED_DATA}/x.json", tmp_path / "s", "f") == tmp_path / "x.json"
    assert resolve_path("y.json", tmp_path, "f") == tmp_path / "y.json"
    with pytest.raises(ConfigError, match="NOT_SET_VAR"):
        resolve_path("${NOT_SET_VAR}/a", tmp_path, "f")


def test_catalog_spot_price_is_refused() -> None:
    """The embedded catalog only knows on-demand prices; a spot rung must use history, fitted or fixed."""
    pool = spot_pool("us-east-1a", "us-east-1", {"kind": "exponential", "mtbf_h": 5}, price={"kind": "catalog"})
    with pytest.raises(ConfigError, match="on-demand prices only"):
        compiled(scenario([pool]))
