"""Candidate pools: spot per availability zone and on-demand per region, for the instance types that fit.

Prices are USD per hour per instance; ``hourly_usd`` covers the whole gang of ``nodes`` instances.
Throughput is tokens per second of the whole gang. Interruption behaviour (MTBF, seconds) comes from
``spotplan.simulator.market.fitted`` (traces, the fit, or the Spot Advisor band prior, as the pool says); spot prices come
from the fit, or from a replayed price history given with ``--prices``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spotplan.advisor.sizing import JobSizing, nodes_to_fit, tokens_per_s
from spotplan.errors import ConfigError, InfeasibleError, did_you_mean
from spotplan.schemas.plan import Market

MULTI_NODE_MIN_GPUS = 8  # multi-node sharding only over 8-GPU instances (EFA-class interconnect)


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolOption:
    """One place to run the whole job: an instance type, market, region and (for spot) zone."""

    instance_type: str
    family: str
    gpu_model: str
    gpus_per_node: int
    market: Market
    region: str
    zone: str | None
    az_id: str | None
    nodes: int
    price_usd_per_h: float
    on_demand_usd_per_h: float
    tokens_per_s: float
    mtbf_s: float | None  # mean up-time of one instance before an interruption; None on on-demand
    interruption_source: str
    price_source: str
    availability: str = "fitted"  # "fitted" (traces/fit/prior via spotplan.simulator.market.fitted) or "exponential" at mtbf_s
    trace_path: str | None = None  # availability "trace": the trace file this pool replays (recommend --traces)

    @property
    def hourly_usd(self) -> float:
        """USD per hour of the whole gang."""
        return self.price_usd_per_h * self.nodes

    @property
    def gang_mtbf_s(self) -> float | None:
        """Mean time to the first interruption of any of ``nodes`` independent instances (conservative)."""
        return None if self.mtbf_s is None else self.mtbf_s / self.nodes

    @property
    def key(self) -> str:
        """Short unique label, e.g. ``p5.48xlarge/spot/use1-az2``."""
        where = self.az_id or self.zone or self.region
        return f"{self.instance_type}/{self.market.value}/{where}"

    def usd_per_token(self) -> float:
        """Price of one token at full speed, ignoring interruptions."""
        return self.hourly_usd / 3600.0 / self.tokens_per_s


@dataclass(frozen=True, slots=True, kw_only=True)
class Fit:
    """An instance type that can hold the job."""

    instance_type: str
    nodes: int
    tokens_per_s: float


def fitting_types(job: JobSizing, catalog: Any, families: tuple[str, ...], max_nodes: int) -> list[Fit]:
    """Instance types (optionally of ``families``) that hold the job, with nodes needed and throughput."""
    known = catalog.families()
    for fam in families:
        if fam not in known:
            raise ConfigError(f"--families: unknown family '{fam}'{did_you_mean(fam, known)}; known: {', '.join(known)}")
    fits = []
    for t in catalog.instance_types():
        spec = catalog.instance(t)
        if families and spec.family not in families:
            continue
        limit = max_nodes if spec.gpu_count >= MULTI_NODE_MIN_GPUS else 1
        nodes = nodes_to_fit(job, gpus_per_node=spec.gpu_count, gpu_mem_gib=spec.gpu_mem_gib, max_nodes=limit)
        if nodes is None:
            continue
        peak = catalog.gpu(spec.gpu_model).peak_bf16_tflops
        fits.append(Fit(instance_type=t, nodes=nodes, tokens_per_s=tokens_per_s(job, gpus=nodes * spec.gpu_count,
                                                                                 peak_bf16_tflops=peak)))
    if not fits:
        scope = f" in families {', '.join(families)}" if families else ""
        raise InfeasibleError(
            f"no instance type{scope} holds a {job.shape.label} {job.mode.value} job ({job.state_bytes / 1e9:.0f} GB "
            f"of training state) on up to {max_nodes} nodes; try --mode lora, a smaller --model-size, or other --families"
        )
    return fits


def check_regions(regions: tuple[str, ...], catalog: Any) -> None:
    """Every requested region must be in the catalog (ConfigError with a suggestion otherwise)."""
    for r in regions:
        catalog.check_region(r)


class PriceSource:
    """Spot price per pool: the replayed history's time-weighted mean where ``--prices`` covers the pool,
    else on-demand x the fitted spot/on-demand ratio. Both are scaled by the price multiplier."""

    def __init__(self, fitted: Any, history: Any | None, price_multiplier: float) -> None:
        self.fitted = fitted
        self.history = history
        self.mult = price_multiplier
        self.history_zones: dict[tuple[str, str], list[tuple[str, str]]] = {}
        if history is not None:
            for key in history.pools():
                if key.product == "Linux/UNIX":
                    zones = self.history_zones.setdefault((key.instance_type, key.region), [])
                    if (key.zone, key.az_id) not in zones:
                        zones.append((key.zone, key.az_id))

    def zones(self, instance_type: str, region: str, catalog_zones: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The history's zones for this type and region where it has them, else the catalog's."""
        return sorted(self.history_zones.get((instance_type, region), catalog_zones))

    def spot(self, instance_type: str, region: str, zone: str, az_id: str, on_demand: float) -> tuple[float, str, Any]:
        """(USD/h, source, behaviour) of one spot pool."""
        beh = self.fitted.pool(instance_type, region, zone or None)
        if (zone, az_id) in self.history_zones.get((instance_type, region), []):
            series = self.history.series(instance_type, zone)
            return series.mean_usd_per_h() * self.mult, "replayed history (--prices), time-weighted mean", beh
        return on_demand * beh.spot_to_on_demand * self.mult, "fitted spot/on-demand ratio x catalog on-demand", beh


