"""The dashboard page driven headless with Streamlit's AppTest: inputs change the plan and the charts as they should."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from spotplan.paths import REPO_ROOT

APP = str(REPO_ROOT / "dashboard" / "app.py")
TIMEOUT_S = 120


def _charts(at: Any) -> dict[str, dict[str, Any]]:
    """Every plotly chart on the page by its ``layout.meta.chart`` name, as the JSON spec sent to the browser."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[spec["layout"]["meta"]["chart"]] = spec
    return out


def _values(v: Any) -> list[Any]:
    """A plotly array from the JSON spec: a list, or plotly 7's base64 typed array."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def _bar(at: Any, option: str) -> float:
    """Mean cost of one option on the plan comparison chart."""
    bars = _charts(at)["plan_comparison"]["data"][0]
    return float(dict(zip(_values(bars["y"]), _values(bars["x"]), strict=True))[option])


def _metric(at: Any, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _minutes(at: Any) -> float:
    return float(_metric(at, "Checkpoint every").split()[0].replace(",", ""))


def _dollars(at: Any, label: str) -> float:
    return float(_metric(at, label).lstrip("$").replace(",", ""))


def _run(target: Any) -> Any:
    """Run the app (or the app a widget belongs to) and fail on any exception in the page."""
    at = target.run(timeout=TIMEOUT_S)
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def app() -> Any:
    """The page after its first run with the default inputs (7B full, auto interval)."""
    from streamlit.testing.v1 import AppTest

    return _run(AppTest.from_file(APP, default_timeout=TIMEOUT_S))


def test_first_render_shows_quick_plan_and_charts(app: Any) -> None:
    """The default page shows the headline, the comparison, the interval sweep with its marks, both distributions."""
    charts = _charts(app)
    assert {"plan_comparison", "interval_sweep", "distribution_cost_usd", "distribution_makespan_h"} <= set(charts)
    assert _dollars(app, "Expected cost") > 0 and _minutes(app) > 0
    options = charts["plan_comparison"]["data"][0]["y"]
    assert options[0] == "plan" and "on-demand" in options
    sweep = charts["interval_sweep"]
    names = [t.get("name") for t in sweep["data"]]
    assert "fastpath mean" in names and "fastpath 95% CI" in names and "closed form (Daly)" in names
    assert {"Young", "Daly", "chosen"} <= {n.split()[0] for n in names}
    assert not app.error


def test_first_render_plots_the_node_count_frontier(app: Any) -> None:
    """The quick plan's closed-form frontier is drawn: one point per node count searched, the plan's count ringed."""
    frontier = _charts(app)["frontier"]
    points = [t for t in frontier["data"] if t.get("name") in ("replayed", "closed form")]
    labels = [x for t in points for x in t.get("text", [])]
    assert "1 node" in labels and "128 nodes" in labels
    plan = next(t for t in frontier["data"] if t.get("name") == "plan")
    assert len(_values(plan["x"])) == 1


def test_more_interruptions_shorten_the_interval(app: Any) -> None:
    """On a fixed pool (p4d in us-east-1), a higher interruption rate shortens the interval and redraws the sweep."""
    app.multiselect(key="families").set_value(["p4d"])
    _run(app.multiselect(key="regions").set_value(["us-east-1"]))
    before_min, before_sweep = _minutes(app), _charts(app)["interval_sweep"]
    _run(app.slider(key="interruption_multiplier").set_value(4.0))
    assert _minutes(app) < before_min
    assert _charts(app)["interval_sweep"]["data"] != before_sweep["data"]
    assert _dollars(app, "Expected cost") > 0


def test_price_multiplier_raises_the_cost(app: Any) -> None:
    """Doubling spot prices raises the plan's expected cost but not the on-demand baseline's."""
    before, od_before = _dollars(app, "Expected cost"), _bar(app, "on-demand")
    _run(app.slider(key="price_multiplier").set_value(2.0))
    assert _dollars(app, "Expected cost") > before
    assert _bar(app, "plan") == pytest.approx(_dollars(app, "Expected cost"), rel=1e-3)
    assert _bar(app, "on-demand") == pytest.approx(od_before)


def test_manual_interval_is_used(app: Any) -> None:
    """A manual checkpoint interval replaces the automatic one in the plan and on the sweep."""
    _run(app.radio(key="interval_mode").set_value("manual"))  # the manual slider is enabled only now
    _run(app.slider(key="interval_min").set_value(7))
    assert _minutes(app) == pytest.approx(7.0, abs=0.05)
    names = [t.get("name", "") for t in _charts(app)["interval_sweep"]["data"]]
    assert "chosen 7.0 min" in names


def test_distribution_view_switches_to_ecdf(app: Any) -> None:
    """The distributions can be shown as ECDFs: a rising step line."""
    _run(app.radio(key="dist_kind").set_value("ecdf"))
    trace = _charts(app)["distribution_cost_usd"]["data"][0]
    assert trace["type"] == "scatter" and trace["line"]["shape"] == "hv"


def test_malformed_price_file_shows_the_cli_error(app: Any) -> None:
    """A malformed price upload shows the loader's one-line error naming the file and record; the plan stays."""
    bad = b'{"SpotPriceHistory": [{"InstanceType": "p4d.24xlarge", "SpotPrice": "cheap"}]}'
    _run(app.get("file_uploader")[1].set_value(("broken_prices.json", bad, "application/json")))
    errors = [e.value for e in app.error]
    assert any(e.startswith("spotplan: error: broken_prices.json, record 0") for e in errors), errors
    assert all("\n" not in e for e in errors)
    assert "interval_sweep" in _charts(app)


