"""Turn a candidate configuration into a simulator Scenario and score it with the SimPy Monte Carlo.

Every configuration is run with the same seed and run count, so all of them see the same replay start
offsets and random streams (common random numbers): differences between them are the configuration's,
not the dice's. Costs are USD, makespans hours, times seconds.

Every run simulates the whole job: the core's cost grows with the market events a run meets, not with its
checkpoints, so a 500-hour job with thousands of saves costs what its few dozen interruptions cost.

Runs are cut at ``horizon_h`` (1.5x the deadline or P95 bound) so that a hopeless configuration, e.g. an 8-node
spot gang that is almost never all up, does not simulate for months; a configuration with any cut run is
reported as non-compliant, and its cost is a lower bound.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.ladder import PROVISION_S, SETUP_S, JobTimes
from spotplan.schemas.plan import Distribution, Expected, Market
from spotplan.stats import mean_ci_half_width

HOPELESS_CUT_SHARE = 0.05  # more runs than this cut at the horizon: P95 is past it, stop scoring


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """One candidate: a ladder, a checkpoint interval, a recovery strategy and a deadline policy."""

    name: str
    ladder: tuple[PoolOption, ...]
    interval_s: float
    recovery: str
    deadline_policy: str
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SimSettings:
    """Everything shared by all scored configurations of one request."""

    times: JobTimes
    step_time_ref_s: float
    checkpoint_bytes: int
    keep_last: int
    notice_s: float
    emergency_save: bool
    deadline_h: float | None
    runs: int
    seed: int
    prices_path: str | None
    interruption_multiplier: float
    horizon_h: float | None = None  # runs still going after this are cut (and their configuration non-compliant)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scored:
    """A configuration with its simulated figures and per-run arrays (aligned by run index)."""

    config: Config
    scenario: Any
    expected: Expected
    cost_usd: np.ndarray
    makespan_h: np.ndarray
    elapsed_s: float
    cut_runs: int = 0  # runs stopped at the horizon: their cost is a lower bound, the configuration misses

    @property
    def hit_rate(self) -> float:
        """Deadline hit rate (1.0 without a deadline)."""
        return 1.0 if self.expected.deadline_hit_rate is None else self.expected.deadline_hit_rate


def _pool_spec(p: PoolOption, ref_tokens_per_s: float, s: SimSettings) -> dict[str, Any]:
    from spotplan.schemas.scenario import AvailabilityKind, PriceKind

    spec: dict[str, Any] = {
        "name": p.key, "instance_type": p.instance_type, "region": p.region, "zone": p.zone,
        "market": p.market.value, "throughput_factor": p.tokens_per_s / ref_tokens_per_s,
    }
    if p.market is Market.ON_DEMAND:
        spec["price"] = {"kind": PriceKind.FIXED.value, "usd_per_h": p.price_usd_per_h}
        spec["availability"] = {"kind": AvailabilityKind.ALWAYS.value}
        return spec
    if p.price_source.startswith("replayed history") and s.prices_path:
        spec["price"] = {"kind": PriceKind.HISTORY.value, "path": s.prices_path}
    else:
        spec["price"] = {"kind": PriceKind.FIXED.value, "usd_per_h": p.price_usd_per_h}
    if p.availability == "exponential":
        assert p.mtbf_s is not None
        # mtbf_s already carries the interruption multiplier
        spec["availability"] = {"kind": AvailabilityKind.EXPONENTIAL.value, "mtbf_h": p.mtbf_s / 3600.0}
    else:
        spec["availability"] = {"kind": AvailabilityKind.FITTED.value, "rate_multiplier": s.interruption_multiplier}
    return spec


def to_scenario(config: Config, s: SimSettings) -> Any:
    """The simulator Scenario of ``config`` (work measured on its own first rung)."""
    from spotplan.schemas.scenario import Scenario

    ref = config.ladder[0]
    factor = ref.tokens_per_s / s.times.ref_tokens_per_s
    save = s.times.save(ref.nodes)
    deadline: dict[str, Any] = {"policy": config.deadline_policy}
    if config.deadline_policy != "none":
        deadline["deadline_h"] = s.deadline_h
    doc = {
        "name": config.name,
        "description": config.description,
        "job": {"work_h": s.times.work_s(ref) / 3600.0, "nodes": ref.nodes, "step_time_s": s.step_time_ref_s / factor},
        "checkpoint": {
            "save_blocking_s": save.snapshot_s, "persist_background_s": save.persist_s,
            "restore_s": save.restore_s, "keep_last": s.keep_last, "checkpoint_bytes": s.checkpoint_bytes,
            "interval": {"policy": "fixed", "interval_s": config.interval_s},
        },
        "notice": {"notice_s": s.notice_s, "emergency_save": s.emergency_save, "detection_lag_s": 5.0},
        "changeover": {"provisioning_s": PROVISION_S, "setup_s": SETUP_S},
        "pools": [_pool_spec(p, ref.tokens_per_s, s) for p in config.ladder],
        "ladder": {"recovery": config.recovery},
        "deadline": deadline,
    }
    return Scenario.from_dict(doc, source=f"advisor candidate '{config.name}'")


def _dist(values: np.ndarray, ci95: tuple[float, float]) -> Distribution:
    q = np.percentile(values, [50, 90, 95, 99])
    return Distribution(mean=float(values.mean()), std=float(values.std(ddof=1)) if values.size > 1 else 0.0,
                        p50=float(q[0]), p90=float(q[1]), p95=float(q[2]), p99=float(q[3]),
                        ci95=(float(ci95[0]), float(ci95[1])))


def expected_from(cost: np.ndarray, makespan_h: np.ndarray, hit: float | None, runs: int, seed: int) -> Expected:
    """Expected figures from per-run arrays (normal-approximation 95% CI of the mean)."""
    def ci(v: np.ndarray) -> tuple[float, float]:
        half = mean_ci_half_width(v)
        return float(v.mean() - half), float(v.mean() + half)

    return Expected(cost_usd=_dist(cost, ci(cost)), makespan_h=_dist(makespan_h, ci(makespan_h)),
                    deadline_hit_rate=hit, runs=runs, seed=seed)


def score(config: Config, s: SimSettings) -> Scored:
    """Run the SimPy Monte Carlo for ``config`` (single worker: small run counts, no process start-up).

    Runs go in run order and stop once more than 5% of all the runs were cut at the horizon: the configuration's
    P95 makespan is then past the horizon whatever the other runs do, and simulating dozens more runs of a gang
    that never stays up (each months of simulated time) would only sharpen a lower bound. Its figures then come
    from the runs done (``Expected.runs`` says how many).
    """
    from spotplan.simulator.compile import compile_scenario
    from spotplan.simulator.model import simulate_once
    from spotplan.simulator.montecarlo import run_rng

    scenario = to_scenario(config, s)
    compiled = compile_scenario(scenario, source=f"advisor candidate '{config.name}'")
    if s.horizon_h is not None:  # hopeless runs (a gang that never stays up) would otherwise run for months
        compiled = replace(compiled, max_sim_s=min(compiled.max_sim_s, s.horizon_h * 3600.0))
    t0 = time.perf_counter()
    results = []
    cut = 0
    for i in range(s.runs):
        results.append(simulate_once(compiled, run_rng(s.seed, i), keep_timeline=False))
        cut += not results[-1].finished
        if cut > HOPELESS_CUT_SHARE * s.runs:
            break
    elapsed = time.perf_counter() - t0
    cost, makespan_h, met = per_run_arrays(results)
    hit = None if s.deadline_h is None else float(np.mean(makespan_h <= s.deadline_h + 1e-9))
    if met is not None and s.deadline_h is not None and config.deadline_policy != "none":
        hit = float(np.mean(met))
    return Scored(config=config, scenario=scenario, expected=expected_from(cost, makespan_h, hit, len(results), s.seed),
                  cost_usd=cost, makespan_h=makespan_h, elapsed_s=elapsed, cut_runs=cut)


def per_run_arrays(results: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(cost USD, makespan h, deadline met or None) per run of ``results`` (RunResult), in run order."""
    cost = np.array([r.cost_usd for r in results], dtype=float)
    makespan_h = np.array([r.makespan_s for r in results], dtype=float) / 3600.0
    met = [r.deadline_met for r in results]
    return cost, makespan_h, (None if any(m is None for m in met) else np.array(met, dtype=bool))
