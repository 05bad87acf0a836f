"""Node count as a decision: the counts searched, the pools at each count, and the objective that picks one.

Counts searched: the memory minimum of every fitting type (``sizing.nodes_to_fit``) and the powers of two above
the smallest of them, up to ``--max-nodes`` (default and limit ``sizing.MAX_NODES``) and to the data-parallel
width the global batch allows (``sizing.max_data_parallel_gpus``); ``--nodes N`` searches N alone. Only 8-GPU
types go past one node (``candidates.MULTI_NODE_MIN_GPUS``). Throughput at N nodes is
``sizing.scaled_tokens_per_s`` from the type's memory minimum, ``dp_efficiency`` kept per doubling.

A spot pool whose closed-form expected wall time (Daly's model at the gang's MTBF, ``ladder.score_pool``) is more
than ``HOPELESS_WALL_FACTOR`` x its compute time is left out at that count: such a gang is almost never all up
(128 p5 nodes at 9 h MTBF each: the gang's MTBF is 4 min against a 9-min restart), and simulating it would cost
millions of events for a run that cannot finish.

Objective: with ``--deadline``, the cheapest count whose plan meets it in >= 95% of replays; with ``--p95-max``,
the cheapest within it; with neither, the cheapest count whose P95 makespan is within ``MAKESPAN_CAP_H``
(30 days), or the fastest count when none is: minimising cost alone would plan 70B on 2 nodes for three years.
The frontier shows what the other counts cost and take. Times are hours where named ``_h``, else seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from spotplan.advisor.candidates import MULTI_NODE_MIN_GPUS, PoolOption
from spotplan.advisor.ladder import JobTimes, score_pool
from spotplan.advisor.sizing import JobSizing, max_data_parallel_gpus, scaled_tokens_per_s
from spotplan.errors import ConfigError
from spotplan.schemas.plan import Market

HOPELESS_WALL_FACTOR = 10.0  # a spot gang expected to take 10x its compute time is left out at that count
MAKESPAN_CAP_H = 720.0  # without --deadline/--p95-max: the P95 makespan a node count must stay within (30 days)
MAKESPAN_CAP_SOURCE = (
    "spotplan default without --deadline or --p95-max: the cheapest node count whose P95 makespan is within 720 h "
    "(30 days), and within 2x the on-demand makespan at that count (else waiting unbilled for one pool's capacity "
    "always looks cheapest)"
)


def node_counts(pools: list[PoolOption], job: JobSizing, *, max_nodes: int, fixed: int | None) -> list[int]:
    """The node counts searched (ascending); ``pools`` are at their memory minimum."""
    wide = [p for p in pools if p.gpus_per_node >= MULTI_NODE_MIN_GPUS]
    minima = sorted({p.nodes for p in pools})
    if fixed is not None:
        _check_fixed(fixed, pools, job)
        return [fixed]
    cap_gpus = max_data_parallel_gpus(job)
    counts = {n for n in minima if n <= max_nodes}
    if wide:
        gpus = min(p.gpus_per_node for p in wide)  # a count is searched when one type can still use its GPUs
        n = 1 << max(0, math.ceil(math.log2(min(p.nodes for p in wide))))
        while n <= max_nodes and n * gpus <= cap_gpus:
            counts.add(n)
            n *= 2
    return sorted(c for c in counts if c >= minima[0])


def _check_fixed(nodes: int, pools: list[PoolOption], job: JobSizing) -> None:
    """``--nodes N`` must hold the job on some fitting type, within the batch's data-parallel width."""
    holds = [p for p in pools if p.nodes == nodes or (p.nodes < nodes and p.gpus_per_node >= MULTI_NODE_MIN_GPUS)]
    if not holds:
        fewest = min(pools, key=lambda p: (p.nodes, p.key))
        wide = [p for p in pools if p.gpus_per_node >= MULTI_NODE_MIN_GPUS]
        hint = (f"use --nodes {fewest.nodes} or more" if nodes < fewest.nodes
                else f"only 8-GPU types span nodes and none fits here; use --nodes {fewest.nodes}" if not wide
                else f"use --nodes {min(p.nodes for p in wide)} or more")
        raise ConfigError(f"--nodes {nodes} cannot hold a {job.shape.label} {job.mode.value} job "
                          f"({job.state_bytes / 1e9:,.0f} GB of training state): the fewest that do are "
                          f"{fewest.nodes} x {fewest.instance_type}; {hint}")
    cap = max_data_parallel_gpus(job)
    if all(p.nodes < nodes and nodes * p.gpus_per_node > cap for p in holds):
        most = max(cap // p.gpus_per_node for p in holds)
        raise ConfigError(f"--nodes {nodes}: {nodes * holds[0].gpus_per_node:,} GPUs exceed the {cap:,} sequences of "
                          f"one {job.global_batch_tokens:,}-token global batch (at least one per GPU); use --nodes "
                          f"{most} or fewer")


def pools_at(pools: list[PoolOption], nodes: int, times: JobTimes, dp_efficiency: float,
             max_gpus: int | None = None) -> list[PoolOption]:
    """The pools that can run a gang of ``nodes`` (scaled from their memory minimum, within ``max_gpus`` GPUs of
    data parallelism), hopeless spot gangs left out. A pool replaying an availability trace (``recommend
    --traces``) keeps its own node count: the trace counts instances, and may never reach a larger gang."""
    out = []
    for p in pools:
        if p.nodes == nodes:
            q = p
        elif p.nodes < nodes and p.gpus_per_node >= MULTI_NODE_MIN_GPUS and p.availability != "trace" and (
                max_gpus is None or nodes * p.gpus_per_node <= max_gpus):  # a trace may never reach ``nodes``
            q = replace(p, nodes=nodes, tokens_per_s=scaled_tokens_per_s(p.tokens_per_s, p.nodes, nodes, dp_efficiency))
        else:
            continue
        if q.market is Market.SPOT and hopeless(q, times):
            continue
        out.append(q)
    return out


def hopeless(pool: PoolOption, times: JobTimes) -> bool:
    """A spot gang whose closed-form expected wall time is over ``HOPELESS_WALL_FACTOR`` x its compute time."""
    wall_s = score_pool(pool, times).wall_s
    return not math.isfinite(wall_s) or wall_s > HOPELESS_WALL_FACTOR * times.work_s(pool)


def implied_bound_h(on_demand_h: float | None) -> float | None:
    """The P95 makespan bound without --deadline/--p95-max at a count whose on-demand run takes ``on_demand_h``:
    2x that (``optimize.PATIENCE``), capped at ``MAKESPAN_CAP_H`` when the on-demand run itself is within it."""
    from spotplan.advisor.optimize import PATIENCE

    if on_demand_h is None:
        return None
    return min(PATIENCE * on_demand_h, MAKESPAN_CAP_H) if on_demand_h <= MAKESPAN_CAP_H else PATIENCE * on_demand_h


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """What a node count's plan must meet: the deadline, else a P95 makespan bound (the user's or implied)."""

    deadline_h: float | None
    p95_bound_h: float | None

    @property
    def horizon_h(self) -> float | None:
        """Where simulated runs are cut (``optimize.HORIZON_FACTOR`` x the larger limit)."""
        from spotplan.advisor.optimize import HORIZON_FACTOR

        limits = [x for x in (self.deadline_h, self.p95_bound_h) if x is not None]
        return HORIZON_FACTOR * max(limits) if limits else None