def test_malformed_calibration_shows_the_schema_error(app: Any) -> None:
    """A calibration file with missing fields is rejected with the schema's one-line message."""
    _run(app.get("file_uploader")[0].set_value(("calib.yaml", b"schema_version: 1\ncreated_utc: x\n", "text/yaml")))
    assert any(e.value.startswith("spotplan: error: calib.yaml: field") for e in app.error)


def test_full_advisor_gives_plan_files_and_replay_draws_a_run(app: Any) -> None:
    """The full advisor (small LoRA job) yields the download buttons; the SimPy replay draws a timeline and breakdown."""
    app.radio(key="mode").set_value("lora")
    _run(app.select_slider(key="runs").set_value(16))
    assert not app.get("download_button")
    _run(app.button(key="full_plan").click())
    labels = {b.proto.label for b in app.get("download_button")}
    assert {"Download plan YAML", "Download SkyPilot task"} <= labels
    from spotplan.advisor.api import recommend
    from spotplan.advisor.request import RecommendRequest

    cli_plan = recommend(RecommendRequest(model_size="7B", mode="lora", runs=16)).plan  # = spotplan recommend
    assert any(c.value.startswith(f"plan {cli_plan.plan_id} ") for c in app.caption)
    _run(app.button(key="replay_button").click())
    charts = _charts(app)
    timeline = charts["timeline"]
    states = {t["name"] for t in timeline["data"]}
    assert "training" in states
    breakdown = charts["cost_breakdown"]
    assert {tuple(t["x"]) for t in breakdown["data"]} == {("by activity",), ("by pool",)}
    assert [t["name"] for t in charts["distribution_cost_usd"]["data"]][-1] == "SimPy replay (whole ladder)"


def test_real_price_history_upload_draws_the_price_chart(app: Any, shared_data: Any) -> None:
    """A real describe-spot-price-history file plots its pools with the catalog's on-demand price for reference."""
    path = shared_data / "training_on_a_dime" / "aws_describe_spot_price_history" / "us-east-1" / "p3.2xlarge.json"
    _run(app.get("file_uploader")[1].set_value((path.name, path.read_bytes(), "application/json")))
    assert not app.error
    prices = _charts(app)["price_history"]
    pools = [t["name"] for t in prices["data"]]
    assert pools and all(p.startswith("p3.2xlarge us-east-1") for p in pools)
    assert any(s.get("y0") == s.get("y1") and s.get("line", {}).get("dash") == "dash"
               for s in prices["layout"]["shapes"])  # the on-demand reference line


