"""Pure logic of the cost regression: tolerances, cause naming, changelog, freshness and the renderers."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from spotplan.errors import ConfigError
from spotplan.paths import REPO_ROOT
from spotplan.regress.changelog import append_entry, format_entry
from spotplan.regress.compare import (
    Evaluation,
    Status,
    ToleranceKind,
    compare_figures,
    diff_inputs,
    figures_sha256,
    judge,
    make_record,
)
from spotplan.regress.inputs import code_fingerprint, parse_as_of, sha256_tree, stale_sources
from spotplan.regress.report import to_json, to_junit
from spotplan.regress.suite import SuiteResult, load_scenarios
from spotplan.schemas.baseline import (
    BaselineRecord,
    Figures,
    Fingerprint,
    PlanSummary,
    ReferenceScenario,
    ScenarioRequest,
    Tolerances,
)

REQ = ScenarioRequest(model_size="7B", tokens=2_000_000_000, families=["p4d"], runs=64, seed=1,
                      save_bandwidth_bytes_per_s=1e9)
FIG = Figures(cost_usd=1000.0, savings_vs_on_demand=0.60, interval_s=1800.0, makespan_p50_h=24.0,
              makespan_p95_h=30.0, deadline_hit_rate=None)
FP = Fingerprint(spotplan_version="0.1.0", code_sha256="a" * 64, code_files={"simulator/model.py": "1" * 16},
                 data_files={"catalog/instances.json": "c" * 16}, data_as_of={"catalog p4d.24xlarge us-east-1":
                                                                             "2026-07-20"},
                 calibration_sha256=None, environment={"numpy": "2.0"})
PLAN = PlanSummary(ladder=["p4d.24xlarge spot use1-az2 x1"], checkpoint_interval_steps=40, save_blocking_s=9.4,
                   save_persist_s=94.0, restore_s=94.0, checkpoint_bytes=94_000_000_000,
                   on_demand_usd_per_h={"p4d.24xlarge us-east-1": 21.96})


def _eval(**changes) -> Evaluation:
    parts = {"figures": FIG, "fingerprint": FP, "plan": PLAN, "assumptions": {"mfu": 0.4}}
    parts.update(changes)
    return Evaluation(**parts)


def _record() -> BaselineRecord:
    return make_record(scenario="s", request=REQ, evaluation=_eval(), reason="initial", made_utc="2026-11-24T00:00Z")


def test_relative_tolerance_is_a_fraction_of_the_baseline() -> None:
    """Cost +4.9% passes a 5% tolerance, +5.1% fails; the row keeps both deltas."""
    tol = Tolerances(cost_usd_rel=0.05)
    ok = compare_figures("s", FIG, FIG.model_copy(update={"cost_usd": 1049.0}), tol)[0]
    bad = compare_figures("s", FIG, FIG.model_copy(update={"cost_usd": 1051.0}), tol)[0]
    assert ok.passed and ok.kind is ToleranceKind.RELATIVE and ok.delta == pytest.approx(49.0)
    assert not bad.passed and bad.delta_rel == pytest.approx(0.051)


def test_absolute_tolerance_for_rates() -> None:
    """Savings 0.60 -> 0.63 fails an absolute 0.02 tolerance; 0.61 passes."""
    tol = Tolerances(savings_vs_on_demand_abs=0.02)
    rows = {r.figure: r for r in compare_figures("s", FIG, FIG.model_copy(update={"savings_vs_on_demand": 0.63}), tol)}
    assert not rows["savings_vs_on_demand"].passed and rows["savings_vs_on_demand"].kind is ToleranceKind.ABSOLUTE
    rows = {r.figure: r for r in compare_figures("s", FIG, FIG.model_copy(update={"savings_vs_on_demand": 0.61}), tol)}
    assert rows["savings_vs_on_demand"].passed


def test_a_figure_that_appears_fails() -> None:
    """A deadline-hit rate where the baseline had none is a change, whatever the tolerance."""
    rows = {r.figure: r for r in compare_figures("s", FIG, FIG.model_copy(update={"deadline_hit_rate": 1.0}),
                                                 Tolerances(deadline_hit_rate_abs=1.0))}
    assert not rows["deadline_hit_rate"].passed


def test_identical_figures_pass_with_zero_tolerance() -> None:
    """Unchanged figures pass even with every tolerance at zero."""
    zero = Tolerances(cost_usd_rel=0, savings_vs_on_demand_abs=0, interval_s_rel=0, makespan_p50_h_rel=0,
                      makespan_p95_h_rel=0, deadline_hit_rate_abs=0)
    assert all(r.passed for r in compare_figures("s", FIG, FIG, zero))


def test_changed_request_field_is_named() -> None:
    """Halving the save bandwidth in the scenario names request.save_bandwidth_bytes_per_s with both values."""
    changes = diff_inputs(_record(), REQ.model_copy(update={"save_bandwidth_bytes_per_s": 5e8}), _eval())
    assert [c.name for c in changes] == ["request.save_bandwidth_bytes_per_s"]
    assert changes[0].before == "1e+09" and changes[0].after == "5e+08"


def test_changed_data_file_and_price_are_named() -> None:
    """A new catalog hash and a new on-demand price are both named."""
    fp = FP.model_copy(update={"data_files": {"catalog/instances.json": "d" * 16}})
    plan = PLAN.model_copy(update={"on_demand_usd_per_h": {"p4d.24xlarge us-east-1": 24.16}})
    text = [c.describe() for c in diff_inputs(_record(), REQ, _eval(fingerprint=fp, plan=plan))]
    assert "data file catalog/instances.json: cccccccccccccccc -> dddddddddddddddd" in text
    assert "catalog on-demand price p4d.24xlarge us-east-1: 21.96 -> 24.16" in text


def test_code_change_names_the_file() -> None:
    """A changed source file shows up in the code-version change."""
    fp = FP.model_copy(update={"code_sha256": "b" * 64, "code_files": {"simulator/model.py": "2" * 16}})
    (change,) = diff_inputs(_record(), REQ, _eval(fingerprint=fp))
    assert change.category == "code version" and "simulator/model.py" in change.name


def test_hand_edited_baseline_is_detected() -> None:
    """Editing a recorded figure breaks its checksum, which is named as a cause."""
    rec = _record()
    edited = rec.model_copy(update={"figures": FIG.model_copy(update={"cost_usd": 900.0})})
    assert figures_sha256(rec.figures) == rec.figures_sha256
    changes = diff_inputs(edited, REQ, _eval())
    assert changes[0].category == "baseline" and "edited by hand" in changes[0].name


def test_failure_without_a_cause_says_so() -> None:
    """A regression with nothing recorded as changed says the cause is unrecorded."""
    rows = compare_figures("s", FIG, FIG.model_copy(update={"cost_usd": 2000.0}), Tolerances())
    out = judge("s", rows, (), FIG, 0.1)
    assert out.status is Status.FAIL and "no recorded assumption changed" in out.notes[0]


def test_changelog_records_date_and_reason(tmp_path: Path) -> None:
    """An entry has the UTC date, the reason, the moved figures and the cause; entries append."""
    old, new = _record(), _record().model_copy(update={"figures": FIG.model_copy(update={"cost_usd": 1100.0})})
    change = diff_inputs(old, REQ.model_copy(update={"seed": 2}), _eval())
    entry = format_entry(reason="new\nprices", when=datetime(2026, 11, 24, 22, 5, tzinfo=UTC),
                         records=[(old, new), (None, old)], changes={"s": change}, skipped={"p3": "no data"})
    path = tmp_path / "CHANGELOG.md"
    append_entry(path, entry)
    append_entry(path, entry)
    text = path.read_text()
    assert text.startswith("# Baseline changelog") and text.count("## 2026-11-24 22:05 UTC: new prices") == 2
    assert "cost_usd $1,000.00 -> $1,100.00 (+10.0%)" in text and "request.seed: 1 -> 2" in text
    assert "first baseline" in text and "`p3`: not re-recorded (skipped: no data)" in text


def test_stale_sources() -> None:
    """An as-of date older than the limit is reported with its age; an unparseable one counts as stale."""
    today = date(2026, 11, 24)
    stale = stale_sources({"catalog": "2026-07-20", "prices": "2026-11-20T10:00:00Z", "x": "unknown"},
                          today=today, max_age_days=90)
    assert [(s.source, s.age_days) for s in stale] == [("catalog", 127), ("x", 91)]
    assert parse_as_of("2025-06-23 (Karpenter)") == date(2025, 6, 23)


def test_fingerprints_are_stable_and_exclude_regression_code(tmp_path: Path) -> None:
    """Directory hashes depend on content only; the code hash skips the regression's own modules."""
    (tmp_path / "a.json").write_text("{}")
    first = sha256_tree(tmp_path)
    assert sha256_tree(tmp_path) == first
    (tmp_path / "a.json").write_text("{ }")
    assert sha256_tree(tmp_path) != first
    _, files = code_fingerprint()
    assert "simulator/market/series.py" in files and not any(f.startswith("advisor/regression") for f in files)


