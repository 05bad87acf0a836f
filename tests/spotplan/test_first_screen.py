"""Issue 15 as a user meets it: recommend's first screen, --version, completion, schemas, schema_version, prices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.golden import plan_id_7b

DATA = Path("/work/shared/data")
EU_WEST_1 = DATA / "training_on_a_dime" / "aws_describe_spot_price_history" / "eu-west-1"
TSV_2022 = DATA / "aws_spot_price_history_archive_ericpauley" / "2022-05_gpu_subset.tsv"


def _spotplan(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``spotplan ARGS`` in a fresh process with stdout on a pipe (as ``| cat``), 80 columns."""
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    return subprocess.run([sys.executable, "-m", "spotplan.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**base, **(env or {})}, cwd=cwd, check=False)


@pytest.fixture(scope="module")
def summary_7b() -> list[str]:
    """The lines of `spotplan recommend --model-size 7B | cat`."""
    proc = _spotplan("recommend", "--model-size", "7B")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_recommend_7b_first_screen(summary_7b: list[str]) -> None:
    """Plan, cost, makespan and the next commands are in the first 15 lines; at most 40 lines; no "…"."""
    head = "\n".join(summary_7b[:15])
    assert f"spotplan plan {plan_id_7b()}" in head
    assert "cost " in head and "makespan " in head and "Next:" in head
    assert "--out plan.yaml" in head and "torchrun " in head and "spotplan run plan.yaml" in head
    assert len(summary_7b) <= 40, len(summary_7b)
    assert not any("…" in line for line in summary_7b)
    assert "Assumptions" not in "\n".join(summary_7b)


def test_recommend_explain_shows_assumptions() -> None:
    """--explain (and -v) add the assumptions with their sources and the notice check per cloud."""
    for args in (["recommend", "--model-size", "7B", "--explain"], ["-v", "recommend", "--model-size", "7B"]):
        proc = _spotplan(*args)
        assert proc.returncode == 0, proc.stderr
        assert "Assumptions" in proc.stdout and "Touvron" in proc.stdout and "gcp: 30 s notice" in proc.stdout
        assert "…" not in proc.stdout


def test_quiet_prints_the_answer_only() -> None:
    """-q keeps the headline and the next commands and drops the tables."""
    proc = _spotplan("-q", "recommend", "--model-size", "7B")
    assert proc.returncode == 0, proc.stderr
    assert "Next:" in proc.stdout and "Fallback ladder" not in proc.stdout and len(proc.stdout.splitlines()) <= 15


def test_version_and_bad_flag_value() -> None:
    """`spotplan --version` prints the version and exits 0; `--json true` stays a one-line usage error."""
    from spotplan import __version__

    proc = _spotplan("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"spotplan {__version__}"
    bad = _spotplan("prices", "show", "--json", "true")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_flags_show_as_used() -> None:
    """Help shows `--json` as a flag, without a `<bool>` value that the parser would reject."""
    for args in (["recommend", "--help"], ["prices", "show", "--help"], ["--help"]):
        proc = _spotplan(*args, env={"COLUMNS": "120"})
        assert proc.returncode == 0
        assert "<bool>" not in proc.stdout, args


def test_shell_completion() -> None:
    """Bash completion completes commands and schema names; --show-completion prints a script."""
    env = {"_SPOTPLAN_COMPLETE": "complete_bash", "COMP_WORDS": "spotplan rec", "COMP_CWORD": "1"}
    assert _spotplan(env=env).stdout.split() == ["recommend"]
    env = {"_SPOTPLAN_COMPLETE": "complete_bash", "COMP_WORDS": "spotplan schema run-r", "COMP_CWORD": "2"}
    assert _spotplan(env=env).stdout.split() == ["run-report"]
    script = _spotplan("--show-completion", "bash")
    assert script.returncode == 0 and "_SPOTPLAN_COMPLETE" in script.stdout


@pytest.mark.parametrize("name", ["scenario", "plan", "calibration", "run-report", "baseline"])
def test_schema_command_prints_json_schema(run_cli, name: str) -> None:
    """`spotplan schema NAME` prints a draft 2020-12 JSON Schema that names schema_version."""
    import jsonschema

    code, out, err = run_cli("schema", name)
    assert code == 0, err
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "schema_version" in schema["properties"]


def test_schema_unknown_name_is_one_line(run_cli) -> None:
    """An unknown schema name is one line with a suggestion, exit 2."""
    code, _out, err = run_cli("schema", "plam")
    assert code == 2 and "did you mean 'plan'" in err and len(err.strip().splitlines()) == 1


def test_plan_file_validates_against_published_schema(run_cli, tmp_path: Path) -> None:
    """A plan written by --out passes `spotplan schema plan` (what an editor's YAML server would check)."""
    import jsonschema
    import yaml

    code, _out, err = run_cli("recommend", "--model-size", "125M", "--tokens", "2e9", "--runs", "8",
                              "--out", tmp_path / "plan.yaml")
    assert code == 0, err
    code, out, _err = run_cli("schema", "plan")
    jsonschema.validate(yaml.safe_load((tmp_path / "plan.yaml").read_text()), json.loads(out))


def _json_outputs() -> list[tuple[str, list[str]]]:
    cases = [
        ("recommend-output", ["recommend", "--model-size", "125M", "--tokens", "2e9", "--runs", "8", "--json"]),
        ("prices-output", ["prices", "show", "--json"]),
        ("simulate-output", ["simulate", "data/examples/daly-exponential.yaml", "--runs", "20", "--workers", "1",
                             "--json"]),
        ("interval-output", ["interval", "--save-s", "60", "--mtbf-h", "5", "--json"]),
        ("regress-output", ["regress", "--only", "gcp-30s-notice", "--json"]),
    ]
    if EU_WEST_1.is_dir():
        cases.append(("prices-output", ["prices", "show", "--source", str(EU_WEST_1), "--json"]))
    return cases


@pytest.mark.parametrize(("schema_name", "args"), _json_outputs())
def test_every_json_output_has_schema_version_and_validates(run_cli, monkeypatch, schema_name: str,
                                                             args: list[str]) -> None:
    """Each --json document starts with schema_version and validates against its published schema."""
    import jsonschema

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    code, out, err = run_cli(*args)
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    assert next(iter(doc)) == "schema_version" and doc["schema_version"] == 1
    code, schema, _ = run_cli("schema", schema_name)
    jsonschema.validate(doc, json.loads(schema))


@pytest.mark.skipif(not EU_WEST_1.is_dir(), reason="shared data (training_on_a_dime eu-west-1) not present")
def test_prices_changes_count_real_price_changes(run_cli) -> None:
    """On the eu-west-1 history, pools whose price never moved report 0 changes (records are counted apart)."""
    code, out, err = run_cli("prices", "show", "--source", str(EU_WEST_1), "--json")
    assert code == 0, err
    pools = json.loads(out)["pools"]
    flat = [p for p in pools if p["min_usd_per_h"] == p["max_usd_per_h"]]
    assert flat and all(p["changes"] == 0 for p in flat)
    p216 = next(p for p in pools if p["instance_type"] == "p2.16xlarge" and p["zone"] == "eu-west-1a")
    assert p216["changes"] == 0 and p216["records"] == 101
    assert any(p["changes"] > 0 for p in pools)


@pytest.mark.skipif(not TSV_2022.is_file(), reason="shared data (2022-05 all-OS TSV) not present")
def test_prices_product_filter_gives_one_row_per_pool(run_cli) -> None:
    """--product Linux/UNIX keeps one row per (type, zone) of the 2022-05 all-OS TSV; the table shows region."""
    code, out, err = run_cli("prices", "show", "--source", str(TSV_2022), "--product", "Linux/UNIX", "--json")
    assert code == 0, err
    pools = json.loads(out)["pools"]
    keys = [(p["instance_type"], p["region"], p["zone"], p["az_id"]) for p in pools]
    assert len(keys) == len(set(keys)) > 0 and {p["product"] for p in pools} == {"Linux/UNIX"}
    code, out, err = run_cli("prices", "show", "--source", str(TSV_2022), "--product", "Linux/UNIX")
    assert code == 0 and "region" in out and "…" not in out
    code, _out, err = run_cli("prices", "show", "--source", str(TSV_2022), "--product", "linux")
    assert code == 2 and "present: Linux/UNIX, Red Hat Enterprise Linux" in err


def test_prices_table_follows_the_width() -> None:
    """The price table fits 80 columns on a pipe and shows product and region columns when wide."""
    narrow = _spotplan("prices", "show")
    assert narrow.returncode == 0 and "…" not in narrow.stdout
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    if TSV_2022.is_file():
        wide = _spotplan("prices", "show", "--source", str(TSV_2022), env={"COLUMNS": "200"})
        header = next(line for line in wide.stdout.splitlines() if line.startswith("type"))
        assert "product" in header and "region" in header
