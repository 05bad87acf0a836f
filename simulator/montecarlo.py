"""Monte Carlo over the SimPy model: N runs, all cores, identical results for any worker count.

Run ``i`` uses the generator of ``numpy.random.SeedSequence(seed).spawn(runs)[i]`` (built directly as
``SeedSequence(seed, spawn_key=(i,))``), draws its replay start offset uniformly over the shortest replayed span
(policy at the history's end: the scenario's ``replay.end_policy``, wrap by default), and is simulated alone, so
a run's result depends only on (scenario, seed, i). Workers are forked processes; results are put back in run
order. Summaries give mean, std, P50/P90/P95/P99 and confidence intervals (normal for the mean, distribution-free
order statistics for the percentiles). Units: makespan in hours, cost in USD.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spotplan.schemas.plan import Distribution
from spotplan.schemas.scenario import Scenario
from spotplan.simulator.compile import CompiledScenario, compile_scenario, load_scenario
from spotplan.simulator.model import simulate_once
from spotplan.simulator.result import CostBucket, RunResult
from spotplan.stats import Z95, Z99

if TYPE_CHECKING:
    import pandas as pd

PERCENTILES = (50, 90, 95, 99)


def run_rng(seed: int, i: int) -> np.random.Generator:
    """Generator of run ``i``: the i-th child of ``SeedSequence(seed)``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i,)))


def _simulate_range(cs: CompiledScenario, seed: int, start: int, stop: int, keep: int) -> list[RunResult]:
    return [simulate_once(cs, run_rng(seed, i), keep_timeline=i < keep) for i in range(start, stop)]


_WORKER_CS: CompiledScenario | None = None


def _init_worker(cs: CompiledScenario) -> None:
    global _WORKER_CS
    _WORKER_CS = cs


def _worker(args: tuple[int, int, int, int]) -> tuple[int, list[RunResult]]:
    seed, start, stop, keep = args
    assert _WORKER_CS is not None
    return start, _simulate_range(_WORKER_CS, seed, start, stop, keep)


def describe(values: np.ndarray) -> dict[str, Any]:
    """mean, std, p50/p90/p95/p99, ci95 and ci99 of the mean, and ci95 of each percentile."""
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else 0.0
    sem = std / math.sqrt(n) if n > 0 else 0.0
    out: dict[str, Any] = {"mean": mean, "std": std}
    for q in PERCENTILES:
        out[f"p{q}"] = float(np.percentile(x, q))
    out["ci95"] = [mean - Z95 * sem, mean + Z95 * sem]
    out["ci99"] = [mean - Z99 * sem, mean + Z99 * sem]
    for q in PERCENTILES:  # binomial order-statistic interval for the q-th percentile
        p = q / 100.0
        half = Z95 * math.sqrt(n * p * (1 - p))
        lo, hi = max(0, math.floor(n * p - half) - 1), min(n - 1, math.ceil(n * p + half))
        out[f"p{q}_ci95"] = [float(x[lo]), float(x[hi])]
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class MonteCarloResult:
    """All runs of one Monte Carlo, in run order."""

    scenario: CompiledScenario = field(repr=False)
    seed: int
    workers: int
    results: tuple[RunResult, ...] = field(repr=False)
    elapsed_s: float

    @property
    def runs(self) -> int:
        """Number of runs."""
        return len(self.results)

    @property
    def makespan_h(self) -> np.ndarray:
        """Per-run makespan in hours."""
        return np.array([r.makespan_s for r in self.results]) / 3600.0

    @property
    def cost_usd(self) -> np.ndarray:
        """Per-run cost in USD."""
        return np.array([r.cost_usd for r in self.results])

    def frame(self) -> pd.DataFrame:
        """One row per run: makespan, cost, counts, deadline, cost and time by activity bucket."""
        import pandas as pd  # only the dashboard and exports need tables: kept off the recommend path

        rows = []
        for i, r in enumerate(self.results):
            row: dict[str, Any] = {
                "run": i, "start_offset_h": r.start_offset_s / 3600.0, "finished": r.finished,
                "makespan_h": r.makespan_h, "cost_usd": r.cost_usd, "interruptions": r.interruptions,
                "checkpoints": r.checkpoints, "emergency_saves": r.emergency_saves,
                "emergency_save_failures": r.emergency_save_failures, "restarts": r.restarts,
                "failed_launches": r.failed_launches, "lost_work_h": r.lost_work_s / 3600.0,
                "deadline_met": r.deadline_met,
            }
            row.update({f"cost_{k}_usd": v for k, v in r.cost_by_bucket_usd.items()})
            row.update({f"time_{k}_h": v / 3600.0 for k, v in r.time_by_bucket_s.items()})
            row.update({f"cost_pool[{k}]_usd": v for k, v in r.cost_by_pool_usd.items()})
            rows.append(row)
        return pd.DataFrame(rows)

    def distribution(self, quantity: str) -> Distribution:
        """``cost_usd`` or ``makespan_h`` as the Plan schema's Distribution."""
        d = describe(self.cost_usd if quantity == "cost_usd" else self.makespan_h)
        return Distribution(mean=d["mean"], std=d["std"], p50=d["p50"], p90=d["p90"], p95=d["p95"], p99=d["p99"],
                            ci95=(d["ci95"][0], d["ci95"][1]))

    def summary(self) -> dict[str, Any]:
        """The ``--json`` document: runs, seed, cost_usd and makespan_h distributions, rates and breakdowns."""
        res = self.results
        n = len(res)
        met = [r.deadline_met for r in res if r.deadline_met is not None]
        pools = list(res[0].cost_by_pool_usd) if res else []
        mean = (lambda f: float(np.mean([f(r) for r in res])))
        return {
            "scenario": self.scenario.name, "runs": n, "seed": self.seed,
            "cost_usd": describe(self.cost_usd), "makespan_h": describe(self.makespan_h),
            "deadline_hit_rate": (sum(met) / len(met)) if met else None,
            "finished_rate": sum(r.finished for r in res) / n,
            "interval_s": self.scenario.interval_s, "interval_source": self.scenario.interval_source,
            "mean_counts": {
                "interruptions": mean(lambda r: r.interruptions), "checkpoints": mean(lambda r: r.checkpoints),
                "emergency_saves": mean(lambda r: r.emergency_saves),
                "emergency_save_failures": mean(lambda r: r.emergency_save_failures),
                "restarts": mean(lambda r: r.restarts), "failed_launches": mean(lambda r: r.failed_launches),
            },
            "mean_lost_work_h": mean(lambda r: r.lost_work_s) / 3600.0,
            "mean_cost_by_activity_usd": {b.value: mean(lambda r, b=b: r.cost_by_bucket_usd[b.value])
                                          for b in CostBucket},
            "mean_time_by_activity_h": {b.value: mean(lambda r, b=b: r.time_by_bucket_s[b.value]) / 3600.0
                                        for b in CostBucket},
            "mean_cost_by_pool_usd": {p: mean(lambda r, p=p: r.cost_by_pool_usd[p]) for p in pools},
            "replay_end_policy": "wrap" if self.scenario.wrap else "clamp",
            # keep-last-K persisted checkpoints plus the one being written
            "checkpoint_storage_peak_bytes": (self.scenario.keep_last + 1) * self.scenario.checkpoint_bytes,
        }


