"""The offline optimum of one replay of a compiled scenario, and the regret of simulated runs against it.

Turns a ``CompiledScenario`` and a replay start offset into the ``OptimumProblem`` of
``spotplan.simulator.optimum``: every spot rung must replay an availability trace (all with one tick), on-demand
is always up, prices are the rung's replayed or flat price integrated exactly over each step, and the checkpoint
transfer time and egress are the scenario's (``CompiledScenario.egress_usd_per_gb``, ``migration_s``). Times are
seconds from the run's start, prices USD per hour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spotplan.errors import ConfigError
from spotplan.simulator.availability import AlwaysUp, TraceAvailability
from spotplan.simulator.billing import FlatPrice, ReplayedPrice
from spotplan.simulator.compile import CompiledPool, CompiledScenario
from spotplan.simulator.migration import BYTES_PER_GB
from spotplan.simulator.optimum import EDGE_STEPS, Optimum, OptimumPool, OptimumProblem, solve

TARGET_STEP_S = 60.0  # the programme's step: the trace tick split until a step is at most this long (and at most
# half of provisioning + setup, which the programme's lower-bound argument needs)


@dataclass(frozen=True, slots=True, kw_only=True)
class Regret:
    """Plan cost over the optimum on the same replays (runs that met the deadline only)."""

    optimum_usd: tuple[float, ...]  # per replay
    plan_usd: tuple[float, ...]
    met: tuple[bool, ...]

    @property
    def mean_ratio(self) -> float | None:
        """Mean of per-replay plan cost / optimum over the replays the plan met the deadline on."""
        r = [p / o for p, o, m in zip(self.plan_usd, self.optimum_usd, self.met, strict=True)
             if m and o > 0 and math.isfinite(o)]
        return float(np.mean(r)) if r else None

    @property
    def ratio_of_means(self) -> float | None:
        """Mean plan cost / mean optimum over the replays the plan met the deadline on."""
        pairs = [(p, o) for p, o, m in zip(self.plan_usd, self.optimum_usd, self.met, strict=True)
                 if m and math.isfinite(o)]
        if not pairs or sum(o for _, o in pairs) <= 0:
            return None
        return sum(p for p, _ in pairs) / sum(o for _, o in pairs)


def trace_tick_s(cs: CompiledScenario) -> float:
    """The one tick every spot rung's trace shares; ConfigError when a rung is not replayed, ticks differ, or a
    rung is an elastic gang (the programme runs a gang at its full width only; running narrower could cost less
    per unit of progress, so its figure would not bound an elastic run)."""
    ticks = set()
    for p in cs.pools:
        if p.elastic and p.min_nodes < p.nodes:
            raise ConfigError(f"{cs.name}: pool {p.label} is an elastic gang (job.gang: elastic); the offline "
                              "optimum models a gang at its full width only, so it is not measured")
        if isinstance(p.availability, TraceAvailability):
            ticks.add(p.availability.trace.gap_s)
        elif not isinstance(p.availability, AlwaysUp):
            raise ConfigError(f"{cs.name}: pool {p.label} has {p.availability_source} availability; the offline "
                              "optimum needs every spot rung replayed from a trace")
    if not ticks:
        raise ConfigError(f"{cs.name}: no rung replays a trace; the offline optimum needs availability traces")
    if len(ticks) > 1:
        raise ConfigError(f"{cs.name}: the traces have different ticks ({sorted(ticks)} s); expected one tick")
    return ticks.pop()


def _up_steps(cp: CompiledPool, offset_s: float, step_s: float, n: int) -> np.ndarray:
    """Steps wholly inside an up period of the replay starting ``offset_s`` into the trace."""
    if isinstance(cp.availability, AlwaysUp):
        return np.ones(n, dtype=bool)
    up = np.zeros(n, dtype=bool)
    horizon = n * step_s
    for a, b in cp.availability.periods(np.random.default_rng(0), offset_s):  # a trace draws nothing
        if a >= horizon:
            break
        first, last = math.ceil(a / step_s - 1e-9), min(n, math.floor(b / step_s + 1e-9) if math.isfinite(b) else n)
        if last > first:
            up[first:last] = True
    return up


def _step_costs(cp: CompiledPool, price: FlatPrice | ReplayedPrice, step_s: float, n: int) -> np.ndarray:
    t0 = np.arange(n) * step_s
    if isinstance(price, ReplayedPrice):
        return cp.nodes * price.costs_usd(t0, t0 + step_s)
    return np.full(n, cp.nodes * price.usd_per_h * step_s / 3600.0)


def problem_for_replay(cs: CompiledScenario, offset_s: float, *, step_s: float | None = None) -> OptimumProblem:
    """The programme of the replay starting ``offset_s`` into the traces (``step_s``: default tick / k <= 60 s)."""
    if cs.deadline_s is None:
        raise ConfigError(f"{cs.name}: the offline optimum needs a deadline (deadline.deadline_h)")
    tick = trace_tick_s(cs)
    target = min(TARGET_STEP_S, (cs.provisioning_s + cs.setup_s) / EDGE_STEPS)
    if step_s is None and target <= 0:
        raise ConfigError(f"{cs.name}: provisioning_s + setup_s is 0; the offline optimum needs a changeover > 0")
    st = step_s if step_s is not None else tick / max(1, math.ceil(tick / target - 1e-9))
    n = math.floor(cs.deadline_s / st + 1e-9) + 1
    tau, save = cs.interval_s, cs.save_blocking_s
    pools = tuple(OptimumPool(
        label=p.label, region=p.region, spot=p.spot, up=_up_steps(p, offset_s, st, n),
        step_cost_usd=_step_costs(p, p.price(offset_s, cs.wrap), st, n),
        rate=p.throughput * tau / (tau + save * p.throughput), refund_share=1.0 / p.nodes,
    ) for p in cs.pools)
    gb = cs.checkpoint_bytes / BYTES_PER_GB
    return OptimumProblem(
        step_s=st, pools=pools, work_s=cs.work_s, deadline_s=cs.deadline_s, provisioning_s=cs.provisioning_s,
        setup_s=cs.setup_s, restore_s=cs.restore_s, migration_s=cs.migration_s,
        egress_usd={k: v * gb for k, v in cs.egress_usd_per_gb.items()},
        first_hour_free=cs.billing.first_hour_free_on_interruption,
    )


def optimum_for_replay(cs: CompiledScenario, offset_s: float, *, step_s: float | None = None) -> Optimum:
    """The offline optimum of one replay."""
    return solve(problem_for_replay(cs, offset_s, step_s=step_s))
