"""Benchmark: the SimPy model's event rate against a bare SimPy timeout loop, and runs/s for a 100 h job.

Baselines measured in the same process, same run: (a) one SimPy process yielding ``env.timeout(1)`` in a loop
(the ceiling for any SimPy model), and (b) stack.md's minimal interrupted-trajectory model (train + Poisson
reclaim process). Measured: ``simulate_once`` on a 100 h job (exponential interruptions, M = 24.5 h per instance
as in Can't Be Late's two-exponential generator, 60 s blocking save + 120 s persist, 2-minute notice with
emergency saves, two spot zones and an on-demand last rung, Daly's interval), single process, best of 3;
then ``run_monte_carlo`` with 1 worker and with all cores (wall clock). The single-process rates use CPU time
(``time.process_time``) so a machine shared with other jobs skews them less; the Monte Carlo columns are wall
clock and suffer from such sharing. Events are counted from SimPy's own event-id counter (no hooks in
the timed path). Prints a Markdown table row; ``--append`` adds it to BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_simulator.py [--runs 300] [--append]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import time
from pathlib import Path

import simpy
from report import add_row  # benchmarks/report.py (scripts run from benchmarks/)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spotplan.schemas import Scenario
from spotplan.simulator.compile import compile_scenario
from spotplan.simulator.model import simulate_once
from spotplan.simulator.montecarlo import run_monte_carlo, run_rng

SCENARIO = {
    "name": "bench-100h",
    "job": {"work_h": 100},
    "checkpoint": {"save_blocking_s": 60, "persist_background_s": 120, "restore_s": 300,
                   "interval": {"policy": "daly"}},
    "notice": {"notice_s": 120, "emergency_save": True, "detection_lag_s": 5},
    "changeover": {"provisioning_s": 240, "setup_s": 300},
    "pools": [
        {"instance_type": "p3.2xlarge", "region": "us-west-2", "zone": "us-west-2a",
         "price": {"kind": "fixed", "usd_per_h": 0.9731},
         "availability": {"kind": "exponential", "mtbf_h": 24.49, "downtime_h": 6.41}},
        {"instance_type": "p3.2xlarge", "region": "us-west-2", "zone": "us-west-2b",
         "price": {"kind": "fixed", "usd_per_h": 0.9731},
         "availability": {"kind": "exponential", "mtbf_h": 24.49, "downtime_h": 6.41}},
        {"instance_type": "p3.2xlarge", "region": "us-west-2", "market": "on-demand",
         "price": {"kind": "fixed", "usd_per_h": 3.06}},
    ],
}


def bare_timeout_rate(n: int = 300_000) -> float:
    """Events per second of one process yielding ``env.timeout(1)`` n times (best of 3)."""
    best = 0.0
    for _ in range(3):
        env = simpy.Environment()

        def ticker(env: simpy.Environment) -> object:
            for _ in range(n):
                yield env.timeout(1)

        env.process(ticker(env))
        t0 = time.process_time()
        env.run()
        events = next(env._eid)  # every scheduled event, as counted below for the model
        best = max(best, events / (time.process_time() - t0))
    return best


def trajectory_rate(runs: int = 2000) -> float:
    """Events per second of stack.md's minimal train + reclaim model (W 100 h, τ 1 h, C 0.05 h, R 0.1 h)."""
    w, tau, c, r, lam = 100.0, 1.0, 0.05, 0.1, 0.1
    rnd = random.Random(1)
    events, t0 = 0, time.process_time()
    for _ in range(runs):
        env = simpy.Environment()

        def train(env: simpy.Environment) -> object:
            done = 0.0
            while done < w - 1e-12:
                seg = min(tau, w - done)
                try:
                    yield env.timeout(seg + c)
                    done += seg
                except simpy.Interrupt:
                    while True:
                        try:
                            yield env.timeout(r)
                            break
                        except simpy.Interrupt:
                            pass

        def reclaim(env: simpy.Environment, proc: simpy.Process) -> object:
            while True:
                yield env.timeout(rnd.expovariate(lam))
                if not proc.is_alive:
                    return
                proc.interrupt("spot reclaim")

        p = env.process(train(env))
        env.process(reclaim(env, p))
        env.run(until=p)
        events += next(env._eid)
    return events / (time.process_time() - t0)


def model_rate(runs: int) -> tuple[float, float, float]:
    """(events/s, runs/s, events per run) of simulate_once on the 100 h scenario, single process, best of 3."""
    cs = compile_scenario(Scenario.from_dict(SCENARIO))
    best = (0.0, 0.0, 0.0)
    for _ in range(3):
        events, t0 = 0, time.process_time()
        for i in range(runs):
            env = simpy.Environment()
            simulate_once(cs, run_rng(7, i), keep_timeline=False, env=env)
            events += next(env._eid)
        el = time.process_time() - t0
        if runs / el > best[1]:
            best = (events / el, runs / el, events / runs)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--append", action="store_true", help="append the row to BENCHMARKS.md")
    args = ap.parse_args()
    bare = bare_timeout_rate()
    traj = trajectory_rate()
    ev_rate, runs_s, ev_run = model_rate(args.runs)
    t0 = time.perf_counter()
    mc1 = run_monte_carlo(Scenario.from_dict(SCENARIO), 4 * args.runs, seed=7, workers=1, progress=False)
    mc1_runs_s = mc1.runs / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    mc = run_monte_carlo(Scenario.from_dict(SCENARIO), 4 * args.runs, seed=7, progress=False)
    mc_runs_s = mc.runs / (time.perf_counter() - t0)
    assert mc.summary() == mc1.summary()  # worker-count independence, checked on every benchmark run
    load = os.getloadavg()[0]
    row = (f"| {dt.date.today()} | {platform.node() or 'vm'} ({os.cpu_count()} CPU, py {platform.python_version()}, "
           f"load {load:.1f}) | {bare / 1e6:.2f} M ev/s | {traj / 1e6:.2f} M ev/s (x{traj / bare:.2f}) | "
           f"{ev_rate / 1e6:.3f} M ev/s (x{ev_rate / bare:.3f}) | {ev_run:.0f} | {runs_s:.0f} | "
           f"{mc1_runs_s:.0f} / {mc_runs_s:.0f} ({mc.workers} workers, x{mc_runs_s / mc1_runs_s:.2f}) | "
           f"mean {mc.makespan_h.mean():.1f} h, ${mc.cost_usd.mean():.1f} |")
    print(row)
    if args.append:
        add_row("## Simulator:", row)


if __name__ == "__main__":
    main()
