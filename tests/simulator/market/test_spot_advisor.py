"""The three real Spot Advisor snapshots load; bands and savings are looked up; bad documents are DataErrors."""

from __future__ import annotations

import json

import pytest

from spotplan.errors import ConfigError, DataError
from spotplan.simulator.market.spot_advisor import load_spot_advisor

FILES = {"spot-advisor-data_2021-02-10.json": 21, "spot-advisor-data_2024-02-28.json": 29,
         "spot-advisor-data_2025-06-28.json": 33}


@pytest.mark.parametrize("name,regions", sorted(FILES.items()))
def test_real_snapshots_load(shared_data, name, regions) -> None:
    """Each snapshot loads with its region count (SOURCES.md section 6) and five bands."""
    a = load_spot_advisor(shared_data / "aws_spot_advisor" / name)
    assert len(a.regions()) == regions and len(a.bands) == 5
    assert a.as_of == name[len("spot-advisor-data_"):-len(".json")]


def test_lookups_match_flattened_csv(shared_data) -> None:
    """band() and savings_pct() agree with every Linux row of the derived long CSV for 2025-06-28."""
    import csv

    a = load_spot_advisor(shared_data / "aws_spot_advisor" / "spot-advisor-data_2025-06-28.json")
    rows = [r for r in csv.DictReader((shared_data / "aws_spot_advisor" / "spot_advisor_gpu_accel_long.csv").open())
            if r["snapshot_date"] == "2025-06-28" and r["os"] == "Linux"]
    assert len(rows) > 100
    for r in rows:
        idx, label, _max = a.band(r["region"], r["instance_type"])
        assert (idx, label) == (int(r["r_interrupt_band_index"]), r["interrupt_band_label"])
        assert a.savings_pct(r["region"], r["instance_type"]) == float(r["s_savings_pct_vs_ondemand"])
    assert a.band("us-east-1", "p5.48xlarge") == (4, ">20%", 100.0)


def test_unknown_pool_suggests(shared_data) -> None:
    """Unknown region or type in a snapshot: ConfigError with a suggestion; get() returns None."""
    a = load_spot_advisor(shared_data / "aws_spot_advisor" / "spot-advisor-data_2025-06-28.json")
    with pytest.raises(ConfigError, match="did you mean 'us-east-1'"):
        a.band("us-east-11", "p3.2xlarge")
    with pytest.raises(ConfigError, match="did you mean 'p3.2xlarge'"):
        a.savings_pct("us-east-1", "p3.2xlarg")
    assert a.get("us-east-1", "nope.large") is None


@pytest.mark.parametrize("doc,needle", [
    ({"ranges": [], "spot_advisor": {}}, "ranges"),
    ({"ranges": [{"index": 0, "label": "<5%", "max": 5}], "spot_advisor": {"r": {"Linux": {"x": {"r": 3, "s": 1}}}}},
     "spot_advisor.r.Linux.x"),
    ({"ranges": [{"index": 0, "label": "<5%", "max": 5}], "spot_advisor": {"r": {"Linux": {"x": {"r": 0}}}}},
     r"\.s"),
    ([], "top level"),
])
def test_bad_documents(tmp_path, doc, needle) -> None:
    """Malformed advisor JSON names the file and the field."""
    p = tmp_path / "a.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=needle):
        load_spot_advisor(p)