def test_dashboard_command_serves_on_loopback_headless() -> None:
    """`spotplan dashboard` runs streamlit headless on 127.0.0.1 without usage stats or a file watcher."""
    from spotplan.commands.dashboard import streamlit_argv

    argv = streamlit_argv("127.0.0.1", 8765)
    opts = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("dashboard/app.py")
    assert opts["--server.address"] == "127.0.0.1" and opts["--server.port"] == "8765"
    assert opts["--server.headless"] == "true" and opts["--browser.gatherUsageStats"] == "false"
    assert opts["--server.fileWatcherType"] == "none"


def test_dashboard_command_rejects_a_bad_port(run_cli: Any) -> None:
    """A port outside 1..65535 is one clear line and exit code 2."""
    code, _, err = run_cli("dashboard", "--port", "70000")
    assert code == 2 and err.strip() == "spotplan: error: --port=70000: expected a TCP port between 1 and 65535"


def test_deadline_is_drawn_and_an_impossible_one_is_one_line(app: Any) -> None:
    """A feasible deadline appears on the makespan panel; an impossible one shows the advisor's one-line error."""
    _run(app.number_input(key="deadline_h").set_value(2000.0))
    shapes = _charts(app)["plan_comparison"]["layout"]["shapes"]
    assert any(s.get("x0") == 2000.0 for s in shapes)
    _run(app.number_input(key="deadline_h").set_value(2.0))  # 7B needs 6 h even on 128 nodes
    errors = [e.value for e in app.error]
    assert any(e.startswith("spotplan: error: --deadline 2h is shorter than the fastest possible run") for e in errors)
    assert "interval_sweep" not in _charts(app)


def _calibration(persist_bytes_per_s: float) -> bytes:
    """A Calibration document (the schema spotplan calibrate writes) with the given persist bandwidth."""
    import yaml

    fit = {"overhead_s": 0.5, "bandwidth_bytes_per_s": persist_bytes_per_s, "r2": 0.99}
    doc = {"schema_version": 1, "created_utc": "2026-11-24T12:00:00Z",
           "machine": {"platform": "linux", "cpu_count": 2, "device": "cpu"},
           "points": [{"state_bytes": 1 << 30, "snapshot_s": 0.6, "persist_s": 1.2, "restore_s": 1.1}],
           "snapshot": {**fit, "bandwidth_bytes_per_s": persist_bytes_per_s / 4}, "persist": fit, "restore": fit}
    return yaml.safe_dump(doc).encode()


def test_slower_calibrated_saves_lengthen_the_interval(app: Any) -> None:
    """A calibration with slow saves (larger save stall) moves the recommended interval up; a faster MFU shortens
    the makespan."""
    _run(app.get("file_uploader")[0].set_value(("fast.yaml", _calibration(5e9), "text/yaml")))
    assert not app.error
    fast_min = _minutes(app)
    _run(app.get("file_uploader")[0].set_value(("slow.yaml", _calibration(2e8), "text/yaml")))
    assert _minutes(app) > fast_min
    before_h = float(_metric(app, "Expected makespan").split()[0].replace(",", ""))
    _run(app.slider(key="mfu").set_value(0.6))
    assert float(_metric(app, "Expected makespan").split()[0].replace(",", "")) < before_h


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_quick_plan_matches_the_advisors_closed_form_stage(mode: str) -> None:
    """The quick plan prices the same first rung at the same interval grid as the full advisor's sweep."""
    from spotplan.advisor.api import recommend
    from spotplan.advisor.request import RecommendRequest
    from spotplan.dashboard.quickplan import quick_plan

    request = RecommendRequest(model_size="7B", mode=mode, runs=8, seed=3)
    quick, full = quick_plan(request), recommend(request)
    advisor_sweep = [p for p in full.interval_sweep if p.method == "fastpath"]
    assert quick.sweep["interval_s"].to_list() == pytest.approx([p.interval_s for p in advisor_sweep])
    assert quick.sweep["closed_form_cost_usd"].to_list() == pytest.approx(
        [p.closed_form_cost_usd for p in advisor_sweep])
    assert quick.daly_s is not None and quick.interval_s == pytest.approx(quick.daly_s)


