"""The SimPy model of one training run on a fallback ladder of spot and on-demand pools.

Simulation time is float seconds from the job's start. The core is cut by concept:

- the market (``spotplan.simulator.pools``): each pool's up periods, price block and notices, read lazily;
- the job (``spotplan.simulator.job``): one SimPy process that sleeps from one course-changing instant to the next;
  between them its training on an instance is closed form (``spotplan.simulator.schedule``), and planned stops and
  notice reactions are pure functions (``spotplan.simulator.reaction``);
- the ledger (``spotplan.simulator.ledger``): activities, lost work, bills and the ``RunResult``;
- the fast-forward (``spotplan.simulator.skip``): in the middle of a long run with no deadline policy, flat prices
  and renewal capacity, the job's decisions and lifetimes walked without SimPy events (the same results).

The rules: a notice reaches the job ``detection_lag_s`` after it is issued; the job then runs to the next step
boundary and tries an emergency save, which counts only if its snapshot *and* persist end by termination.
Regular saves stall training for ``save_blocking_s``; the background persist must finish before the checkpoint
becomes the recovery point, and at most one save is in flight. Work after the recovery point is lost at
termination. Anything that ends at the same instant as a termination (a save, a persist, the job) has happened.
Each instance lifetime is billed by ``spotplan.simulator.billing``. The cost of a run grows with the number of
market events it meets, not with the number of checkpoints. A run that cannot finish by the horizon
(``max_sim_s``) even at the best rung's speed from where it stands is cut at once: it would be cut at the horizon
anyway, so its makespan is reported as the horizon and its cost (spent so far) is a lower bound.
"""

from __future__ import annotations

import numpy as np
import simpy

from spotplan.simulator.compile import CompiledScenario
from spotplan.simulator.gang import make_clock, uses_counts
from spotplan.simulator.gang_job import ElasticJob
from spotplan.simulator.job import Job
from spotplan.simulator.ledger import Ledger
from spotplan.simulator.result import RunResult
from spotplan.simulator.skip import FastForward
from spotplan.simulator.skip import eligible as skip_eligible


def draw_offset_s(cs: CompiledScenario, rng: np.random.Generator) -> float:
    """The run's replay start offset: fixed, or uniform over the shortest replayed span (0 if none)."""
    if cs.fixed_offset_s is not None:
        return cs.fixed_offset_s
    if cs.replay_span_s is None:
        return 0.0
    return float(rng.uniform(0.0, cs.replay_span_s))


def simulate_once(cs: CompiledScenario, rng: np.random.Generator, start_offset_s: float | None = None,
                  *, keep_timeline: bool = True, env: simpy.Environment | None = None,
                  fast_forward: bool = True) -> RunResult:
    """One SimPy run of the compiled scenario; the offset is drawn from ``rng`` when not given.

    ``env`` lets a benchmark pass a fresh environment it inspects afterwards; by default a new one is made.
    ``fast_forward`` walks the middle of a long run without events where the scenario allows it
    (``spotplan.simulator.skip``; never with a timeline); False runs every decision through SimPy.
    """
    offset = draw_offset_s(cs, rng) if start_offset_s is None else start_offset_s
    env = simpy.Environment() if env is None else env
    clocks = [make_clock(p, child, offset, cs.wrap, cs.max_sim_s)
              for p, child in zip(cs.pools, rng.spawn(len(cs.pools)), strict=True)]
    ledger = Ledger(cs=cs, keep=keep_timeline)
    if any(uses_counts(p) for p in cs.pools):  # gangs read by their count (spotplan.simulator.gang_job)
        job: Job = ElasticJob(env, cs, clocks, ledger)
    else:
        ff = FastForward(cs) if fast_forward and not keep_timeline and skip_eligible(cs) else None
        job = Job(env, cs, clocks, ledger, ff)
    env.run(until=job.proc | env.timeout(cs.max_sim_s))
    job.settle_at_horizon()
    finished = job.end_s is not None
    makespan = job.end_s if job.end_s is not None else cs.max_sim_s  # a cut run counts as reaching the horizon
    return ledger.result(finished=finished, makespan_s=makespan, offset_s=offset)
