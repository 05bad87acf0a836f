"""The embedded catalog: coverage, provenance of every price, lookups and did-you-mean errors."""

from __future__ import annotations

import json

import pytest

from spotplan.errors import ConfigError
from spotplan.simulator.market.catalog import CATALOG_DIR, load_catalog

REQUIRED = [
    "p3.2xlarge", "p3.8xlarge", "p3.16xlarge", "p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge",
    "g4dn.xlarge", "g4dn.12xlarge", "g5.xlarge", "g5.12xlarge", "g5.48xlarge", "g6.xlarge", "g6.12xlarge",
    "g6.48xlarge", "g6e.xlarge", "g6e.12xlarge", "g6e.48xlarge", "p2.xlarge", "p2.8xlarge", "p2.16xlarge",
]


def test_required_types_present_with_gpu_specs() -> None:
    """Every type people train on is there, and its GPU model resolves to a spec."""
    cat = load_catalog()
    for t in REQUIRED:
        spec = cat.instance(t)
        gpu = cat.gpu(spec.gpu_model)
        assert spec.gpu_count >= 1 and spec.vcpus > 0 and spec.mem_gib > 0
        assert gpu.peak_bf16_tflops > 0 and gpu.mem_bw_gb_s > 0 and spec.gpu_mem_gib == gpu.mem_gib


def test_every_price_has_provenance_and_cut_side() -> None:
    """Each regional price names its as-of date, source, method and side of the June 2025 cut."""
    cat = load_catalog()
    for t in cat.instance_types():
        for region, p in cat.instance(t).prices.items():
            assert region in cat.regions()
            assert p.usd_per_h > 0 and p.as_of and p.source
            assert p.method == "quoted" or p.method.startswith("derived:")
            assert p.june_2025_cut in {"after", "before", "not-affected"}


def test_us_regions_priced_for_core_types() -> None:
    """us-east-1, us-east-2 and us-west-2 have prices for every required type where AWS offers it."""
    cat = load_catalog()
    for t in REQUIRED:
        assert "us-east-1" in cat.instance(t).on_demand_usd_per_h
        assert "us-west-2" in cat.instance(t).on_demand_usd_per_h
    assert cat.instance("p3.2xlarge").on_demand("eu-west-1") == pytest.approx(3.305)


def test_june_2025_cut_applied() -> None:
    """P4/P5 us-east-1 prices are the post-cut list prices (Karpenter 2025-06-23 onwards)."""
    cat = load_catalog()
    assert cat.instance("p5.48xlarge").on_demand("us-east-1") == pytest.approx(55.04)
    assert cat.instance("p4d.24xlarge").on_demand("us-east-1") == pytest.approx(21.957642)
    assert cat.instance("p5.48xlarge").prices["us-east-1"].june_2025_cut == "after"
    assert cat.instance("p3.2xlarge").prices["us-east-1"].june_2025_cut == "not-affected"
    assert set(cat.june_2025_cut_types) >= {"p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge"}
    eu = cat.instance("p4d.24xlarge").prices["eu-west-1"]
    assert eu.before_cut_usd_per_h == pytest.approx(35.39655) and eu.usd_per_h < eu.before_cut_usd_per_h


def test_unknown_names_suggest() -> None:
    """Typos give ConfigError with a did-you-mean."""
    cat = load_catalog()
    with pytest.raises(ConfigError, match="did you mean 'p3.2xlarge'"):
        cat.instance("p3.2xlarg")
    with pytest.raises(ConfigError, match="did you mean 'us-east-1'"):
        cat.zones("us-east-11")
    with pytest.raises(ConfigError, match="did you mean 'H100'"):
        cat.gpu("H10")


def test_zones_keyed_by_az_id() -> None:
    """Zones list AZ IDs; the four us-east-1 names known from the SkyNomad archive are attached."""
    zones = {i: n for n, i in load_catalog().zones("us-east-1")}
    assert zones["use1-az2"] == "us-east-1a" and zones["use1-az1"] == "us-east-1d"
    assert len(zones) == 6
    cat = load_catalog()
    p4d = [i for _n, i in cat.zones("us-east-1", "p4d.24xlarge")]
    assert p4d == ["use1-az1", "use1-az2", "use1-az6"]  # the AZs the SkyPilot snapshot lists for p4d
    assert cat.zones("us-east-1", "g6.xlarge") == cat.zones("us-east-1")  # not in the snapshot: every zone


def test_catalog_rebuild_matches(shared_data, tmp_path) -> None:
    """Re-running the builder on the public data reproduces the committed instances.json."""
    from spotplan.simulator.market.catalog_build import build

    committed = json.loads((CATALOG_DIR / "instances.json").read_text())
    assert build(shared_data) == committed