def test_renderers_json_and_junit() -> None:
    """JSON carries status, rows and causes; JUnit XML has one testcase per scenario with failure/skipped."""
    rows = compare_figures("s", FIG, FIG.model_copy(update={"cost_usd": 1200.0}), Tolerances())
    failed = judge("s", rows, diff_inputs(_record(), REQ.model_copy(update={"seed": 3}), _eval()), FIG, 1.5)
    from spotplan.regress.compare import ScenarioOutcome

    skipped = ScenarioOutcome(name="p3", status=Status.SKIPPED, notes=("needs public data",))
    result = SuiteResult(outcomes=(failed, skipped), elapsed_s=2.0, baselines_dir="b")
    doc = json.loads(json.dumps(to_json(result)))
    assert doc["status"] == "regression" and doc["exit_code"] == 1
    assert "request.seed" in doc["scenarios"][0]["message"] and doc["scenarios"][1]["status"] == "skipped"
    suite = ET.fromstring(to_junit(result).split("\n", 1)[1])
    assert suite.get("tests") == "2" and suite.get("failures") == "1" and suite.get("skipped") == "1"
    assert "cost_usd +20.00%" in suite.find("testcase/failure").get("message")


def test_scenario_schema_rejects_unknown_tolerance(tmp_path: Path) -> None:
    """A misspelt tolerance is bad input naming the field."""
    p = tmp_path / "x.yaml"
    p.write_text("name: x\ndescription: d\nrequest: {model_size: 7B, tokens: 1, runs: 4, seed: 0}\n"
                 "tolerances: {cost_rel: 0.1}\n")
    with pytest.raises(ConfigError, match="tolerances.cost_rel"):
        ReferenceScenario.load(p)


