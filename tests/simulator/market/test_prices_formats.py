"""describe-spot-price-history in every form users have: CLI JSON, pages, boto3 dicts, CSV, text, directories."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest

from spotplan.errors import DataError
from spotplan.simulator.market.prices import COLUMNS, PoolKey, history_from_responses, load_price_history

RECS = [
    {"AvailabilityZone": "us-east-1b", "InstanceType": "p3.2xlarge", "ProductDescription": "Linux/UNIX",
     "SpotPrice": "1.000000", "Timestamp": "2020-02-20T00:00:00.000Z"},
    {"AvailabilityZone": "us-east-1b", "InstanceType": "p3.2xlarge", "ProductDescription": "Linux/UNIX",
     "SpotPrice": "2.000000", "Timestamp": "2020-02-20T01:00:00.000Z"},
    {"AvailabilityZone": "us-east-1c", "InstanceType": "p3.2xlarge", "ProductDescription": "Linux/UNIX",
     "SpotPrice": "0.900000", "Timestamp": "2020-02-20T00:30:00.000Z"},
]


def _doc(recs, token=""):
    return {"NextToken": token, "SpotPriceHistory": recs}


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def _check_three(h) -> None:
    assert list(h.table.columns) == COLUMNS
    assert len(h.table) == 3
    assert str(h.table["timestamp"].dt.tz) == "UTC"
    assert h.table["price_usd_per_h"].tolist() == [1.0, 2.0, 0.9]


def test_cli_single_document(tmp_path) -> None:
    """One CLI document (newest first, as AWS returns it) loads, sorted by pool then time."""
    h = load_price_history(_write(tmp_path, "a.json", json.dumps(_doc(RECS[::-1]), indent=4)))
    _check_three(h)
    assert h.truncated_files == [] and h.as_of == pd.Timestamp("2020-02-20T01:00:00Z")


def test_list_of_pages_and_concatenated_pages(tmp_path) -> None:
    """A JSON list of pages and pages written back to back give the same table."""
    pages = [_doc(RECS[:1], "t1"), _doc(RECS[1:2], "t2"), _doc(RECS[2:])]
    a = load_price_history(_write(tmp_path, "list.json", json.dumps(pages)))
    b = load_price_history(_write(tmp_path, "cat.json", "\n".join(json.dumps(p) for p in pages)))
    c = load_price_history(_write(tmp_path, "cat2.json", "".join(json.dumps(p) for p in pages)))
    _check_three(a)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.table, c.table)
    assert a.truncated_files == []  # the last page's token is empty: the pull is complete


def test_truncated_pull_warns(tmp_path) -> None:
    """A non-empty NextToken on the last page marks the file truncated and warns."""
    p = _write(tmp_path, "t.json", json.dumps(_doc(RECS, "eyJ2IjoiMiJ9")))
    h = load_price_history(p)
    assert h.truncated_files == [str(p)]
    assert any("truncated" in w and str(p) in w for w in h.warnings)


def test_boto3_response_dicts() -> None:
    """boto3 responses (datetime Timestamps, ResponseMetadata, AZ IDs) load in memory."""
    recs = [{**r, "Timestamp": datetime.fromisoformat(r["Timestamp"]).astimezone(UTC),
             "AvailabilityZoneId": {"us-east-1b": "use1-az4", "us-east-1c": "use1-az6"}[r["AvailabilityZone"]]}
            for r in RECS]
    h = history_from_responses([{"SpotPriceHistory": recs[:2], "NextToken": "x", "ResponseMetadata": {}},
                                {"SpotPriceHistory": recs[2:], "NextToken": ""}])
    _check_three(h)
    assert set(h.table["az_id"]) == {"use1-az4", "use1-az6"}
    assert h.series("p3.2xlarge", "use1-az6").zone == "us-east-1c"


def test_boto3_json_dump_with_str_timestamps(tmp_path) -> None:
    """``json.dump(resp, default=str)`` writes '2020-02-20 00:00:00+00:00'; that loads too."""
    recs = [{**r, "Timestamp": str(datetime.fromisoformat(r["Timestamp"]))} for r in RECS]
    _check_three(load_price_history(_write(tmp_path, "b.json", json.dumps(_doc(recs)))))


def test_csv_tsv_and_text_exports(tmp_path) -> None:
    """CSV (API or snake_case headers), TSV and the CLI's --output text all load."""
    head = "AvailabilityZone,InstanceType,ProductDescription,SpotPrice,Timestamp\n"
    rows = "".join(",".join(r[k] for k in ("AvailabilityZone", "InstanceType", "ProductDescription", "SpotPrice",
                                           "Timestamp")) + "\n" for r in RECS)
    _check_three(load_price_history(_write(tmp_path, "a.csv", head + rows)))
    snake = "availability_zone,instance_type,product_description,spot_price,timestamp\n"
    _check_three(load_price_history(_write(tmp_path, "b.csv", snake + rows)))
    _check_three(load_price_history(_write(tmp_path, "c.tsv", (head + rows).replace(",", "\t"))))
    text = "".join("SPOTPRICEHISTORY\t" + "\t".join(r[k] for k in ("AvailabilityZone", "InstanceType",
                   "ProductDescription", "SpotPrice", "Timestamp")) + "\n" for r in RECS)
    _check_three(load_price_history(_write(tmp_path, "d.txt", text)))


