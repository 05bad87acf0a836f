"""Traces as inputs: timestamped CSV series and per-tick prices, replay windows and regret through the CLI, and
every bad trace input as one line on stderr with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spotplan.errors import SpotplanError
from spotplan.simulator.market.tick_traces import load_tick_prices, load_timestamped_trace, with_tick_prices
from spotplan.simulator.market.traces import load_availability_trace

SCENARIO = """schema_version: 1
name: traces
job: {{work_h: {work_h}}}
checkpoint: {{save_blocking_s: 30, restore_s: 300, checkpoint_bytes: 50000000000}}
changeover: {{provisioning_s: 240, setup_s: 180}}
deadline: {{policy: uniform-progress, deadline_h: {deadline_h}}}
replay: {{end_policy: clamp}}
pools:
  - {{instance_type: p3.2xlarge, region: us-east-1, zone: us-east-1c, price: {{kind: fixed, usd_per_h: 1.0}},
     availability: {{kind: trace, path: "{a}"}}}}
  - {{instance_type: p3.2xlarge, region: us-west-2, zone: us-west-2a, price: {{kind: fixed, usd_per_h: 1.0}},
     availability: {{kind: trace, path: "{b}"}}}}
  - {{instance_type: p3.2xlarge, region: us-east-1, market: on-demand, price: {{kind: catalog}}}}
"""


def _csv(path: Path, values: list[int], *, gap_s: int = 600, prices: list[float] | None = None) -> Path:
    rows = ["date,availability" + (",price" if prices else "")]
    for i, v in enumerate(values):
        t = np.datetime64("2023-02-15T00:00:00") + np.timedelta64(i * gap_s, "s")
        rows.append(f"{str(t).replace('T', ' ')},{v}" + (f",{prices[i]}" if prices else ""))
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def small(tmp_path: Path) -> dict[str, Path]:
    """Two hand-built 24 h CSV traces (10-minute ticks), a tick-price file and a scenario replaying them."""
    rng = np.random.default_rng(5)
    a = _csv(tmp_path / "us-east-1c_v100_1.csv", [int(x) for x in rng.random(144) < 0.6])
    b = _csv(tmp_path / "us-west-2a_v100_1.csv", [int(x) for x in rng.random(144) < 0.5])
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"us-east-1c_v100_1": [0.9] * 144, "us-west-2a_v100_1": [1.1] * 144}))
    sc = tmp_path / "sc.yaml"
    sc.write_text(SCENARIO.format(work_h=4, deadline_h=6, a=a, b=b))
    return {"a": a, "b": b, "prices": prices, "scenario": sc, "dir": tmp_path}


def test_real_csv_is_the_cant_be_late_trace_with_timestamps(shared_data: Path) -> None:
    """SkyNomad's CSV of us-east-1c holds the same 20,158 ticks as Can't Be Late's JSON, from 2023-02-15 22:08:16Z."""
    csv = load_availability_trace(shared_data / "skynomad/aws_v100_availability_2023-02-15/us-east-1c_v100_1.csv")
    cbl = load_availability_trace(shared_data / "cant_be_late_spot_traces/availability/1-node/aws-02-15-2023/"
                                  "us-east-1c_v100_1.json")
    assert np.array_equal(csv.values, cbl.values) and csv.gap_s == cbl.gap_s == 195.0
    assert csv.start_s == 1676498896.0 and (csv.zone, csv.instance_type) == ("us-east-1c", "p3.2xlarge")
    priced = with_tick_prices(csv, load_tick_prices(shared_data / "skynomad/v100_spot_prices.json"), "p.json")
    assert priced.prices_usd_per_h is not None and 0.9 < float(priced.prices_usd_per_h.min()) < 1.9


def test_csv_price_column_and_tick(tmp_path: Path) -> None:
    """A price column becomes per-tick prices; the tick is the median spacing."""
    tr = load_timestamped_trace(_csv(tmp_path / "z.csv", [1, 0, 1], gap_s=195, prices=[1.0, 2.0, 3.0]))
    assert tr.gap_s == 195.0 and tr.prices_usd_per_h is not None and list(tr.prices_usd_per_h) == [1.0, 2.0, 3.0]