def test_committed_scenarios_load_and_match_their_names() -> None:
    """All eight committed reference scenarios validate; --only with a typo suggests the right name."""
    root = REPO_ROOT / "data" / "baselines"
    assert len(load_scenarios(root)) == 8
    with pytest.raises(ConfigError, match="did you mean 'p5-13b-full'"):
        load_scenarios(root, ("p5-13b-ful",))


def test_example_ci_workflow_uses_real_flags() -> None:
    """The example GitHub Actions workflow parses and calls `spotplan regress` only with options it has."""
    import re

    import yaml

    from spotplan.commands.regress import regress

    root = REPO_ROOT
    wf = yaml.safe_load((root / "examples" / "github-actions-spotplan-regress.yml").read_text())
    runs = [s["run"] for s in wf["jobs"]["regress"]["steps"] if "spotplan regress" in s.get("run", "")]
    assert runs, "the workflow must run spotplan regress"
    used = set(re.findall(r"(--[a-z-]+)", runs[0]))
    known = {"--" + name.replace("_", "-") for name in regress.__annotations__} | {"--json"}
    assert used <= known, used - known


def test_as_of_ranges_use_their_newest_date() -> None:
    """A range such as '2024-12..2025-06 (...)' is as old as its end; text without a date has none."""
    assert parse_as_of("2024-12..2025-06 (snapshot time not recorded)") == date(2025, 6, 1)
    assert parse_as_of("2026-11-20T10:00:00Z") == date(2026, 11, 20)
    assert parse_as_of("data/fitted/spot_behaviour.json") is None


def test_time_limit_stops_a_hung_scenario() -> None:
    """A scenario that never returns is stopped at its limit (a CI gate must fail, not hang)."""
    import time

    from spotplan.regress.suite import ScenarioTimeout, time_limit

    with pytest.raises(ScenarioTimeout, match="within 0.2 s"), time_limit(0.2):
        while True:
            time.sleep(0.01)
    with time_limit(0):
        pass


def test_inputs_are_blamed_before_plan_effects() -> None:
    """A code change is named as the input that changed; the new ladder it caused is listed as an effect after it."""
    from spotplan.regress.report import failure_message

    fp = FP.model_copy(update={"code_sha256": "b" * 64, "code_files": {"advisor/ladder.py": "2" * 16}})
    plan = PLAN.model_copy(update={"ladder": ["p4d.24xlarge spot use1-az4 x2"],
                                   "on_demand_usd_per_h": {"p4d.24xlarge us-west-2": 22.0}})
    changes = diff_inputs(_record(), REQ, _eval(fingerprint=fp, plan=plan))
    assert [c.effect for c in changes] == [False, True, True, True]
    assert changes[1].name == "ladder"
    rows = compare_figures("s", FIG, FIG.model_copy(update={"cost_usd": 1500.0}), Tolerances())
    msg = failure_message(judge("s", rows, changes, FIG, 1.0))
    assert msg.index("changed: code version") < msg.index("plan effects: plan ladder")


def test_published_anchors_reproduce_and_a_broken_formula_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Daly's published 117/57/9.1 min and derived T_w reproduce; Young's formula in Daly's place fails them."""
    from spotplan.regress.anchors import check_anchors
    from spotplan.simulator import theory

    ok = check_anchors()
    assert ok.status is Status.PASS and len(ok.rows) == 7
    monkeypatch.setattr(theory, "daly_interval_s", theory.young_interval_s)
    broken = check_anchors()
    assert broken.status is Status.FAIL and "Daly 2006" in broken.notes[0]
    assert {r.figure for r in broken.failed_rows} >= {"tau_m24h_min", "tau_m15min_min"}
