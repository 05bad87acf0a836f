"""Calibration drift: compare a new calibration with the one the baselines were made with, and how plans move.

``spotplan regress --calibration FILE`` re-plans every scenario with the measured save and restore costs of FILE.
This module reports, per scenario, the save (blocking), persist and restore seconds and the chosen interval, cost
and P95 makespan before (the recorded baseline) and after, plus the new calibration's fits and where its
predictions extrapolate beyond the largest measured state. Seconds, bytes, bytes per second, USD, hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from spotplan.schemas.baseline import BaselineRecord
from spotplan.schemas.calibration import Calibration, LinearCostFit

if TYPE_CHECKING:
    from spotplan.regress.compare import Evaluation
    from spotplan.regress.engine import ResolvedScenario


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftRow:
    """How one scenario's plan moves under the new calibration (before = its recorded baseline)."""

    scenario: str
    baseline_calibration: str
    bytes_per_node: int
    extrapolated: bool
    save_blocking_s: tuple[float, float]
    save_persist_s: tuple[float, float]
    restore_s: tuple[float, float]
    interval_s: tuple[float, float]
    interval_steps: tuple[int, int]
    cost_usd: tuple[float, float]
    makespan_p95_h: tuple[float, float]


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftReport:
    """The new calibration and its effect on every evaluated scenario that has a baseline."""

    calibration_path: str
    measured_on: str
    fits: dict[str, str]
    max_measured_bytes: int
    rows: tuple[DriftRow, ...]


def describe_fit(fit: LinearCostFit) -> str:
    """``0.40 s + bytes / 2.10 GB/s``."""
    return f"{fit.overhead_s:.2f} s + bytes / {fit.bandwidth_bytes_per_s / 1e9:.2f} GB/s"


def _baseline_calibration(base: BaselineRecord) -> str:
    sha = base.fingerprint.calibration_sha256
    if sha is None:
        bw = base.request.save_bandwidth_bytes_per_s
        return f"default bandwidth ({bw / 1e9:.2f} GB/s persist)" if bw else "default bandwidth"
    return f"calibration sha256 {sha[:12]}"


def _row(base: BaselineRecord, ev: Evaluation, calib: Calibration, nodes: int) -> DriftRow:
    b, n = base.plan, ev.plan
    per_node = max(1, n.checkpoint_bytes // max(1, nodes))
    return DriftRow(
        scenario=base.scenario, baseline_calibration=_baseline_calibration(base), bytes_per_node=per_node,
        extrapolated=per_node > calib.max_measured_bytes,
        save_blocking_s=(b.save_blocking_s, n.save_blocking_s), save_persist_s=(b.save_persist_s, n.save_persist_s),
        restore_s=(b.restore_s, n.restore_s), interval_s=(base.figures.interval_s, ev.figures.interval_s),
        interval_steps=(b.checkpoint_interval_steps, n.checkpoint_interval_steps),
        cost_usd=(base.figures.cost_usd, ev.figures.cost_usd),
        makespan_p95_h=(base.figures.makespan_p95_h, ev.figures.makespan_p95_h),
    )


def _nodes(ladder: list[str]) -> int:
    # Rungs read "type market where xN"; the first rung is the reference pool.
    try:
        return int(ladder[0].rsplit("x", 1)[1])
    except (IndexError, ValueError):
        return 1


def drift_report(pairs: list[tuple[BaselineRecord | None, Evaluation, ResolvedScenario]], calib: Calibration,
                 path: Path | None) -> DriftReport:
    """The drift report of scenarios evaluated with ``calib`` against their recorded baselines."""
    rows = tuple(_row(base, ev, calib, _nodes(ev.plan.ladder)) for base, ev, _ in pairs if base is not None)
    return DriftReport(
        calibration_path=str(path) if path else "", measured_on=f"{calib.machine.device} ({calib.created_utc})",
        fits={"snapshot": describe_fit(calib.snapshot), "persist": describe_fit(calib.persist),
              "restore": describe_fit(calib.restore)},
        max_measured_bytes=calib.max_measured_bytes, rows=rows,
    )
