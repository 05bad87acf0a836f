"""The 270 real describe-spot-price-history files load as files and as directories, with the known counts."""

from __future__ import annotations

import json

import pytest

from spotplan.simulator.market.price_formats import parse_file
from spotplan.simulator.market.prices import load_price_history

HISTORY = "training_on_a_dime/aws_describe_spot_price_history"
# Records per region: raw as in SOURCES.md section 2a, and after de-duplicating the overlapping weekly pulls
# (independently checked by counting distinct record dicts with the json module).
RAW = {"us-east-1": 5497, "us-east-2": 3133, "us-west-2": 4303, "eu-west-1": 2222, "eu-central-1": 1143,
       "eu-west-2": 675}
DEDUP = {"us-east-1": 5382, "us-east-2": 3063, "us-west-2": 4209, "eu-west-1": 2146, "eu-central-1": 1105,
         "eu-west-2": 655}


@pytest.fixture(scope="module")
def history_dir(shared_data):
    return shared_data / HISTORY


def test_every_file_loads_alone(history_dir) -> None:
    """Each of the 270 files loads by itself; record counts per region add up to SOURCES.md's raw counts."""
    files = sorted(p for p in history_dir.rglob("*.json"))
    assert len(files) == 270
    raw: dict[str, int] = {}
    for f in files:
        h = load_price_history(f)
        assert len(h.table) == len({json.dumps(r, sort_keys=True) for r in parse_file(f).records})
        raw[f.parent.name] = raw.get(f.parent.name, 0) + len(parse_file(f).records)
    assert {k: v for k, v in raw.items() if v} == RAW
    assert raw["eu-north-1"] == raw["eu-west-3"] == raw["us-west-1"] == 0


def test_whole_tree_counts_and_truncation(history_dir) -> None:
    """The whole tree de-duplicates to the known per-region counts and flags us-east-1/p2.xlarge.json."""
    h = load_price_history(history_dir)
    assert h.table.groupby("region").size().to_dict() == DEDUP
    assert h.truncated_files == [str(history_dir / "us-east-1" / "p2.xlarge.json")]
    assert any("truncated" in w and "p2.xlarge.json" in w for w in h.warnings)
    assert str(h.as_of) == "2020-03-23 16:09:42+00:00"
    assert h.table["timestamp"].min().isoformat().startswith("2019-12-2")


@pytest.mark.parametrize("region", sorted(DEDUP))
def test_each_region_directory(history_dir, region) -> None:
    """Each region folder loads as a directory with its de-duplicated count."""
    h = load_price_history(history_dir / region)
    assert len(h.table) == DEDUP[region] and set(h.table["region"]) == {region}


def test_p3_us_east_1_series(history_dir) -> None:
    """p3.2xlarge in us-east-1: one continuous series per zone, ~3 months, mean well below on-demand $3.06."""
    h = load_price_history(history_dir / "us-east-1")
    zones = sorted({p.zone for p in h.pools() if p.instance_type == "p3.2xlarge"})
    assert zones == ["us-east-1b", "us-east-1c", "us-east-1d", "us-east-1f"]
    for z in zones:
        s = h.series("p3.2xlarge", z)
        assert 80 * 86400 < s.span_s < 95 * 86400
        assert 0.9 < s.mean_usd_per_h() < 1.5
        assert s.cost_usd(s.start_s, s.end_s) == pytest.approx(s.mean_usd_per_h() * s.span_s / 3600)


def test_pauley_archive_tsv(shared_data) -> None:
    """The Pauley archive subset (AZ IDs, all OS products) loads with regions from the IDs."""
    h = load_price_history(shared_data / "aws_spot_price_history_archive_ericpauley" / "2022-05_gpu_subset.tsv")
    assert len(h.table) == 1933 and (h.table["az_id"] != "").all()
    assert {"us-east-1", "eu-west-3"} <= set(h.table["region"])