def build_pools(
    fits: list[Fit], catalog: Any, prices: PriceSource, *, regions: tuple[str, ...], interruption_multiplier: float,
) -> list[PoolOption]:
    """Spot pools per AZ and on-demand per region for every fitting type, within ``regions`` if given."""
    pools: list[PoolOption] = []
    for fit in fits:
        spec = catalog.instance(fit.instance_type)
        for region in sorted(spec.on_demand_usd_per_h):
            if regions and region not in regions:
                continue
            od = spec.on_demand(region)
            common: dict[str, Any] = {
                "instance_type": fit.instance_type, "family": spec.family, "gpu_model": spec.gpu_model,
                "gpus_per_node": spec.gpu_count, "region": region, "nodes": fit.nodes, "on_demand_usd_per_h": od,
                "tokens_per_s": fit.tokens_per_s,
            }
            pools.append(PoolOption(**common, market=Market.ON_DEMAND, zone=None, az_id=None, price_usd_per_h=od,
                                    mtbf_s=None, interruption_source="on-demand (not interrupted)",
                                    price_source=f"catalog on-demand, {spec.prices[region].source}"))
            for zone, az_id in prices.zones(fit.instance_type, region, catalog.zones(region)):
                price, src, beh = prices.spot(fit.instance_type, region, zone, az_id, od)
                mtbf_s = float(beh.mtbf_h) * 3600.0 / interruption_multiplier
                if not (math.isfinite(mtbf_s) and mtbf_s > 0):
                    continue
                pools.append(PoolOption(**common, market=Market.SPOT, zone=zone or None, az_id=az_id,
                                        price_usd_per_h=price, mtbf_s=mtbf_s,
                                        interruption_source=_interruption_source(beh), price_source=src))
    if not pools:
        raise InfeasibleError("no pool offers a fitting instance type in the requested regions; widen --regions")
    return pools


def _interruption_source(beh: Any) -> str:
    """'trace: <files>' / 'advisor-band prior: <band>' from a fitted PoolBehaviour."""
    src = beh.source.get("availability", "") if isinstance(beh.source, dict) else str(beh.source)
    zone_note = beh.source.get("zone") if isinstance(beh.source, dict) else None
    return f"{beh.basis}: {src}" + (f" ({zone_note})" if zone_note else "")


def load_history(path: str | Path | None) -> Any | None:
    """The ``--prices`` history, or None for the embedded fit."""
    if path is None:
        return None
    from spotplan.simulator.market.prices import load_price_history

    return load_price_history(path)
