"""Embedded per-pool spot behaviour: read the committed ``data/fitted/spot_behaviour.json``.

A ``PoolBehaviour`` holds the spot price level (ratio to on-demand), how often and how much the price changes
(per hour, relative std), and the up-time / down-time distributions of one spot instance (seconds; lognormal,
sampled with an explicit ``numpy.random.Generator``). ``basis`` says where the availability figures come from:
``trace`` (Can't Be Late traces of that pool), ``advisor-band prior`` (Spot Advisor band mapped as documented in
``simulator/market/fit.py``) or ``global prior (band 4)``. ``FittedBehaviour.pool`` never raises for a catalog instance
type in a catalog region; unknown names raise ConfigError with a "did you mean".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from spotplan.errors import DataError
from spotplan.paths import data_dir
from spotplan.simulator.market.catalog import Catalog, load_catalog

FITTED_PATH = data_dir() / "fitted" / "spot_behaviour.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class LifetimeDist:
    """A run-length distribution in seconds. ``kind`` is ``lognormal`` (params ``mu_log_s``, ``sigma_log``)."""

    kind: str
    mu_log_s: float
    sigma_log: float

    def __post_init__(self) -> None:
        if self.kind != "lognormal" or not math.isfinite(self.mu_log_s) or not self.sigma_log >= 0:
            raise DataError(f"unsupported distribution {self.kind}({self.mu_log_s}, {self.sigma_log}); "
                            "expected lognormal with finite mu_log_s and sigma_log >= 0", path=str(FITTED_PATH))

    @property
    def params(self) -> dict[str, float]:
        """Parameters by name."""
        return {"mu_log_s": self.mu_log_s, "sigma_log": self.sigma_log}

    @property
    def mean_s(self) -> float:
        """Mean run length in seconds."""
        return math.exp(self.mu_log_s + self.sigma_log**2 / 2)

    def quantile_s(self, q: float) -> float:
        """Run length in seconds at quantile ``q`` (0 < q < 1)."""
        from scipy.stats import norm

        return math.exp(self.mu_log_s + self.sigma_log * float(norm.ppf(q)))

    def sample_s(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` run lengths in seconds."""
        return rng.lognormal(self.mu_log_s, self.sigma_log, size=n)


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolBehaviour:
    """Fitted spot behaviour of one pool (zone "" = region level)."""

    instance_type: str
    region: str
    zone: str
    az_id: str
    basis: str
    spot_to_on_demand: float
    on_demand_usd_per_h: float | None
    price_changes_per_h: float
    price_change_rel_std: float
    mtbf_h: float
    availability: float
    uptime: LifetimeDist
    downtime: LifetimeDist
    advisor_band: int | None
    advisor_label: str
    savings_pct: float | None
    history_spot_to_on_demand: float | None
    source: dict[str, str]

    @property
    def offered(self) -> bool:
        """True when the catalog has an on-demand price here (AWS offers the type in the region)."""
        return self.on_demand_usd_per_h is not None

    @property
    def spot_usd_per_h(self) -> float | None:
        """Expected spot price: ratio times the catalog's on-demand price (None where the catalog has none)."""
        return None if self.on_demand_usd_per_h is None else self.spot_to_on_demand * self.on_demand_usd_per_h

    @property
    def mtbf_s(self) -> float:
        """Mean up-time before an interruption, seconds."""
        return self.mtbf_h * 3600.0

    def sample_uptime_s(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` up-times (seconds until the instance is interrupted)."""
        return self.uptime.sample_s(rng, n)

    def sample_downtime_s(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` down-times (seconds until spot capacity is back)."""
        return self.downtime.sample_s(rng, n)


def _pool(raw: dict[str, Any], cat: Catalog) -> PoolBehaviour:
    t, region = raw["instance_type"], raw["region"]
    adv = raw.get("advisor") or {}
    od = cat.instances[t].on_demand_usd_per_h.get(region) if t in cat.instances else None
    return PoolBehaviour(
        instance_type=t, region=region, zone=raw["zone"], az_id=raw["az_id"], basis=raw["basis"],
        spot_to_on_demand=float(raw["spot_to_on_demand"]), on_demand_usd_per_h=od,
        price_changes_per_h=float(raw["price_changes_per_h"]), price_change_rel_std=float(raw["price_change_rel_std"]),
        mtbf_h=float(raw["mtbf_h"]), availability=float(raw["availability"]),
        uptime=LifetimeDist(**raw["uptime"]), downtime=LifetimeDist(**raw["downtime"]),
        advisor_band=adv.get("band"), advisor_label=adv.get("label", ""), savings_pct=adv.get("savings_pct"),
        history_spot_to_on_demand=raw.get("history_spot_to_on_demand"),
        source={"spot_to_on_demand": raw["source_spot_to_on_demand"], "price_changes": raw["source_price_changes"],
                "availability": raw["source_availability"],
                "on_demand": cat.instances[t].prices[region].source if od is not None else "not in the catalog"},
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedBehaviour:
    """All fitted pools plus the band prior; look pools up with ``pool``."""

    pools: dict[tuple[str, str, str], PoolBehaviour]
    band_prior_doc: dict[str, Any]
    catalog: Catalog
    source: str

    def pool(self, instance_type: str, region: str, zone: str | None = None) -> PoolBehaviour:
        """The pool's behaviour; a zone without its own fit gets the region-level figures (zone set, source noted)."""
        self.catalog.instance(instance_type)
        self.catalog.check_region(region)
        base = self.pools[(instance_type, region, "")]
        if not zone:
            return base
        for (t, r, z), p in self.pools.items():
            if (t, r) == (instance_type, region) and z and zone in (z, p.az_id):
                return p
        note = {**base.source, "zone": f"no fit for zone '{zone}': region-level figures of {region}"}
        return replace(base, zone=zone, source=note)

    def band_prior(self, instance_type: str, region: str) -> PoolBehaviour:
        """The pool with its availability taken from the Spot Advisor band prior, even where a trace exists."""
        base = self.pool(instance_type, region)
        b = base.advisor_band if base.advisor_band is not None else 4
        band = self.band_prior_doc["bands"][str(b)]
        how = (f"Spot Advisor band {b} ({base.advisor_label})" if base.advisor_band is not None
               else "not in the Spot Advisor: band 4 (most pessimistic)")
        return replace(
            base, basis="advisor-band prior" if base.advisor_band is not None else "global prior (band 4)",
            mtbf_h=float(band["mtbf_h"]), availability=float(band["availability"]),
            uptime=LifetimeDist(**band["uptime"]), downtime=LifetimeDist(**band["downtime"]),
            source={**base.source, "availability": f"{how} prior: {self.band_prior_doc['method']}"})

    def zone_pools(self, instance_type: str, region: str) -> list[PoolBehaviour]:
        """The zone-level fits of a type in a region (empty when only region level exists)."""
        return [p for (t, r, z), p in sorted(self.pools.items()) if (t, r) == (instance_type, region) and z]

    def all_pools(self) -> list[PoolBehaviour]:
        """Every pool, region level first, sorted."""
        return [self.pools[k] for k in sorted(self.pools, key=lambda k: (k[0], k[1], k[2] != "", k[2]))]


@lru_cache(maxsize=4)
def load_fitted(path: str | Path | None = None) -> FittedBehaviour:
    """Load the committed fit (cached; immutable)."""
    p = Path(path) if path is not None else FITTED_PATH
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        cat = load_catalog()
        pools = {(r["instance_type"], r["region"], r["zone"]): _pool(r, cat) for r in doc["pools"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"cannot read the fitted spot behaviour ({type(exc).__name__}: {exc}); run "
                        "`spotplan data fit` or reinstall", path=str(p)) from None
    missing = [(t, r) for t in cat.instance_types() for r in cat.regions() if (t, r, "") not in pools]
    if missing:
        raise DataError(f"no fit for {len(missing)} catalog pools, e.g. {missing[0]}; re-run `spotplan data fit`",
                        path=str(p))
    return FittedBehaviour(pools=pools, band_prior_doc=doc["band_prior"], catalog=cat, source=str(p))

