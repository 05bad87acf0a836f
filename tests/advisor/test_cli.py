"""`spotplan recommend`: JSON shape, golden output, plan/SkyPilot files, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from spotplan.schemas.plan import Plan
from tests.support.golden import GOLDEN_7B

GOLDEN = GOLDEN_7B
# created_utc changes every run; the sweep's fast-path columns are covered by their own tests.
VOLATILE = {"created_utc"}
REL_TOL = 1e-6


@pytest.fixture(scope="module")
def rec_json() -> dict[str, Any]:
    """The --json document of `spotplan recommend --model-size 7B` (defaults, seed 0), computed once."""
    from spotplan.advisor.api import recommend
    from spotplan.advisor.request import RecommendRequest

    return json.loads(json.dumps(recommend(RecommendRequest(model_size="7B")).to_json()))


def test_json_has_the_documented_fields(rec_json: dict[str, Any]) -> None:
    """plan.ladder rungs, checkpoint_interval_s, expected and baselines with mean/p50/p95, assumptions."""
    plan = rec_json["plan"]
    assert plan["ladder"] and all({"instance_type", "market"} <= set(r) for r in plan["ladder"])
    assert all(r["zone"] or r["az_id"] or r["region"] for r in plan["ladder"])
    assert plan["checkpoint_interval_s"] > 0 and plan["checkpoint_interval_steps"] >= 1
    for block in [rec_json["expected"], *rec_json["baselines"].values()]:
        for fig in ("cost_usd", "makespan_h"):
            assert {"mean", "p50", "p95"} <= set(block[fig])
    assert set(rec_json["baselines"]) == {"on-demand", "single-pool-young", "eager-next-region-30min"}
    names = {a["name"] for a in rec_json["assumptions"]}
    assert {"MFU", "tokens", "global batch", "sequence length", "save persist", "notice"} <= names
    assert all(a["source"] for a in rec_json["assumptions"])
    assert {c["cloud"] for c in rec_json["notice"]} == {"aws", "gcp", "azure"}
    frontier = rec_json["frontier"]  # node counts searched: 1, 2, 4, ..., 128; the plan's marked, one step per pair
    assert [f["nodes"] for f in frontier] == [1, 2, 4, 8, 16, 32, 64, 128]
    assert [f["nodes"] for f in frontier if f["plan"]] == [rec_json["plan"]["ladder"][0]["nodes"]]
    assert len(rec_json["frontier_steps"]) == len(frontier) - 1
    assert rec_json["frontier_steps"][0].startswith("2 nodes: ") and "sooner for +" in rec_json["frontier_steps"][0]


def _compare(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = [f"{path}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        return diffs + [d for k in a if k in b and k not in VOLATILE for d in _compare(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _compare(x, y, f"{path}[{i}]")]
    numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
    if numbers and (isinstance(a, float) or isinstance(b, float)):
        if math.isnan(a) and math.isnan(b):
            return []
        return [] if math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-9) else [f"{path}: {a} != {b}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_golden_recommend_7b(rec_json: dict[str, Any]) -> None:
    """The 7B recommendation on the embedded data and seed 0 matches the recorded golden output.

    Regenerate deliberately with SPOTPLAN_REGEN_GOLDEN=1 after a reviewed change of data or model.
    """
    if os.environ.get("SPOTPLAN_REGEN_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(rec_json, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    diffs = _compare(golden, rec_json)
    assert not diffs, "\n".join(diffs[:20])


def test_cli_json_is_strict_json(run_cli) -> None:
    """`--json` prints one strict JSON document (no NaN), parseable by any JSON reader."""
    code, out, err = run_cli("recommend", "--model-size", "125M", "--tokens", "2e9", "--runs", "8", "--json")
    assert code == 0, err

    def no_constants(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    doc = json.loads(out, parse_constant=no_constants)
    assert doc["plan"]["ladder"] and doc["expected"]["cost_usd"]["p95"] > 0


def test_cli_writes_plan_and_skypilot_files(run_cli, tmp_path: Path) -> None:
    """--out writes a Plan that round-trips through its schema; --skypilot writes a parseable task."""
    plan_path, sky_path = tmp_path / "plan.yaml", tmp_path / "task.yaml"
    code, out, err = run_cli("recommend", "--model-size", "125M", "--tokens", "2e9", "--runs", "8",
                             "--out", plan_path, "--skypilot", sky_path)
    assert code == 0, err
    assert "Fallback ladder" in out and "sky jobs launch" in out
    plan = Plan.load(plan_path)
    assert Plan.model_validate(plan.model_dump(mode="json")) == plan
    plan.dump(tmp_path / "again.yaml")
    assert Plan.load(tmp_path / "again.yaml") == plan
    task = yaml.safe_load(sky_path.read_text())
    assert task["resources"]["ordered"] and "job_recovery" in task["resources"]
    assert "/checkpoints" in task["file_mounts"] and "spotplan run /spotplan/plan.yaml" in task["run"]
    assert Plan.load(Path(task["file_mounts"]["/spotplan/plan.yaml"])) == plan


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model-size", "7X"], "--model-size '7X'"),
        (["--model-size", "7B", "--tokens", "0"], "--tokens"),
        (["--model-size", "7B", "--tokens", "-5"], "--tokens"),
        (["--model-size", "7B", "--deadline", "1h"], "fastest possible run"),
        (["--model-size", "7B", "--regions", "us-eats-1"], "did you mean 'us-east-1'"),
        (["--model-size", "70B", "--families", "g4dn"], "no instance type"),
        (["--model-size", "7B", "--families", "p9"], "unknown family"),
        (["--model-size", "7B", "--mode", "qlora"], "--mode"),
        (["--model-size", "7B", "--save-bandwidth", "fast"], "--save-bandwidth"),
        (["--model-size", "7B", "--calibration", "/nonexistent.json"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_exit_2(run_cli, args: list[str], needle: str) -> None:
    """Each bad input gives exit code 2 and one line naming the problem and a fix, without a traceback."""
    code, _out, err = run_cli("recommend", *args)
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and needle in lines[0], err
    assert "Traceback" not in err