def test_simulate_tiles_windows_and_reports_regret(run_cli, small: dict[str, Path]) -> None:
    """--tile replays the four 6 h windows of a 24 h trace; regret is cost / optimum >= 1 on each replay."""
    code, out, err = run_cli("simulate", small["scenario"], "--tile", "--tick-prices", small["prices"], "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["windows_h"] == [0.0, 6.0, 12.0, 18.0] and d["runs"] == 4
    rg = d["regret"]
    assert rg["replays"] == 4 and rg["mean_ratio"] >= 1.0
    for r in rg["per_replay"]:
        assert not r["deadline_met"] or r["plan_usd"] >= r["optimum_usd"] - 1e-9


def test_simulate_one_window_in_text(run_cli, small: dict[str, Path]) -> None:
    """One fixed window prints the window and the regret lines."""
    code, out, err = run_cli("simulate", small["scenario"], "--window-start", "6h", "--window-length", "8h")
    assert code == 0, err
    assert "windows: 1 replay start(s) at 6 h" in out.replace("\n", " ") and "regret" in out


BAD = [
    (("--window-start", "20h"), "ends past the end of the trace"),
    (("--window-length", "30h", "--tile"), "ends past the end of the trace"),
    (("--window-start", "abc"), "is not a duration"),
    (("--tick-prices", "{bad_prices}"), "expected a price >= 0"),
    (("--tick-prices", "{short_prices}"), "expected one per tick"),
    (("--tick-prices", "{other_prices}"), "has no prices for trace"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_window_and_price_inputs_are_one_line(run_cli, small: dict[str, Path], args: tuple[str, ...],
                                                  message: str) -> None:
    """Windows off the trace and bad tick-price files: one line naming the problem, exit 2."""
    d = small["dir"]
    (d / "bad.json").write_text(json.dumps({"us-east-1c_v100_1": [-1.0] * 144}))
    (d / "short.json").write_text(json.dumps({"us-east-1c_v100_1": [1.0] * 10, "us-west-2a_v100_1": [1.0] * 10}))
    (d / "other.json").write_text(json.dumps({"eu-west-1a_v100_1": [1.0] * 144}))
    names = {"bad_prices": d / "bad.json", "short_prices": d / "short.json", "other_prices": d / "other.json"}
    argv = [a.format(**names) for a in args]
    code, _out, err = run_cli("simulate", small["scenario"], *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


BAD_CSV = [
    ("date,availability\n2023-01-01 00:00:00,1\n2023-01-01 00:10:00,x\n", "record 2, field 'availability'"),
    ("date,availability\n2023-01-01 00:10:00,1\n2023-01-01 00:00:00,1\n", "does not increase"),
    (("date,availability\n2023-01-01 00:00:00,1\n2023-01-01 00:10:00,1\n2023-01-01 00:20:00,1\n"
     "2023-01-01 05:00:00,1\n"), "over 2x the"),
    ("when,up\n2023-01-01 00:00:00,1\n", "expected a timestamped availability CSV"),
    ("date,availability\nyesterday,1\n2023-01-01 00:10:00,1\n", "expected an ISO-8601 time"),
    ("date,availability\n2023-01-01 00:00:00,1\n", "expected at least 2"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CSV)
def test_malformed_csv_trace_is_one_line(run_cli, small: dict[str, Path], text: str, message: str) -> None:
    """A malformed CSV trace named by a scenario: one line with file, record and field, exit 2."""
    small["a"].write_text(text)
    code, _, err = run_cli("simulate", small["scenario"], "--runs", "2")
    assert code == 2 and message in err and str(small["a"]) in err and len(err.strip().splitlines()) == 1


@settings(max_examples=60)
@given(st.text(max_size=200))
def test_csv_loader_raises_only_spotplan_errors(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    """Arbitrary text never escapes the CSV loader as anything but a one-line SpotplanError."""
    p = tmp_path_factory.mktemp("fuzz") / "x.csv"
    p.write_text("date,availability\n" + text, encoding="utf-8", errors="replace")
    try:
        load_timestamped_trace(p)
    except SpotplanError as exc:
        assert "\n" not in str(exc)
