"""Dashboard tables read as people read them: labels with units, prices to the cent, one zone naming everywhere."""

from __future__ import annotations

import re
from typing import Any

import pytest

from spotplan.dashboard.frames import LADDER_COLUMNS, ladder_frame, pool_key_label, pool_label, zone_names
from spotplan.paths import REPO_ROOT
from spotplan.schemas.plan import Market, Pool

RAW_NAMES = ("instance_type", "price_usd_per_h", "throughput_factor")
ZONE = re.compile(r"^[a-z]+\d-az\d( \([a-z]+-[a-z]+-\d[a-z]\))?$|^any$")


def _pools() -> list[Pool]:
    return [Pool(instance_type="p5.48xlarge", market=Market.SPOT, region="us-east-2", az_id="use2-az1",
                 price_usd_per_h=21.4656, mtbf_h=9.0),
            Pool(instance_type="p5.48xlarge", market=Market.SPOT, region="us-east-1", zone="us-east-1d",
                 az_id="use1-az1", price_usd_per_h=26.4192, mtbf_h=2.2),
            Pool(instance_type="p5.48xlarge", market=Market.ON_DEMAND, region="us-east-2", price_usd_per_h=55.04)]


def test_ladder_frame_has_human_labels_cents_and_az_ids() -> None:
    """Columns are labels with units; prices show cents; zones are the AZ ID with the name where known."""
    df = ladder_frame(_pools())
    assert list(df.columns) == list(LADDER_COLUMNS)
    assert not set(RAW_NAMES) & set(df.columns)
    assert df["Price (USD/h per node)"].tolist() == ["$21.47", "$26.42", "$55.04"]
    assert df["Zone (AZ ID, name)"].tolist() == ["use2-az1 (us-east-2a)", "use1-az1 (us-east-1d)", "any"]


def test_timeline_and_price_labels_use_the_same_zone_naming() -> None:
    """The timeline's pool keys and the price chart's pools are named like the ladder's zones."""
    from spotplan.simulator.market.catalog import load_catalog

    names = zone_names(load_catalog())
    assert pool_key_label("p5.48xlarge/spot/use2-az1", names) == "p5.48xlarge spot use2-az1 (us-east-2a)"
    assert pool_key_label("p5.48xlarge/spot/use1-az1", names) == "p5.48xlarge spot use1-az1 (us-east-1d)"
    assert pool_label("p3.2xlarge", "", "use2-az2", "us-east-2") == "p3.2xlarge use2-az2 (us-east-2b)"


@pytest.fixture(scope="module")
def page() -> Any:
    """The dashboard after its first run (default inputs)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=120).run(timeout=120)
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_page_ladder_and_metrics_read_as_labels(page: Any) -> None:
    """The page's ladder table carries the labelled columns and AZ-ID zones; the saving metric has its full label."""
    ladder = next(df.value for df in page.dataframe if "Zone (AZ ID, name)" in df.value.columns)
    assert not set(RAW_NAMES) & set(ladder.columns)
    assert all(ZONE.match(z) for z in ladder["Zone (AZ ID, name)"]), ladder["Zone (AZ ID, name)"].tolist()
    assert all(re.fullmatch(r"\$[\d,]+\.\d\d", p) for p in ladder["Price (USD/h per node)"])
    assert "Saving vs on-demand" in [m.label for m in page.metric]
