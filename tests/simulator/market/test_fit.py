"""The committed spot-behaviour fit: coverage of every catalog pool, provenance, samplers, reproducibility."""

from __future__ import annotations

import json

import numpy as np
import pytest

from spotplan.errors import ConfigError
from spotplan.simulator.market.catalog import load_catalog
from spotplan.simulator.market.fitted import FITTED_PATH, load_fitted


def test_every_catalog_pool_has_behaviour() -> None:
    """pool() answers for every catalog type in every catalog region, with finite positive figures and sources."""
    fb, cat = load_fitted(), load_catalog()
    for t in cat.instance_types():
        for r in cat.regions():
            p = fb.pool(t, r)
            assert p.basis in {"trace", "advisor-band prior", "global prior (band 4)"}
            assert 0 < p.spot_to_on_demand < 1.5 and p.mtbf_h > 0 and 0 < p.availability < 1
            assert p.price_changes_per_h >= 0 and p.price_change_rel_std >= 0
            assert all(p.source.values())


def test_trace_pools_are_trace_fitted() -> None:
    """p3.2xlarge in the traced regions is trace-based; g5/p5 fall back to the advisor prior."""
    fb = load_fitted()
    for r in ("us-east-1", "us-east-2", "us-west-2"):
        assert fb.pool("p3.2xlarge", r).basis == "trace"
    assert fb.pool("p5.48xlarge", "us-east-1").basis == "advisor-band prior"
    assert "Can't Be Late" in fb.pool("p3.2xlarge", "us-east-1").source["availability"]


def test_zone_lookup_by_name_and_az_id() -> None:
    """Zone fits are found by name or AZ ID; unknown zones get region-level figures with a note."""
    fb = load_fitted()
    a = fb.pool("p3.2xlarge", "us-east-1", "us-east-1a")
    assert a.zone == "us-east-1a" and a.az_id == "use1-az2"
    assert fb.pool("p3.2xlarge", "us-east-1", "use1-az2") == a
    assert a.mtbf_h < fb.pool("p3.2xlarge", "us-east-1", "us-east-1f").mtbf_h  # 1a is the worst zone in the trace
    other = fb.pool("g5.xlarge", "us-east-1", "use1-az4")
    assert other.zone == "use1-az4" and "no fit for zone" in other.source["zone"]


def test_band_prior_orders_bands_and_stays_hour_scale() -> None:
    """Lower bands mean longer up-times, but the prior stays far below the naive 720 h/-ln(1-p) reading."""
    bands = load_fitted().band_prior_doc["bands"]
    mtbf = [bands[str(b)]["mtbf_h"] for b in range(5)]
    assert mtbf == sorted(mtbf, reverse=True)
    assert all(bands[str(b)]["mtbf_h"] < bands[str(b)]["naive_mtbf_h"] / 100 for b in range(5))


def test_band_prior_pool_overrides_trace() -> None:
    """band_prior() gives the advisor-band availability even for a traced pool; prices stay the pool's."""
    fb = load_fitted()
    traced, prior = fb.pool("p3.2xlarge", "us-east-1"), fb.band_prior("p3.2xlarge", "us-east-1")
    assert traced.basis == "trace" and prior.basis == "advisor-band prior"
    assert prior.mtbf_h == fb.band_prior_doc["bands"]["4"]["mtbf_h"]
    assert prior.spot_to_on_demand == traced.spot_to_on_demand
    assert fb.band_prior("p5.48xlarge", "eu-west-1").basis == "global prior (band 4)"


def test_samplers_match_mean_and_use_rng() -> None:
    """Samplers are reproducible from the generator and their mean matches mtbf_h."""
    p = load_fitted().pool("p3.2xlarge", "us-west-2")
    a = p.sample_uptime_s(np.random.default_rng(1), 200_000)
    b = p.sample_uptime_s(np.random.default_rng(1), 200_000)
    assert np.array_equal(a, b)
    assert a.mean() / 3600 == pytest.approx(p.mtbf_h, rel=0.05)
    d = p.sample_downtime_s(np.random.default_rng(2), 200_000)
    assert d.mean() == pytest.approx(p.downtime.mean_s, rel=0.05)


def test_unknown_names() -> None:
    """Unknown type or region: ConfigError with did-you-mean."""
    fb = load_fitted()
    with pytest.raises(ConfigError, match="did you mean 'p4d.24xlarge'"):
        fb.pool("p4d.24xlarg", "us-east-1")
    with pytest.raises(ConfigError, match="did you mean 'us-west-2'"):
        fb.pool("p4d.24xlarge", "us-west-22")


def test_spot_price_uses_catalog_on_demand() -> None:
    """Spot USD/h = ratio x the catalog's on-demand price."""
    p = load_fitted().pool("p4d.24xlarge", "us-east-1")
    assert p.spot_usd_per_h == pytest.approx(p.spot_to_on_demand * 21.957642)


def test_fit_reproduces_committed_file(shared_data) -> None:
    """Re-running the fit on the public data gives exactly the committed JSON."""
    from spotplan.simulator.market.fit import fit

    committed = json.loads(FITTED_PATH.read_text())
    assert json.loads(json.dumps(fit(shared_data), sort_keys=True)) == committed