def _traced_small_job(app: Any, deadline_h: float) -> Any:
    """The page with a small job (125M, 1B tokens, p3 only) replaying the hand-built trace with its tick prices."""
    from tests.dashboard.handmade_traces import TRACE_NAME, tick_prices_json, trace_csv

    app.selectbox(key="model_size").set_value("125M")
    app.number_input(key="tokens_b").set_value(1.0)
    app.multiselect(key="families").set_value(["p3"])
    app.number_input(key="deadline_h").set_value(deadline_h)
    uploads = app.get("file_uploader")
    uploads[2].set_value([(TRACE_NAME, trace_csv(), "text/csv")])
    uploads[3].set_value(("v100_tick_prices.json", tick_prices_json(), "application/json"))
    return _run(app)


def test_regret_on_uploaded_traces_draws_windows_and_the_mean(app: Any) -> None:
    """On a replayed trace with a deadline, the button measures the plan against the offline optimum per window:
    the chart, the mean ratio as a headline, the optimum's caption; a missing deadline, a window past the trace's
    end and a price history that misses the trace are one error line each."""
    _traced_small_job(app, deadline_h=12.0)
    assert not app.error and "regret" not in _charts(app)
    _run(app.button(key="regret_button").click())
    assert not app.error
    fig = _charts(app)["regret"]
    ratios = next(t for t in fig["data"] if t.get("name") == "plan / optimum")
    assert len(_values(ratios["y"])) == 6  # 72 h of trace / 12 h windows
    mean = _metric(app, "Mean regret (plan / optimum)")
    assert float(mean.rstrip("x")) >= 1.0 and f"mean {mean}" in [a["text"] for a in fig["layout"]["annotations"]]
    assert _metric(app, "Windows meeting the deadline").endswith("of 6")
    captions = [c.value for c in app.caption]
    assert any(c.startswith("The offline optimum is the least any schedule could pay") and "lower bound" in c
               for c in captions)
    assert any("per-tick prices of us-east-2b_v100_1.csv from v100_tick_prices.json" in c for c in captions)
    for deadline_h, expected in ((0.0, "regret: the plan has no deadline"),
                                 (80.0, ("regret: the deadline sets the window: window of 80 h is longer than the "
                                        "trace (72 h)"))):
        _run(app.number_input(key="deadline_h").set_value(deadline_h))
        errors = [e.value for e in app.error]
        assert len(errors) == 1 and errors[0].startswith(f"spotplan: error: {expected}"), errors
    old = {"SpotPriceHistory": [{"AvailabilityZone": "us-east-2b", "InstanceType": "p3.2xlarge",
                                 "ProductDescription": "Linux/UNIX", "SpotPrice": "0.95",
                                 "Timestamp": f"2020-01-0{d}T00:00:00Z"} for d in (1, 2, 3)]}
    app.number_input(key="deadline_h").set_value(12.0)
    _run(app.get("file_uploader")[1].set_value(("old_prices.json", json.dumps(old).encode(), "application/json")))
    errors = [e.value for e in app.error]
    assert errors == [("spotplan: error: us-east-2b_v100_1.csv: trace 2023-02-15 -> 2023-02-18 and the --prices "
                      "history of us-east-2b 2020-01-01 -> 2020-01-03 do not overlap in time; expected a price "
                      "history covering the trace's span")]


def test_a_trace_without_a_zone_in_its_name_is_one_line(app: Any) -> None:
    """A trace file whose name names no zone is refused with the loader's one line; the plan stays."""
    from tests.dashboard.handmade_traces import trace_csv

    _run(app.get("file_uploader")[2].set_value([("trace.csv", trace_csv(), "text/csv")]))
    errors = {e.value for e in app.error}  # in the sidebar and above the plan
    assert errors == {("spotplan: error: trace.csv: file name 'trace.csv' names no zone and accelerator; expected "
                      "<zone>_<accel>.json|csv such as us-east-1c_v100_1.csv")}, errors
    assert "interval_sweep" in _charts(app)


def test_sidebar_model_sizes_are_the_advisors() -> None:
    """Every model size the sidebar offers is one the advisor sizes (no choice fails on selection)."""
    from spotplan.advisor.sizing import parse_model_size
    from spotplan.dashboard.app_pages.sidebar_page import MODEL_SIZES

    assert [parse_model_size(s).n_params > 0 for s in MODEL_SIZES] == [True] * len(MODEL_SIZES)
