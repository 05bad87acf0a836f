"""`spotplan prices show` / `spotplan data fit` end to end, and one-line exit-2 errors for every malformed input."""

from __future__ import annotations

import json

import pytest

HISTORY = "training_on_a_dime/aws_describe_spot_price_history"
GOOD = {"AvailabilityZone": "us-east-1b", "InstanceType": "p3.2xlarge", "ProductDescription": "Linux/UNIX",
        "SpotPrice": "1.067100", "Timestamp": "2020-02-20T22:06:16.000Z"}


def test_show_embedded(run_cli) -> None:
    """With no --source, show prints the embedded fitted pools (works on a fresh machine)."""
    code, out, _err = run_cli("prices", "show", "--json")
    assert code == 0
    doc = json.loads(out)
    assert {p["instance_type"] for p in doc["pools"]} >= {"p3.2xlarge", "p5.48xlarge", "g6e.48xlarge"}
    code, out, _ = run_cli("prices", "show", "--instance-type", "p4d.24xlarge", "--region", "us-east-1")
    assert code == 0 and "p4d.24xlarge" in out and "21.96" in out


def test_show_source_one_row_per_zone(run_cli, shared_data) -> None:
    """The README example: p3.2xlarge in us-east-1 prints one row per availability zone."""
    src = shared_data / HISTORY / "us-east-1"
    code, out, _ = run_cli("prices", "show", "--source", src, "--instance-type", "p3.2xlarge", "--json")
    assert code == 0
    pools = json.loads(out)["pools"]
    assert [p["zone"] for p in pools] == ["us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"]
    for p in pools:
        assert p["change_points"] > 300 and 0.9 < p["mean_usd_per_h"] < 1.1 and 0.6 < p["discount"] < 0.72
    code, out, _ = run_cli("prices", "show", "--source", src, "--instance-type", "p3.2xlarge")
    assert code == 0
    assert sum(1 for line in out.splitlines() if "p3.2xlarge" in line and "us-east-1" in line) == 4


def test_show_cache(run_cli, monkeypatch, tmp_path) -> None:
    """--cache reads the fetch cache; an empty cache is a one-line error."""
    monkeypatch.setenv("SPOTPLAN_CACHE_DIR", str(tmp_path))
    code, _out, err = run_cli("prices", "show", "--cache")
    assert code == 2 and "prices fetch" in err
    (tmp_path / "us-east-1").mkdir()
    (tmp_path / "us-east-1" / "x.p3.2xlarge.json").write_text(json.dumps([{"SpotPriceHistory": [GOOD]}]))
    code, out, _ = run_cli("prices", "show", "--cache", "--json")
    assert code == 0 and json.loads(out)["pools"][0]["zone"] == "us-east-1b"


def test_data_fit_writes(run_cli, shared_data, tmp_path) -> None:
    """`spotplan data fit --out` writes the same document as the committed one."""
    from spotplan.simulator.market.fitted import FITTED_PATH

    out = tmp_path / "fit.json"
    code, stdout, _ = run_cli("data", "fit", "--shared-data", shared_data, "--out", out)
    assert code == 0 and "pools" in stdout
    assert json.loads(out.read_text()) == json.loads(FITTED_PATH.read_text())


def _recs(**change):
    return json.dumps({"NextToken": "", "SpotPriceHistory": [GOOD, {**GOOD, **change}]})


MALFORMED = [
    ("bad.json", '{"SpotPriceHistory": [', "not valid JSON"),
    ("empty.json", "", "empty"),
    ("nofield.json", json.dumps({"SpotPriceHistory": [GOOD, {k: v for k, v in GOOD.items() if k != "SpotPrice"}]}),
     "record 1, field 'SpotPrice'"),
    ("nan.json", _recs(SpotPrice="abc"), "record 1, field 'SpotPrice': 'abc' is not a number"),
    ("neg.json", _recs(SpotPrice="-0.5"), "record 1, field 'SpotPrice'"),
    ("naive.json", _recs(Timestamp="2020-02-20T22:06:16"), "record 1, field 'Timestamp'.*no time zone"),
    ("notime.json", _recs(Timestamp="yesterday"), "record 1, field 'Timestamp'"),
    ("year1.json", _recs(Timestamp="0001-01-01T00:00:00Z"), "record 1, field 'Timestamp'.*outside 2000..2100"),
    ("zone.json", _recs(AvailabilityZone="mars-1a"), "record 1, field 'AvailabilityZone'"),
    ("top.json", "[1, 2]", "record 0"),
    ("page.json", json.dumps({"Foo": []}), "SpotPriceHistory"),
    ("bad.csv", "a,b\n1,2\n", "lacks InstanceType"),
    ("cols.csv", "AvailabilityZone,InstanceType,ProductDescription,SpotPrice,Timestamp\nus-east-1a,p3\n",
     "record 0"),
]


@pytest.mark.parametrize("name,text,needle", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_inputs_exit_2_one_line(run_cli, tmp_path, name, text, needle) -> None:
    """Each malformed file gives exit 2 and one line naming the file, record, field and expectation."""
    import re

    p = tmp_path / name
    p.write_text(text)
    code, out, err = run_cli("prices", "show", "--source", p)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert str(p) in err and re.search(needle, err), err


@pytest.mark.parametrize("args,needle", [
    (("--source", "/nonexistent/prices"), "does not exist"),
    (("--instance-type", "p3.2xlarg"), "did you mean 'p3.2xlarge'"),
    (("--region", "us-esat-1"), "did you mean 'us-east-1'"),
])
def test_bad_options_exit_2(run_cli, args, needle) -> None:
    """A missing path or an unknown type/region: one line with a suggestion, exit 2."""
    code, _out, err = run_cli("prices", "show", *args)
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err


def test_unknown_type_in_source(run_cli, tmp_path) -> None:
    """Filtering a history by a type it lacks suggests the closest present type."""
    p = tmp_path / "a.json"
    p.write_text(_recs())
    code, _out, err = run_cli("prices", "show", "--source", p, "--instance-type", "p3.2xlarg")
    assert code == 2 and "did you mean 'p3.2xlarge'" in err


def test_data_fit_without_shared_data(run_cli, tmp_path) -> None:
    """`data fit` on a folder without the public data: one line, exit 2, nothing written."""
    out = tmp_path / "fit.json"
    code, _out, err = run_cli("data", "fit", "--shared-data", tmp_path, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "public data folder" in err
    assert not out.exists()