def test_az_id_only_records_get_region(tmp_path) -> None:
    """Archive rows keyed by AZ ID (no name) get their region from the ID."""
    text = ("AvailabilityZoneId\tInstanceType\tProductDescription\tSpotPrice\tTimestamp\n"
            "euw3-az2\tg4dn.4xlarge\tLinux/UNIX\t0.466400\t2022-05-31T18:20:41+00:00\n")
    h = load_price_history(_write(tmp_path, "x.tsv", text))
    assert h.pools() == [PoolKey(instance_type="g4dn.4xlarge", region="eu-west-3", zone="", az_id="euw3-az2",
                                 product="Linux/UNIX")]


def test_directory_dedups_overlapping_pulls(tmp_path) -> None:
    """Two overlapping pulls in a directory de-duplicate to the union."""
    (tmp_path / "d").mkdir()
    _write(tmp_path / "d", "p1.json", json.dumps(_doc(RECS[:2])))
    _write(tmp_path / "d", "p2.json", json.dumps(_doc(RECS[1:])))
    h = load_price_history(tmp_path / "d")
    _check_three(h)
    assert len(h.files) == 2


def test_series_is_exact_step_function(tmp_path) -> None:
    """The series integrates the step function exactly and holds the last price to the pulls' end."""
    h = load_price_history(_write(tmp_path, "a.json", json.dumps(_doc(RECS))))
    s = h.series("p3.2xlarge", "us-east-1b")
    t0 = s.start_s
    assert s.price_at(t0 + 1800) == 1.0 and s.price_at(t0 + 3600) == 2.0
    assert s.cost_usd(t0, t0 + 3600) == pytest.approx(1.0)
    assert s.cost_usd(t0 + 1800, t0 + 3600) == pytest.approx(0.5)
    assert h.price_at("p3.2xlarge", "us-east-1b", t0 + 3599) == 1.0
    assert h.cost_usd("p3.2xlarge", "us-east-1b", t0 + 1800, t0 + 3600) == pytest.approx(0.5)
    with pytest.raises(DataError, match="outside the price history"):
        h.cost_usd("p3.2xlarge", "us-east-1b", t0, t0 + 5400)  # the pulls end at t0 + 1 h
    c = h.series("p3.2xlarge", "us-east-1c")
    assert c.end_s == t0 + 3600  # the same pull saw a later change in another zone
    assert c.cost_usd(c.start_s, c.end_s) == pytest.approx(0.45)


def test_missing_zone_warning(tmp_path) -> None:
    """A type without records in a zone other types have is reported."""
    extra = {**RECS[0], "InstanceType": "p3.8xlarge", "AvailabilityZone": "us-east-1d"}
    h = load_price_history(_write(tmp_path, "a.json", json.dumps(_doc([*RECS, extra]))))
    assert any("p3.2xlarge" in w and "us-east-1d" in w for w in h.warnings)


def test_zone_with_and_without_az_id_is_one_series(tmp_path) -> None:
    """A name-only dump and a boto3 pull with AZ IDs for the same zone give one series by name or ID."""
    with_id = [{**r, "AvailabilityZoneId": "use1-az4"} for r in RECS if r["AvailabilityZone"] == "us-east-1b"]
    p1 = _write(tmp_path, "old.json", json.dumps(_doc(RECS[:1])))
    p2 = _write(tmp_path, "new.json", json.dumps(_doc(with_id)))
    h = load_price_history(tmp_path)
    assert {p1.name, p2.name} <= {f.split("/")[-1] for f in h.files}
    by_name, by_id = h.series("p3.2xlarge", "us-east-1b"), h.series("p3.2xlarge", "use1-az4")
    assert by_name.times_s.size == 2 and by_id.times_s.size == 2


def test_span_gap_warning(tmp_path) -> None:
    """Two pulls of a type with days between them and no record in between are reported."""
    late = [{**r, "Timestamp": r["Timestamp"].replace("2020-02-20", "2020-02-27")} for r in RECS]
    (tmp_path / "d").mkdir()
    _write(tmp_path / "d", "a.json", json.dumps(_doc(RECS)))
    _write(tmp_path / "d", "b.json", json.dumps(_doc(late)))
    h = load_price_history(tmp_path / "d")
    assert any("no record in any zone from 2020-02-20T01:00:00+00:00" in w and "(7.0 days)" in w for w in h.warnings)
