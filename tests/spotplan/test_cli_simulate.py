"""``spotplan simulate`` and ``spotplan interval``: JSON contracts, Daly's cases, worker independence, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from spotplan.paths import REPO_ROOT
from spotplan.schemas import Scenario

REPO = REPO_ROOT
EXAMPLES = REPO / "data" / "examples"


@pytest.mark.parametrize(("mtbf_h", "young_min", "daly_min", "tw_h"), [
    (24, 120.0, 116.7, 547.9), (6, 60.0, 56.7, 610.2), (0.25, 12.2, 9.1, 2504.0)])
def test_interval_daly_cases(run_cli, mtbf_h: float, young_min: float, daly_min: float, tw_h: float) -> None:
    """`spotplan interval` prints Daly's published intervals and T_w (δ 5 min, R 10 min, 500 h)."""
    code, out, _ = run_cli("interval", "--save-s", "300", "--mtbf-h", str(mtbf_h), "--restart-s", "600",
                           "--work-h", "500", "--json")
    assert code == 0
    d = json.loads(out)
    assert round(d["young_s"] / 60, 1) == young_min
    assert round(d["daly_s"] / 60, 1) == daly_min
    assert d["expected_makespan_h"] == pytest.approx(tw_h, abs=0.05 if tw_h < 1000 else 0.5)


def test_interval_simulate(run_cli) -> None:
    """--simulate adds the simulated optimum and its mean makespan, close to Daly's."""
    code, out, _ = run_cli("interval", "--save-s", "300", "--mtbf-h", "6", "--restart-s", "600", "--work-h", "500",
                           "--simulate", "--runs", "300", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["simulated_best_s"] == pytest.approx(d["daly_s"], rel=0.5)
    assert d["simulated_makespan_h"] == pytest.approx(d["expected_makespan_h"], rel=0.01)
    code, text, _ = run_cli("interval", "--save-s", "60", "--mtbf-h", "4")
    assert code == 0 and "Daly" in text and "21.2 min" in text  # domain reference §2.3: 60 s, 4 h -> 21.2 min


def test_simulate_json_contract_and_worker_independence(run_cli, tmp_path: Path) -> None:
    """The --json document has runs, makespan_h and cost_usd with mean/p50/p95/ci95; 1 and 2 workers agree;
    the Daly example's mean lies within 1% of T_w = 547.9 h and inside its own 99% CI."""
    path = str(EXAMPLES / "daly-exponential.yaml")
    code1, out1, _ = run_cli("simulate", path, "--runs", "250", "--seed", "3", "--json", "--workers", "1")
    code2, out2, _ = run_cli("simulate", path, "--runs", "250", "--seed", "3", "--json", "--workers", "2")
    assert code1 == code2 == 0
    d1, d2 = json.loads(out1), json.loads(out2)
    assert d1 == d2
    assert d1["runs"] == 250
    for key in ("makespan_h", "cost_usd"):
        assert {"mean", "p50", "p95", "ci95"} <= set(d1[key])
        assert isinstance(d1[key]["ci95"], list) and len(d1[key]["ci95"]) == 2
    tw = 547.8818
    assert abs(d1["makespan_h"]["mean"] / tw - 1) < 0.01
    assert d1["makespan_h"]["ci99"][0] <= tw <= d1["makespan_h"]["ci99"][1]
    timeline = tmp_path / "t.csv"
    code, out, _ = run_cli("simulate", path, "--runs", "3", "--timeline", str(timeline))
    assert code == 0 and "lost work" in out
    head = timeline.read_text().splitlines()[0]
    assert head == "run,start_s,end_s,activity,bucket,pool,instance,cost_usd"


@pytest.mark.parametrize("name", ["gcp-30s-notice.yaml", "deadline-uniform-progress.yaml"])
def test_embedded_examples_run(run_cli, name: str) -> None:
    """The examples that need only embedded data run and report sensible numbers."""
    code, out, _ = run_cli("simulate", str(EXAMPLES / name), "--runs", "20", "--json", "--workers", "1")
    assert code == 0
    d = json.loads(out)
    assert d["cost_usd"]["mean"] > 0 and d["finished_rate"] == 1.0
    if name.startswith("gcp"):  # 10 s + 60 s save after a 5 s lag never fits a 30 s notice
        assert d["mean_counts"]["emergency_saves"] == 0
    else:
        assert d["deadline_hit_rate"] is not None


@pytest.mark.parametrize("name", ["p3-us-east-1-replay.yaml", "cbl-4node-gang.yaml"])
def test_shared_data_examples_run(run_cli, shared_data: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The examples replaying the public data run on it (skipped without it)."""
    monkeypatch.setenv("SPOTPLAN_SHARED_DATA", str(shared_data))
    code, out, err = run_cli("simulate", str(EXAMPLES / name), "--runs", "12", "--json", "--workers", "1")
    assert code == 0, err
    d = json.loads(out)
    assert d["makespan_h"]["mean"] > 0 and d["cost_usd"]["mean"] > 0


def test_missing_shared_data_is_one_clear_line(run_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A replay scenario without the public data fails with exit 2 naming the field and the path."""
    monkeypatch.setenv("SPOTPLAN_SHARED_DATA", str(tmp_path / "nowhere"))
    code, _, err = run_cli("simulate", str(EXAMPLES / "p3-us-east-1-replay.yaml"), "--runs", "2")
    assert code == 2
    assert err.count("\n") == 1 and "pools[0].price.path" in err and "nowhere" in err


@pytest.mark.parametrize("args", [
    ("simulate", "no-such-file.yaml"),
    ("simulate", str(EXAMPLES / "daly-exponential.yaml"), "--runs", "0"),
    ("interval", "--save-s", "0", "--mtbf-h", "4"),
    ("interval", "--save-s", "60", "--mtbf-h", "-1"),
])
def test_bad_input_exits_2(run_cli, args: tuple[str, ...]) -> None:
    """Bad files and options give one line and exit code 2."""
    code, _, err = run_cli(*args)
    assert code == 2 and err.strip() and "Traceback" not in err


def test_bad_scenario_field_names_file_and_field(run_cli, tmp_path: Path) -> None:
    """A scenario with a bad field is refused naming the file and the field."""
    doc = yaml.safe_load((EXAMPLES / "daly-exponential.yaml").read_text())
    doc["checkpoint"]["save_blocking_s"] = -5
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(doc))
    code, _, err = run_cli("simulate", str(p))
    assert code == 2 and "bad.yaml" in err and "save_blocking_s" in err


def test_every_example_validates() -> None:
    """Every file in data/examples is a valid Scenario."""
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 5
    for f in files:
        assert Scenario.load(f).pools
