"""`spotplan regress` end to end: it passes on unchanged inputs and fails with exit 1 naming the cause when the
catalog price, a scenario's save time or a recorded baseline changes; `--update` records its reason."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from spotplan.paths import REPO_ROOT

SCENARIO = "p4d-7b-full-aws"
BASELINES = REPO_ROOT / "data" / "baselines"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baselines folder holding the p4d 7B reference scenario with a baseline freshly recorded by --update."""
    from spotplan.regress.suite import SuiteOptions, run_suite

    d = tmp_path_factory.mktemp("baselines")
    shutil.copy(BASELINES / f"{SCENARIO}.yaml", d)
    result = run_suite(SuiteOptions(baselines_dir=d, update_reason="test baseline"))
    assert result.exit_code == 0 and (d / "expected" / f"{SCENARIO}.json").is_file()
    return d


@pytest.fixture
def suite(recorded: Path, tmp_path: Path) -> Path:
    """A private copy of the recorded folder that a test may perturb."""
    return Path(shutil.copytree(recorded, tmp_path / "baselines"))


def _json(out: str) -> dict:
    return json.loads(out)


def _scenario(out: str) -> dict:
    """The p4d scenario's entry of a --json document (the published anchors come beside it)."""
    (entry,) = [s for s in _json(out)["scenarios"] if s["name"] == SCENARIO]
    return entry


def test_unchanged_inputs_pass_with_table_and_junit(run_cli, suite: Path, tmp_path: Path) -> None:
    """Re-running at the pinned seed reproduces every figure: exit 0, a table, a passing JUnit testcase, and a
    freshness warning (not a failure) when the catalog is older than --max-age-days."""
    junit = tmp_path / "regress.xml"
    code, out, err = run_cli("regress", "--baselines", suite, "--junit", junit, "--max-age-days", "30")
    assert code == 0, out + err
    assert SCENARIO in out and "expected cost" in out and "FAIL" not in out
    flat = " ".join(out.split())
    assert f"warning: {SCENARIO}: catalog p4d.24xlarge us-east-1 is" in flat and "limit 30 days" in flat
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {SCENARIO, "anchor-daly-2006"}
    assert all(c.find("failure") is None for c in cases.values())


