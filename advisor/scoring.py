"""Turn a candidate configuration into a simulator Scenario and score it with the SimPy Monte Carlo.

Every configuration is run with the same seed and run count, so all of them see the same replay start
offsets and random streams (common random numbers): differences between them are the configuration's,
not the dice's. Costs are USD, makespans hours, times seconds.

Every run simulates the whole job: the core's cost grows with the market events a run meets, not with its
checkpoints, so a 500-hour job with thousands of saves costs what its few dozen interruptions cost.

Runs are cut at ``horizon_h`` (1.5x the deadline or P95 bound) so that a hopeless configuration, e.g. an 8-node
spot gang that is almost never all up, does not simulate for months; a configuration with any cut run is
reported as non-compliant, and its cost is a lower bound.

Runs are shared out to worker processes (``score_many``; ``SPOTPLAN_WORKERS``, default the usable CPUs): every
figure depends only on the configuration and the settings, never on the number of workers.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Self

import numpy as np

from spotplan.advisor.breakdown import Breakdown, RunSplit, mean_breakdown
from spotplan.advisor.candidates import PoolOption
from spotplan.advisor.ladder import PROVISION_S, SETUP_S, JobTimes
from spotplan.errors import ConfigError
from spotplan.schemas.plan import Distribution, Expected, Market
from spotplan.stats import mean_ci_half_width

HOPELESS_CUT_SHARE = 0.05  # more runs than this cut at the horizon: P95 is past it, stop scoring
WORKERS_ENV = "SPOTPLAN_WORKERS"  # worker processes for scoring (default: the CPUs this process may use)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """One candidate: a ladder, a checkpoint interval, a recovery strategy and a deadline policy."""

    name: str
    ladder: tuple[PoolOption, ...]
    interval_s: float
    recovery: str
    deadline_policy: str
    description: str = ""
    gang: str = "wait"  # "elastic": continue at reduced width down to ``min_nodes`` (spotplan.simulator.gang)
    min_nodes: int | None = None  # elastic only: the narrowest width (at least the nodes that hold the job)
    dp_efficiency: float = 1.0  # elastic only: speed kept per doubling of the width


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
    workers: int | None = None  # scoring processes (None: ``worker_count()``); never changes a figure


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
    breakdown: Breakdown | None = None  # mean cost and time by activity bucket over the same runs

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
    if p.availability == "trace":  # recommend --traces: the pool replays its own trace file
        spec["availability"] = {"kind": AvailabilityKind.TRACE.value, "path": p.trace_path}
    elif p.availability == "exponential":
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
        "job": {"work_h": s.times.work_s(ref) / 3600.0, "nodes": ref.nodes, "step_time_s": s.step_time_ref_s / factor,
                **({"gang": "elastic", "min_nodes": config.min_nodes, "dp_efficiency_per_doubling": config.dp_efficiency}
                   if config.gang == "elastic" else {})},
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


def worker_count() -> int:
    """Worker processes for scoring: ``SPOTPLAN_WORKERS`` where set, else the CPUs this process may run on.

    The figures do not depend on it (see ``score_many``); only the wall time does.
    """
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            raise ConfigError(f"{WORKERS_ENV}={raw!r}: expected a whole number of worker processes >= 1") from None
        if n < 1:
            raise ConfigError(f"{WORKERS_ENV}={raw!r}: expected a whole number of worker processes >= 1")
        return n
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        return os.cpu_count() or 1


def _compiled(config: Config, s: SimSettings) -> tuple[Any, Any]:
    """(Scenario, CompiledScenario cut at the horizon) of ``config``."""
    from spotplan.simulator.compile import compile_scenario

    scenario = to_scenario(config, s)
    compiled = compile_scenario(scenario, source=f"advisor candidate '{config.name}'")
    if s.horizon_h is not None:  # hopeless runs (a gang that never stays up) would otherwise run for months
        compiled = replace(compiled, max_sim_s=min(compiled.max_sim_s, s.horizon_h * 3600.0))
    return scenario, compiled


_Row = tuple[float, float, "bool | None", bool, RunSplit]  # cost USD, makespan s, deadline met, finished, split


def _simulate_rows(compiled: Any, seed: int, start: int, stop: int) -> list[_Row]:
    """Runs ``start``..``stop - 1`` of ``compiled``: what scoring keeps of each (a run's own generator)."""
    from spotplan.simulator.model import simulate_once
    from spotplan.simulator.montecarlo import run_rng

    out = []
    for i in range(start, stop):
        r = simulate_once(compiled, run_rng(seed, i), keep_timeline=False)
        out.append((r.cost_usd, r.makespan_s, r.deadline_met, r.finished, RunSplit.of(r)))
    return out


def hopeless_at(cut: Sequence[bool], runs: int, *, first_cut: bool = False) -> int | None:
    """The run index after which scoring stops, or None: run order only. The stop is where more than 5% of
    ``runs`` were cut so far, or, with ``first_cut`` (baselines), at the first cut run."""
    k = 1 if first_cut else _cuts_to_stop(runs)
    n = 0
    for i, c in enumerate(cut):
        n += c
        if n >= k:
            return i
    return None


@dataclass(slots=True)
class _Pending:
    """One configuration being scored: its runs known so far and the first run index it does not need."""

    config: Config
    scenario: Any
    compiled: Any
    runs: int
    first_cut: bool = False  # stop at the first cut run (a baseline), not past 5% of the runs
    rows: dict[int, _Row] = field(default_factory=dict)
    need: int = 0  # runs [0, need) are needed: all, until enough cut runs show where scoring stops
    elapsed_s: float = 0.0

    def __post_init__(self) -> None:
        self.need = self.runs

    def add(self, start: int, rows: list[_Row], elapsed_s: float) -> None:
        for j, row in enumerate(rows):
            self.rows[start + j] = row
        self.elapsed_s += elapsed_s
        # Where the k-th cut run is known, the stop is there or earlier: later runs are not needed.
        cut = sorted(i for i, r in self.rows.items() if not r[3])
        k = 1 if self.first_cut else _cuts_to_stop(self.runs)
        if len(cut) >= k:
            self.need = min(self.need, cut[k - 1] + 1)

    def scored(self, s: SimSettings) -> Scored:
        rows = [self.rows[i] for i in range(self.need)]
        stop = hopeless_at([not r[3] for r in rows], self.runs, first_cut=self.first_cut)
        rows = rows if stop is None else rows[:stop + 1]
        return _scored(self.config, self.scenario, rows, s, self.elapsed_s)


def _cuts_to_stop(runs: int) -> int:
    """The number of cut runs that stops scoring (the first count above 5% of the runs)."""
    k = 1
    while not k > HOPELESS_CUT_SHARE * runs:
        k += 1
    return k


def _scored(config: Config, scenario: Any, rows: list[_Row], s: SimSettings, elapsed_s: float) -> Scored:
    cost = np.array([r[0] for r in rows], dtype=float)
    makespan_h = np.array([r[1] for r in rows], dtype=float) / 3600.0
    met_list = [r[2] for r in rows]
    met = None if any(m is None for m in met_list) else np.array(met_list, dtype=bool)
    hit = None if s.deadline_h is None else float(np.mean(makespan_h <= s.deadline_h + 1e-9))
    if met is not None and s.deadline_h is not None and config.deadline_policy != "none":
        hit = float(np.mean(met))
    cut = sum(not r[3] for r in rows)
    return Scored(config=config, scenario=scenario, expected=expected_from(cost, makespan_h, hit, len(rows), s.seed),
                  cost_usd=cost, makespan_h=makespan_h, elapsed_s=elapsed_s, cut_runs=cut,
                  breakdown=mean_breakdown([r[4] for r in rows]))


class ScoreCache:
    """Scored configurations of one request, so the node scan's and the search's common ones are simulated once.

    A hit needs the same configuration, the same settings (horizon, notice, runs, seed...) and the same stopping
    rule: the figures are then those scoring it again would give (they depend on nothing else).
    """

    def __init__(self) -> None:
        self._done: list[tuple[Config, SimSettings, bool, Scored]] = []

    def get(self, config: Config, s: SimSettings, first_cut: bool) -> Scored | None:
        """The earlier figures of (``config``, ``s``, ``first_cut``), or None."""
        return next((r for c, st, f, r in self._done if f == first_cut and c == config and st == s), None)

    def score_many(self, configs: Sequence[Config], s: SimSettings, *, workers: int | None = None,
                   pool: ScoringPool | None = None, first_cut: Sequence[bool] = ()) -> list[Scored]:
        """``score_many``, simulating only what was not scored before."""
        flags = list(first_cut) + [False] * (len(configs) - len(first_cut))
        known = [self.get(c, s, f) for c, f in zip(configs, flags, strict=True)]
        todo = [i for i, k in enumerate(known) if k is None]
        fresh = score_many([configs[i] for i in todo], s, workers=workers, pool=pool,
                           first_cut=[flags[i] for i in todo])
        for i, r in zip(todo, fresh, strict=True):
            known[i] = r
            self._done.append((configs[i], s, flags[i], r))
        return [k for k in known if k is not None]


def score(config: Config, s: SimSettings) -> Scored:
    """Run the SimPy Monte Carlo for ``config`` in this process (see ``score_many`` for the rules)."""
    return score_many([config], s, workers=1)[0]


def score_many(configs: Sequence[Config], s: SimSettings, *, workers: int | None = None,
               pool: ScoringPool | None = None, first_cut: Sequence[bool] = ()) -> list[Scored]:
    """Score every configuration of ``configs`` (independent of each other), on ``workers`` processes.

    Runs go in run order and a configuration stops once more than 5% of all the runs were cut at the horizon: its
    P95 makespan is then past the horizon whatever the other runs do, and simulating dozens more runs of a gang
    that never stays up (each months of simulated time) would only sharpen a lower bound. Its figures then come
    from the runs done (``Expected.runs`` says how many). A configuration flagged in ``first_cut`` (a baseline)
    stops at its first cut run: it misses the horizon whatever its other runs do, it is not a candidate for the
    plan, and its further runs (a hopeless 4-node gang's take ~80,000 launches each) would only refine a lower
    bound nobody compares against.

    The figures depend only on (configuration, settings): run ``i`` has its own generator (``run_rng(seed, i)``)
    and the stopping rule is applied to the run-ordered prefix once it is known, so any number of workers gives
    the figures of one. Runs of all the configurations are shared out as small tasks: each configuration's first
    runs (as many as the stopping rule needs) one by one, then the rest in chunks sized from their time; a task
    past a configuration's known stop is not started. ``pool``: the ``ScoringPool`` to use; without one, workers
    are started here when there is more than one.
    """
    n_workers = s.workers if workers is None else workers
    n_workers = worker_count() if n_workers is None else n_workers
    flags = list(first_cut) + [False] * (len(configs) - len(first_cut))
    jobs = [_Pending(c, *_compiled(c, s), s.runs, first) for c, first in zip(configs, flags, strict=True)]
    if not jobs:
        return []
    if pool is None and (n_workers <= 1 or not can_fork()):
        for job in jobs:  # in this process, in run order, stopping at once
            t0 = time.perf_counter()
            for i in range(job.runs):
                job.add(i, _simulate_rows(job.compiled, s.seed, i, i + 1), 0.0)
                if job.need <= i + 1:
                    break
            job.elapsed_s = time.perf_counter() - t0
        return [job.scored(s) for job in jobs]
    if pool is not None:
        return _schedule(jobs, s, pool)
    with ScoringPool(n_workers) as own:
        return _schedule(jobs, s, own)


_BATCHES = itertools.count()
TASK_TARGET_S = 0.03  # a chunk of runs is sized to take about this long (from the runs already timed)
MAX_CHUNK = 8


def _schedule(jobs: list[_Pending], s: SimSettings, sp: ScoringPool) -> list[Scored]:
    """Share the runs of ``jobs`` out to the workers of ``sp``; every needed run is simulated exactly once."""
    import pickle

    heads = [min(1 if job.first_cut else _cuts_to_stop(s.runs), job.runs) for job in jobs]
    head = [(k, i, i + 1) for k, job in enumerate(jobs) for i in range(heads[k])]
    next_run = list(heads)  # the first run of each job not yet handed out
    head_left = list(heads)  # head runs of each job not yet back
    batch = next(_BATCHES)
    blobs = [pickle.dumps(job.compiled, protocol=pickle.HIGHEST_PROTOCOL) for job in jobs]

    def next_task() -> tuple[int, int, int] | None:
        while head:
            k, a, b = head.pop(0)
            if a < jobs[k].need:
                return k, a, b
        for k, job in enumerate(jobs):  # after its head runs are back: chunks sized from their time
            a = next_run[k]
            if head_left[k] or a >= job.need:
                continue
            per_run = job.elapsed_s / max(1, len(job.rows))
            size = max(1, min(MAX_CHUNK, int(TASK_TARGET_S / per_run) if per_run > 0 else MAX_CHUNK))
            b = min(job.need, a + size)
            next_run[k] = b
            return k, a, b
        return None

    idle = list(range(sp.workers))
    busy: dict[int, int] = {}  # worker -> job
    while True:
        while idle:
            task = next_task()
            if task is None:
                break
            w = idle.pop()
            k, a, b = task
            sp.send(w, (batch, k), blobs[k], s.seed, a, b)
            busy[w] = k
        if not busy:
            break
        for w, (a, rows, elapsed) in sp.results(list(busy)):
            k = busy.pop(w)
            idle.append(w)
            if a < heads[k]:
                head_left[k] -= len(rows)
            jobs[k].add(a, rows, elapsed)
    return [job.scored(s) for job in jobs]


def can_fork() -> bool:
    """Worker processes can be forked here: a platform with fork, a non-daemon process with no other thread.

    Forking while another thread runs (a progress bar's refresh, a server) can copy a lock that thread holds
    (stdout's, logging's) into the child, which then blocks for ever on its first write: so a multi-threaded
    process scores on one process (the figures are the same; only slower).
    """
    import multiprocessing as mp
    import threading

    return ("fork" in mp.get_all_start_methods() and not mp.current_process().daemon
            and threading.current_thread() is threading.main_thread() and threading.active_count() == 1)


def scoring_pool(workers: int | None) -> ScoringPool | contextlib.nullcontext[None]:
    """A ``ScoringPool`` of ``workers`` (default ``worker_count()``) where forking is safe, else a null context."""
    n = workers if workers is not None else worker_count()
    return ScoringPool(n) if n > 1 and can_fork() else contextlib.nullcontext()


def _serve(conn: Any) -> None:
    """A worker's loop: tasks in, rows out, until the pipe closes or says stop (None)."""
    import traceback

    scenarios: dict[tuple[int, int], Any] = {}  # compiled scenarios by (batch, configuration), sent once
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        key, blob, seed, start, stop = msg
        try:
            if blob is not None:
                import pickle

                if len(scenarios) >= 64:
                    scenarios.clear()
                scenarios[key] = pickle.loads(blob)
            t0 = time.perf_counter()
            rows = _simulate_rows(scenarios[key], seed, start, stop)
            conn.send(("ok", start, rows, time.perf_counter() - t0))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class ScoringPool:
    """Forked worker processes shared by the ``score_many`` calls of one search (a context manager).

    Each worker has its own pipe: tasks go to a chosen idle worker, which keeps the compiled scenarios it was sent
    (the caches they fill on the first runs serve the later ones, as in one process). No locks are shared, so a
    worker that dies (killed, out of memory) shows as a closed pipe and fails the scoring instead of hanging it.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        self._sent: list[set[tuple[int, int]]] = []

    def __enter__(self) -> Self:
        import multiprocessing as mp

        import spotplan.simulator.model
        import spotplan.simulator.montecarlo  # noqa: F401 - imported once here, not in every worker

        ctx = mp.get_context("fork")
        try:
            for _ in range(self.workers):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="spotplan-scoring")
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
                self._sent.append(set())
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def pids(self) -> list[int]:
        """The workers' process ids."""
        return [p.pid for p in self._procs]

    def send(self, w: int, key: tuple[int, int], blob: bytes, seed: int, start: int, stop: int) -> None:
        """Give worker ``w`` runs ``start``..``stop - 1`` of configuration ``key`` (its scenario sent once)."""
        first = key not in self._sent[w]
        self._sent[w].add(key)
        try:
            self._conns[w].send((key, blob if first else None, seed, start, stop))
        except (BrokenPipeError, OSError):
            raise self._died(w) from None

    def results(self, busy: list[int]) -> list[tuple[int, tuple[int, list[_Row], float]]]:
        """Wait until at least one of the ``busy`` workers answers; (worker, (start, rows, seconds)) each."""
        from multiprocessing.connection import wait

        ready = wait([self._conns[w] for w in busy])
        out = []
        for w in busy:
            conn = self._conns[w]
            if conn not in ready:
                continue
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                raise self._died(w) from None
            if msg[0] == "error":
                raise RuntimeError(f"scoring worker failed: {msg[1]}")
            out.append((w, msg[1:]))
        return out

    def _died(self, w: int) -> RuntimeError:
        code = self._procs[w].exitcode
        return RuntimeError(f"a scoring worker process died (exit code {code}; killed, or out of memory?); "
                            "set SPOTPLAN_WORKERS=1 to score in this process")

    def __exit__(self, *exc: object) -> None:
        for conn in self._conns:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            conn.close()
        for proc in self._procs:
            proc.join(timeout=2.0)
            if proc.is_alive():  # still simulating (the search failed or timed out): stop it
                proc.kill()
                proc.join()
        self._conns, self._procs, self._sent = [], [], []


def per_run_arrays(results: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(cost USD, makespan h, deadline met or None) per run of ``results`` (RunResult), in run order."""
    cost = np.array([r.cost_usd for r in results], dtype=float)
    makespan_h = np.array([r.makespan_s for r in results], dtype=float) / 3600.0
    met = [r.deadline_met for r in results]
    return cost, makespan_h, (None if any(m is None for m in met) else np.array(met, dtype=bool))
