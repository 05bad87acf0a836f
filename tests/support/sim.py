"""Builders for small hand-checkable simulator scenarios (trace and price files written to a tmp folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from spotplan.schemas.scenario import Scenario
from spotplan.simulator.compile import CompiledScenario, compile_scenario
from spotplan.simulator.model import simulate_once
from spotplan.simulator.result import RunResult


def write_trace(folder: Path, name: str, values: list[int], gap_s: float) -> str:
    """A Can't Be Late JSON trace file; returns its path."""
    p = folder / f"{name}.json"
    p.write_text(json.dumps({"metadata": {"gap_seconds": gap_s}, "data": values}), encoding="utf-8")
    return str(p)


def write_prices(folder: Path, zone: str, points: list[tuple[str, float]], instance_type: str = "p3.2xlarge") -> str:
    """A describe-spot-price-history JSON file with the given (ISO time, USD/h) change points."""
    recs = [{"AvailabilityZone": zone, "InstanceType": instance_type, "ProductDescription": "Linux/UNIX",
             "SpotPrice": f"{price:.6f}", "Timestamp": ts} for ts, price in reversed(points)]
    p = folder / f"prices-{zone}.json"
    p.write_text(json.dumps({"SpotPriceHistory": recs, "NextToken": ""}), encoding="utf-8")
    return str(p)


def spot_pool(zone: str, region: str, availability: dict[str, Any], price: dict[str, Any] | None = None,
              **kw: Any) -> dict[str, Any]:
    """A spot rung of p3.2xlarge."""
    return {"instance_type": "p3.2xlarge", "region": region, "zone": zone,
            "price": price or {"kind": "fixed", "usd_per_h": 1.0}, "availability": availability, **kw}


def scenario(pools: list[dict[str, Any]], *, work_h: float = 2.0, interval_s: float = 1e9, save_s: float = 0.0,
             persist_s: float = 0.0, restore_s: float = 0.0, notice_s: float = 0.0, emergency: bool = False,
             lag_s: float = 0.0, provisioning_s: float = 0.0, setup_s: float = 0.0, **top: Any) -> dict[str, Any]:
    """A scenario document with every delay explicit (zero by default) and the replay pinned at offset 0."""
    doc: dict[str, Any] = {
        "job": {"work_h": work_h},
        "checkpoint": {"save_blocking_s": save_s, "persist_background_s": persist_s, "restore_s": restore_s,
                       "interval": {"policy": "fixed", "interval_s": interval_s}},
        "notice": {"notice_s": notice_s, "emergency_save": emergency, "detection_lag_s": lag_s},
        "changeover": {"provisioning_s": provisioning_s, "setup_s": setup_s},
        "replay": {"start_offset_h": 0.0},
        "pools": pools,
    }
    doc.update(top)
    return doc


def compiled(doc: dict[str, Any], base: Path | str = ".") -> CompiledScenario:
    """Validate and compile a scenario document."""
    return compile_scenario(Scenario.from_dict(doc, source="test"), base_dir=base, source="test")


def run(doc: dict[str, Any], seed: int = 0, offset_s: float | None = None) -> RunResult:
    """One run of a scenario document."""
    return simulate_once(compiled(doc), np.random.default_rng(seed), offset_s)
