"""The committed egress table agrees with AWS's figures and the loader answers per region pair."""

from __future__ import annotations

import csv
import json

import pytest

from spotplan.errors import ConfigError
from spotplan.paths import shared_data_dir
from spotplan.simulator.market import egress, egress_build


def test_known_pairs_and_intra_region_free() -> None:
    """US pairs cost what AWS lists (0.01 us-east-1<->us-east-2, 0.02 other US pairs); a region to itself is free."""
    assert egress.egress_usd_per_gb("us-east-1", "us-east-2") == 0.01
    assert egress.egress_usd_per_gb("us-east-2", "us-west-2") == 0.02
    assert egress.egress_usd_per_gb("us-west-2", "us-west-2") == 0.0


def test_every_ordered_pair_is_priced() -> None:
    """The table covers every ordered pair of distinct regions it names (34 regions, 1122 pairs)."""
    regions = egress.egress_regions()
    for src in regions:
        for dst in regions:
            assert egress.egress_usd_per_gb(src, dst) >= 0.0


def test_unknown_region_is_a_config_error() -> None:
    """A misspelt region names itself and offers the close match."""
    with pytest.raises(ConfigError, match="us-est-2.*did you mean"):
        egress.egress_usd_per_gb("us-east-1", "us-est-2")


def test_transfer_time_uses_the_stated_bandwidth() -> None:
    """50 GB at 0.25 GB/s takes 200 s."""
    assert egress.transfer_time_s(50.0) == pytest.approx(50.0 / egress.MIGRATION_BANDWIDTH_GB_PER_S)
    assert egress.region_of_zone("us-east-1c") == "us-east-1"
    assert egress.region_of_zone("us-west-2") == "us-west-2"


def test_committed_table_matches_the_source() -> None:
    """Rebuilding from shared/data gives the committed file's pairs, value for value."""
    shared = shared_data_dir()
    if shared is None or not (shared / egress_build.SOURCE).is_file():
        pytest.skip("shared/data/skynomad/aws_egress_pricing.csv absent (set SPOTPLAN_SHARED_DATA)")
    committed = json.loads(egress.EGRESS_FILE.read_text())["usd_per_gb"]
    assert egress_build.build(shared)["usd_per_gb"] == committed
    with (shared / egress_build.SOURCE).open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert sum(len(v) for v in committed.values()) == len(rows)


def test_builder_rejects_conflicting_rows() -> None:
    """A pair priced twice with two prices is refused."""
    rows = [{"from_region": "a-1", "to_region": "b-1", "price_usd_per_gb": p} for p in ("0.02", "0.09")]
    with pytest.raises(ValueError, match="priced twice"):
        egress_build.pairs_from_rows(rows)