def test_on_demand_price_up_10pct_fails_naming_the_catalog(suite: Path, tmp_path: Path) -> None:
    """p4d.24xlarge's on-demand price +10% in a copy of the embedded data ($SPOTPLAN_DATA_DIR): exit 1, and the
    catalog file and the price are named."""
    data = tmp_path / "data"
    for part in ("catalog", "fitted"):
        shutil.copytree(REPO_ROOT / "data" / part, data / part)
    doc = json.loads((data / "catalog" / "instances.json").read_text())
    for price in doc["instances"]["p4d.24xlarge"]["on_demand"].values():
        price["usd_per_h"] = round(price["usd_per_h"] * 1.10, 6)
    (data / "catalog" / "instances.json").write_text(json.dumps(doc))
    env = {**os.environ, "SPOTPLAN_DATA_DIR": str(data)}
    proc = subprocess.run([sys.executable, "-m", "spotplan.cli", "regress", "--baselines", str(suite), "--json"],
                          check=False, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    scenario = _scenario(proc.stdout)
    assert scenario["status"] == "fail"
    assert "data file catalog/instances.json" in scenario["message"]
    assert "catalog on-demand price p4d.24xlarge us-east-1: 21.9576 -> 24.1534" in scenario["message"]


def test_doubled_save_time_fails_naming_the_save(run_cli, suite: Path) -> None:
    """Halving the scenario's save bandwidth doubles persist time: exit 1, the input and the save time named."""
    path = suite / f"{SCENARIO}.yaml"
    doc = yaml.safe_load(path.read_text())
    bandwidth = doc["request"]["save_bandwidth_bytes_per_s"]
    doc["request"]["save_bandwidth_bytes_per_s"] = bandwidth / 2
    path.write_text(yaml.safe_dump(doc))
    code, out, err = run_cli("regress", "--baselines", suite, "--json")
    assert code == 1, out + err
    scenario = _scenario(out)
    changes = {c["name"]: c for c in scenario["changes"]}
    assert float(changes["request.save_bandwidth_bytes_per_s"]["after"]) == bandwidth / 2
    before, after = float(changes["save_persist_s"]["before"]), float(changes["save_persist_s"]["after"])
    assert after == pytest.approx(2 * before)
    assert any(not f["passed"] for f in scenario["figures"])


def test_hand_edited_baseline_fails_naming_the_edit(run_cli, suite: Path) -> None:
    """A recorded expected cost lowered by hand by 20%: exit 1 and the message says the baseline was edited."""
    path = suite / "expected" / f"{SCENARIO}.json"
    doc = json.loads(path.read_text())
    doc["figures"]["cost_usd"] *= 0.8
    path.write_text(json.dumps(doc, indent=2))
    code, out, err = run_cli("regress", "--baselines", suite)
    assert code == 1, out + err
    assert "REGRESSION" in out and "figures edited by hand" in out and "expected cost" in out


def test_update_records_reason_and_date(run_cli, suite: Path) -> None:
    """--update --reason rewrites the baseline with its reason and appends a dated changelog entry."""
    code, out, err = run_cli("regress", "--baselines", suite, "--update", "--reason", "catalog refresh 2026-11")
    assert code == 0, out + err
    log = (suite / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## (\d{4}-\d\d-\d\d \d\d:\d\d UTC): (.+)$", log, flags=re.MULTILINE)
    assert [h[1] for h in headings] == ["test baseline", "catalog refresh 2026-11"]
    assert f"- `{SCENARIO}`: figures unchanged" in log
    rec = json.loads((suite / "expected" / f"{SCENARIO}.json").read_text())
    assert rec["reason"] == "catalog refresh 2026-11" and rec["made_utc"].endswith("Z")


def test_calibration_drift_report(run_cli, suite: Path, tmp_path: Path) -> None:
    """--calibration FILE re-plans with measured save costs and reports how save times and the interval move."""
    from spotplan.schemas.calibration import Calibration

    calib = Calibration.model_validate({
        "created_utc": "2026-11-24T20:00:00Z",
        "machine": {"platform": "linux", "device": "cpu", "cpu_count": 2},
        "points": [{"state_bytes": 2**30, "snapshot_s": 0.4, "persist_s": 0.6, "restore_s": 0.5}],
        "snapshot": {"overhead_s": 0.05, "bandwidth_bytes_per_s": 3.0e9},
        "persist": {"overhead_s": 0.1, "bandwidth_bytes_per_s": 2.0e9},
        "restore": {"overhead_s": 0.1, "bandwidth_bytes_per_s": 2.5e9},
    })
    path = tmp_path / "calibration.json"
    calib.dump(path)
    code, out, err = run_cli("regress", "--baselines", suite, "--calibration", path, "--json")
    doc = _json(out)
    assert code in (0, 1), err
    (row,) = doc["calibration_drift"]["rows"]
    assert row["scenario"] == SCENARIO and row["extrapolated"] is True
    assert row["save_persist_s"][1] == pytest.approx(0.1 + row["bytes_per_node"] / 2.0e9)
    assert row["baseline_calibration"].startswith("default bandwidth")
    assert any(c["category"] == "calibration" for c in _scenario(out)["changes"])


def test_public_history_scenario_is_skipped_when_absent(run_cli, tmp_path: Path, monkeypatch) -> None:
    """Without the public data the p3 replay is skipped with its reason, and the suite still passes."""
    d = tmp_path / "b"
    d.mkdir()
    shutil.copy(BASELINES / "p3-history-replay.yaml", d)
    monkeypatch.setenv("SPOTPLAN_SHARED_DATA", str(tmp_path / "nowhere"))
    code, out, err = run_cli("regress", "--baselines", d)
    assert code == 0, out + err
    assert "skipped p3-history-replay: needs the public price history" in out.replace("\n", " ")
    assert "SPOTPLAN_SHARED_DATA" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--update"], "--update needs --reason"),
        (["--only", "p4d-7b-full-awz"], "did you mean 'p4d-7b-full-aws'"),
        (["--calibration", "/no/such/calibration.json"], "does not exist"),
        (["--baselines", "/no/such/folder"], "not a folder"),
    ],
)
def test_bad_input_is_one_line_exit_2(run_cli, args: list[str], message: str) -> None:
    """Bad options are one line on stderr with exit code 2, no traceback."""
    code, _, err = run_cli("regress", *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_malformed_scenario_is_exit_2(run_cli, tmp_path: Path) -> None:
    """A scenario with a bad field value names the file and field, exit 2."""
    (tmp_path / "x.yaml").write_text("name: x\ndescription: d\nrequest: {model_size: 7B, tokens: -5, runs: 8, "
                                     "seed: 0}\n")
    code, _, err = run_cli("regress", "--baselines", tmp_path)
    assert code == 2 and "x.yaml" in err and "request.tokens" in err
