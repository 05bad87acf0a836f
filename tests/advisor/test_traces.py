"""``recommend --traces``: planning on replayed availability traces, the files named, regret, and bad trace input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from spotplan.schemas.outputs import RecommendOutput

CBL = "cant_be_late_spot_traces/availability/1-node/aws-02-15-2023"
CSV = "skynomad/aws_v100_availability_2023-02-15"
SMALL = ("recommend", "--model-size", "350M", "--families", "p3", "--tokens", "1e9", "--deadline", "15h",
         "--nodes", "1", "--runs", "8")


def test_plans_on_cant_be_late_traces_and_reports_regret(run_cli, shared_data: Path) -> None:
    """Two Can't Be Late zones: the spot rungs replay them, the document names both files and the regret >= 1."""
    files = [shared_data / CBL / f"{z}_v100_1.json" for z in ("us-east-1c", "us-west-2a")]
    code, out, err = run_cli(*SMALL, *[a for f in files for a in ("--traces", f)], "--json")
    assert code == 0, err
    doc = json.loads(out)
    RecommendOutput.model_validate(doc)  # the documented schema declares the traces block
    assert doc["traces"]["files"] == [str(f) for f in files]
    rg = doc["traces"]["regret"]
    assert rg["replays"] >= 4 and rg["mean_ratio"] is not None and rg["mean_ratio"] >= 1.0
    spot = [r for r in doc["plan"]["ladder"] if r["market"] == "spot"]
    assert spot and all(r["instance_type"] == "p3.2xlarge" for r in spot)


def test_timestamped_csv_with_tick_prices_names_every_file(run_cli, shared_data: Path) -> None:
    """A SkyNomad CSV with its tick-price file: the summary lists the trace and the price file it replayed."""
    f = shared_data / CSV / "us-east-2b_v100_1.csv"
    prices = shared_data / "skynomad/v100_spot_prices.json"
    code, out, err = run_cli(*SMALL, "--traces", f, "--tick-prices", prices)
    assert code == 0, err
    text = out.replace("\n", " ")
    assert "replayed traces: us-east-2b_v100_1.csv" in text and str(prices) in text and "regret" in text


def _one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def test_unknown_zone_is_one_line(run_cli, shared_data: Path, tmp_path: Path) -> None:
    """A trace of a zone the region does not have: one line naming the file and the zone, exit 2."""
    bad = tmp_path / "us-east-1z_v100_1.json"
    shutil.copy(shared_data / CBL / "us-east-1c_v100_1.json", bad)
    code, _, err = run_cli(*SMALL, "--traces", bad)
    _one_line(code, err, str(bad), "us-east-1z")


def test_trace_and_prices_that_do_not_overlap_are_one_line(run_cli, shared_data: Path) -> None:
    """A 2023 timestamped trace with a 2019-20 price history: one line, exit 2."""
    f = shared_data / CSV / "us-east-1c_v100_1.csv"
    hist = shared_data / "training_on_a_dime/aws_describe_spot_price_history/us-east-1"
    code, _, err = run_cli(*SMALL, "--traces", f, "--prices", hist)
    _one_line(code, err, str(f), "do not overlap in time")


@pytest.mark.parametrize(("name", "text", "needle"), [
    ("us-east-1c_v100_1.json", '{"metadata": {"gap_seconds": 0}, "data": [1]}', "metadata.gap_seconds"),
    ("us-east-1c_v100_1.json", "{not json", "not valid JSON"),
    ("us-east-1c_v100_1.csv", "date,availability\n2023-01-01 00:00:00,2.5\n", "availability"),
    ("trace.json", '{"metadata": {"gap_seconds": 60}, "data": [1, 0]}', "names no zone"),
])
def test_malformed_trace_is_one_line(run_cli, tmp_path: Path, name: str, text: str, needle: str) -> None:
    """A malformed trace file: one line naming the file and what was expected, exit 2."""
    p = tmp_path / name
    p.write_text(text)
    code, _, err = run_cli(*SMALL, "--traces", p)
    _one_line(code, err, str(p), needle)


def test_tick_prices_need_traces(run_cli, tmp_path: Path) -> None:
    """--tick-prices without --traces is refused in one line."""
    code, _, err = run_cli(*SMALL, "--tick-prices", tmp_path / "p.json")
    _one_line(code, err, "--traces")


def test_regret_uses_the_requests_deadline_and_the_tick_prices(run_cli, tmp_path: Path) -> None:
    """A plan that meets a 12 h deadline without switching (policy none) is still measured against it, and with a
    tick-price file the windows replay the moving prices (hand-built trace: runs without the public data)."""
    from tests.dashboard.handmade_traces import TRACE_NAME, tick_prices_json, trace_csv

    trace, prices = tmp_path / TRACE_NAME, tmp_path / "prices.json"
    trace.write_bytes(trace_csv())
    prices.write_bytes(tick_prices_json())
    args = ("recommend", "--model-size", "125M", "--tokens", "1e9", "--families", "p3", "--deadline", "12h",
            "--traces", trace, "--json")
    docs = {}
    for name, extra in (("mean", ()), ("tick", ("--tick-prices", prices))):
        code, out, err = run_cli(*args, *extra)
        assert code == 0, err
        docs[name] = json.loads(out)["traces"]["regret"]
    for rg in docs.values():
        assert "note" not in rg and rg["replays"] == 6 and rg["replays_meeting_deadline"] == 6
        assert all(r["plan_usd"] >= r["optimum_usd"] * (1 - 1e-9) for r in rg["per_replay"])
    assert docs["mean"]["prices"] == "time-weighted mean per trace" and docs["tick"]["prices"] == "per-tick"
    assert [r["optimum_usd"] for r in docs["mean"]["per_replay"]] != [r["optimum_usd"] for r in docs["tick"]["per_replay"]]
