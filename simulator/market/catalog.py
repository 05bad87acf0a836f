"""The embedded instance catalog: hardware facts, GPU specs and on-demand prices (USD per hour) per region.

Reads the committed ``data/catalog/instances.json`` (built by ``simulator/market/catalog_build.py`` from the public data,
each price with as-of date, source, method and side of the June 2025 P4/P5 price cut) and
``data/catalog/gpus.json`` (vendor datasheet figures: dense 16-bit TFLOP/s, GiB, GB/s). Lookups are pure;
unknown names raise ``ConfigError`` with a "did you mean".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from spotplan.errors import ConfigError, DataError, did_you_mean
from spotplan.paths import data_dir

CATALOG_DIR = data_dir() / "catalog"


@dataclass(frozen=True, slots=True, kw_only=True)
class OnDemandPrice:
    """One regional on-demand price with its provenance."""

    usd_per_h: float
    as_of: str
    source: str
    method: str  # "quoted" or "derived: <rule>"
    june_2025_cut: str  # "after", "before" or "not-affected"
    before_cut_usd_per_h: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuSpec:
    """Per-GPU figures. ``peak_bf16_tflops`` is the dense tensor peak of the 16-bit format the GPU trains in."""

    model: str
    arch: str
    peak_bf16_tflops: float
    peak_fp16_tflops: float
    bf16_native: bool
    mem_gib: float
    mem_bw_gb_s: float
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceSpec:
    """An instance type. ``price_as_of``/``price_source`` describe the us-east-1 price; ``prices`` has every region's."""

    instance_type: str
    family: str
    gpu_model: str
    gpu_count: int
    gpu_mem_gib: float
    vcpus: int
    mem_gib: float
    on_demand_usd_per_h: dict[str, float]
    price_as_of: str
    price_source: str
    prices: dict[str, OnDemandPrice]
    hardware_source: str
    zone_ids: dict[str, tuple[str, ...]]  # region -> AZ IDs offering the type (empty dict: not known)

    @property
    def total_gpu_mem_gib(self) -> float:
        """GPU memory of the whole instance."""
        return self.gpu_mem_gib * self.gpu_count

    def on_demand(self, region: str) -> float:
        """On-demand USD/h in ``region``; ConfigError naming the regions that have a price."""
        if region not in self.on_demand_usd_per_h:
            raise ConfigError(
                f"no on-demand price for {self.instance_type} in region '{region}'; the catalog has "
                f"{', '.join(sorted(self.on_demand_usd_per_h))}{did_you_mean(region, self.on_demand_usd_per_h)}"
            )
        return self.on_demand_usd_per_h[region]


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """Lookups over the embedded catalog."""

    instances: dict[str, InstanceSpec]
    gpus: dict[str, GpuSpec]
    region_zones: dict[str, list[tuple[str, str]]]
    june_2025_cut_types: tuple[str, ...]
    source: str

    def instance(self, instance_type: str) -> InstanceSpec:
        """The spec of ``instance_type``; ConfigError with a suggestion when unknown."""
        try:
            return self.instances[instance_type]
        except KeyError:
            raise ConfigError(
                f"unknown instance type '{instance_type}'{did_you_mean(instance_type, self.instances)}; "
                f"known: {', '.join(self.instance_types())}"
            ) from None

    def gpu(self, model: str) -> GpuSpec:
        """The spec of a GPU model (``V100``, ``A100-80GB``, ``H100``, ...)."""
        try:
            return self.gpus[model]
        except KeyError:
            raise ConfigError(
                f"unknown GPU model '{model}'{did_you_mean(model, self.gpus)}; known: {', '.join(sorted(self.gpus))}"
            ) from None

    def instance_types(self) -> list[str]:
        """All instance types, sorted by family then GPU count."""
        return sorted(self.instances, key=lambda t: (self.instances[t].family, self.instances[t].gpu_count, t))

    def regions(self) -> list[str]:
        """All regions the catalog covers."""
        return list(self.region_zones)

    def check_region(self, region: str) -> str:
        """Return ``region`` or raise ConfigError with a suggestion."""
        if region not in self.region_zones:
            raise ConfigError(
                f"unknown region '{region}'{did_you_mean(region, self.region_zones)}; known: {', '.join(self.regions())}"
            )
        return region

    def zones(self, region: str, instance_type: str | None = None) -> list[tuple[str, str]]:
        """(zone name or "" where unknown, AZ ID) for every zone of ``region``; with ``instance_type``, only the
        zones known to offer it (all zones where the catalog does not know)."""
        zones = list(self.region_zones[self.check_region(region)])
        if instance_type is None:
            return zones
        offered = self.instance(instance_type).zone_ids.get(region)
        return [z for z in zones if z[1] in offered] if offered else zones

    def families(self) -> list[str]:
        """Instance families present (``p3``, ``g5``, ...)."""
        return sorted({s.family for s in self.instances.values()})

    def offered(self, instance_type: str, region: str) -> bool:
        """True when the catalog has an on-demand price for the type in the region."""
        return region in self.instance(instance_type).on_demand_usd_per_h


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the embedded catalog ({exc}); reinstall spotplan", path=str(path)) from None


def _instance(t: str, raw: dict[str, Any], gpus: dict[str, GpuSpec]) -> InstanceSpec:
    prices = {r: OnDemandPrice(**p) for r, p in raw["on_demand"].items()}
    primary = prices.get("us-east-1") or next(iter(prices.values()))
    return InstanceSpec(
        instance_type=t, family=raw["family"], gpu_model=raw["gpu_model"], gpu_count=int(raw["gpu_count"]),
        gpu_mem_gib=gpus[raw["gpu_model"]].mem_gib, vcpus=int(raw["vcpus"]), mem_gib=float(raw["mem_gib"]),
        on_demand_usd_per_h={r: p.usd_per_h for r, p in prices.items()}, price_as_of=primary.as_of,
        price_source=primary.source, prices=prices, hardware_source=raw["hardware_source"],
        zone_ids={r: tuple(z) for r, z in raw.get("zone_ids", {}).items()},
    )


@lru_cache(maxsize=4)
def load_catalog(directory: str | Path | None = None) -> Catalog:
    """Load the embedded catalog (cached; the objects are immutable)."""
    d = Path(directory) if directory is not None else CATALOG_DIR
    inst_doc, gpu_doc = _read(d / "instances.json"), _read(d / "gpus.json")
    gpus = {m: GpuSpec(model=m, **g) for m, g in gpu_doc["gpus"].items()}
    instances = {t: _instance(t, raw, gpus) for t, raw in inst_doc["instances"].items()}
    zones = {r: [(str(n), str(i)) for n, i in inst_doc["zones"].get(r, [])] for r in inst_doc["regions"]}
    return Catalog(instances=instances, gpus=gpus, region_zones=zones,
                   june_2025_cut_types=tuple(inst_doc["june_2025_cut"]["types"]), source=str(d))