def _compile(scenario: Scenario | CompiledScenario | str | Path) -> CompiledScenario:
    if isinstance(scenario, CompiledScenario):
        return scenario
    if isinstance(scenario, Scenario):
        return compile_scenario(scenario)
    return load_scenario(scenario)


def _chunks(first: int, runs: int, workers: int, keep: int, seed: int) -> list[tuple[int, int, int, int]]:
    size = max(1, min(200, (runs - first) // (workers * 8) or 1))
    return [(seed, a, min(a + size, runs), keep) for a in range(first, runs, size)]


def run_monte_carlo(
    scenario: Scenario | CompiledScenario | str | Path, runs: int, seed: int = 0, workers: int | None = None,
    progress: bool = True, *, keep_timelines: int = 20,
) -> MonteCarloResult:
    """Simulate ``runs`` runs; ``workers`` processes (default: all cores); a rich bar when it takes > ~1 s.

    Only the first ``keep_timelines`` runs keep their timeline (memory); every run keeps its numbers.
    """
    if runs < 1:
        raise ValueError(f"runs={runs}: expected >= 1")
    cs = _compile(scenario)
    workers = max(1, min(workers or os.cpu_count() or 1, runs))
    t0 = time.perf_counter()
    first = _simulate_range(cs, seed, 0, 1, keep_timelines)  # also times one run
    per_run_s = time.perf_counter() - t0
    results: list[RunResult] = list(first)
    expected_s = per_run_s * (runs - 1) / workers
    chunks = _chunks(1, runs, workers, keep_timelines, seed)
    # Workers are started before the progress bar's refresh thread exists (forking a threaded parent is unsafe).
    pool = None if workers == 1 or runs < 2 else _context().Pool(workers, initializer=_init_worker, initargs=(cs,))
    try:
        with _progress(progress and expected_s > 1.0, runs) as prog:
            task = prog.add_task(f"simulating {cs.name}", total=runs, completed=1) if prog else None
            if pool is None:
                for c in chunks:
                    results.extend(_simulate_range(cs, *c))
                    if prog is not None:
                        prog.update(task, advance=c[2] - c[1])
            else:
                parts: dict[int, list[RunResult]] = {}
                for start, part in pool.imap_unordered(_worker, chunks):
                    parts[start] = part
                    if prog is not None:
                        prog.update(task, advance=len(part))
                for start in sorted(parts):
                    results.extend(parts[start])
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return MonteCarloResult(scenario=cs, seed=seed, workers=workers, results=tuple(results),
                            elapsed_s=time.perf_counter() - t0)


def _context() -> mp.context.BaseContext:
    """Fork where the platform has it (no re-import in workers); spawn elsewhere (the scenario is picklable)."""
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


class _NoBar:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(show: bool, runs: int) -> Any:
    if not show:
        return _NoBar()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    transient=True)
