"""Per-pool price summaries for ``spotplan prices show`` (pure: history or fit in, list of row dicts out).

Prices are USD/h; spans are UTC ISO-8601 and days; ``discount`` is 1 - mean spot / on-demand (catalog price of
the region, None where the catalog has none).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from spotplan.errors import ConfigError, did_you_mean
from spotplan.simulator.market.catalog import Catalog
from spotplan.simulator.market.fit_stats import price_stats, sig
from spotplan.simulator.market.fitted import FittedBehaviour
from spotplan.simulator.market.prices import PriceHistory


def _check_filter(value: str | None, present: set[str], what: str, source: str) -> None:
    if value is not None and value not in present:
        raise ConfigError(f"--{what} '{value}' has no data in {source}{did_you_mean(value, present)}; "
                          f"present: {', '.join(sorted(present)) or 'none'}")


def history_rows(history: PriceHistory, cat: Catalog, *, instance_type: str | None = None,
                 region: str | None = None, source: str = "") -> list[dict[str, Any]]:
    """One row per (type, zone, product) pool of a loaded history, filtered."""
    _check_filter(instance_type, set(history.table["instance_type"]), "instance-type", source)
    _check_filter(region, set(history.table["region"]), "region", source)
    rows = []
    for k in history.pools():
        if (instance_type and k.instance_type != instance_type) or (region and k.region != region):
            continue
        s = history.series(k.instance_type, k.zone or k.az_id, k.product)
        st = price_stats(s)
        spec = cat.instances.get(k.instance_type)
        od = spec.on_demand_usd_per_h.get(k.region) if spec else None
        rows.append({
            "instance_type": k.instance_type, "region": k.region, "zone": k.zone, "az_id": k.az_id,
            "product": k.product, "start_utc": _iso(s.start_s), "end_utc": _iso(s.end_s),
            "span_days": sig(s.span_s / 86400, 4), "change_points": st.change_points,
            "mean_usd_per_h": sig(st.mean_usd_per_h, 5), "min_usd_per_h": st.min_usd_per_h,
            "max_usd_per_h": st.max_usd_per_h, "on_demand_usd_per_h": od,
            "discount": sig(1 - st.mean_usd_per_h / od, 4) if od else None,
        })
    return rows


def fitted_rows(fitted: FittedBehaviour, *, instance_type: str | None = None,
                region: str | None = None) -> list[dict[str, Any]]:
    """One row per embedded fitted pool (region level and zone level), filtered."""
    cat = fitted.catalog
    if instance_type is not None:
        cat.instance(instance_type)
    if region is not None:
        cat.check_region(region)
    rows = []
    for p in fitted.all_pools():
        if (instance_type and p.instance_type != instance_type) or (region and p.region != region):
            continue
        spot = p.spot_usd_per_h
        rows.append({
            "instance_type": p.instance_type, "region": p.region, "zone": p.zone, "az_id": p.az_id,
            "basis": p.basis, "on_demand_usd_per_h": p.on_demand_usd_per_h,
            "spot_to_on_demand": p.spot_to_on_demand, "spot_usd_per_h": sig(spot, 5) if spot is not None else None,
            "discount": sig(1 - p.spot_to_on_demand, 4), "price_changes_per_h": p.price_changes_per_h,
            "mtbf_h": p.mtbf_h, "availability": p.availability, "advisor_band": p.advisor_label or None,
            "source": p.source,
        })
    return rows


def _iso(t_s: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(t_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
