"""A plan's regret on tiled windows of its traces: which windows, one window's figures, the page's frame and texts.

Regret is the plan's cost on a replay divided by the offline optimum of the same replay
(``spotplan.simulator.optimum``: the least any policy could pay to finish by the deadline with the whole future
known, under the simulator's restart, migration and billing rules; a lower bound, so 1.0 is the best possible).
Windows are those of ``spotplan recommend --traces``: every window of the deadline's length that tiles the traces,
spread evenly down to at most ``spotplan.advisor.traces.REGRET_WINDOWS``; window ``i`` is replayed with the
simulator's ``run_rng(seed, i)``, as ``spotplan simulate --tile`` does. No streamlit here (the page's cached calls
live in ``spotplan.dashboard.data``). Times are seconds (hours where named ``_h``), costs USD.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from spotplan.advisor.traces import REGRET_WINDOWS, chosen_offsets_s
from spotplan.errors import ConfigError
from spotplan.simulator.compile import CompiledScenario
from spotplan.simulator.optimum_replay import Regret, trace_tick_s

SECONDS_PER_HOUR = 3600.0
OPTIMUM_NOTE = ("The offline optimum is the least any schedule could pay on the same window with the whole future "
                "known (availability and prices in advance), under the same restart, checkpoint, migration and "
                "billing rules: a dynamic programme over the trace ticks and the job's progress "
                "(spotplan.simulator.optimum). It is a lower bound, so 1.0 is the best possible ratio; windows "
                "where the plan missed the deadline are drawn grey and left out of the mean.")


@dataclass(frozen=True, slots=True, kw_only=True)
class RegretSetup:
    """The windows a regret measurement replays, and what it replays them on."""

    offsets_s: tuple[float, ...]  # start of each chosen window, seconds into the traces
    tiled: int  # windows of ``window_s`` that tile the traces (``offsets_s`` is at most REGRET_WINDOWS of them)
    window_s: float  # window length: the plan's deadline
    span_s: float  # replayed span of the shortest trace
    prices: str  # where the replay's spot prices come from, one clause per trace rung


@dataclass(frozen=True, slots=True, kw_only=True)
class RegretWindow:
    """One window's replay of the plan and the optimum of the same window."""

    start_h: float
    plan_usd: float
    optimum_usd: float
    deadline_met: bool
    makespan_h: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RegretView:
    """What the page shows: one row per window (``regret_frame``), the headline ratios and the captions."""

    frame: pd.DataFrame
    mean_ratio: float | None  # mean of per-window plan / optimum over windows that met the deadline
    ratio_of_means: float | None
    optimum_mean_usd: float | None  # over windows that met the deadline
    met: int
    windows: int
    note: str  # which windows, which prices, which runs


def check_replayable(cs: CompiledScenario) -> None:
    """ConfigError (one line) unless ``cs`` has a deadline and every spot rung replays a trace of one tick."""
    if cs.deadline_s is None:
        raise ConfigError("regret: the plan has no deadline; the offline optimum is the least cost of finishing by "
                          "one, so set 'Deadline (hours)' in the sidebar")
    if not any(p.spot for p in cs.pools):
        raise ConfigError(f"regret: the plan's ladder ({', '.join(p.label for p in cs.pools)}) replays none of the "
                          "uploaded traces; choose families and a deadline under which a traced spot pool is a rung")
    try:
        trace_tick_s(cs)
    except ConfigError as exc:
        raise ConfigError(f"regret: {exc}") from None


def regret_setup(cs: CompiledScenario) -> RegretSetup:
    """The windows of ``cs``; ConfigError (one line) as ``check_replayable``, or with a deadline longer than the
    traces."""
    check_replayable(cs)
    assert cs.deadline_s is not None and cs.replay_span_s is not None  # a deadline and a trace, checked above
    try:
        offsets, tiled = chosen_offsets_s(cs.replay_span_s, cs.deadline_s)
    except ConfigError as exc:
        raise ConfigError(f"regret: the deadline sets the window: {exc}") from None
    prices = "; ".join(f"{p.label}: {p.price_source}" for p in cs.pools if p.spot)
    return RegretSetup(offsets_s=tuple(offsets), tiled=tiled, window_s=cs.deadline_s, span_s=cs.replay_span_s,
                       prices=prices)


def measure_window(cs: CompiledScenario, seed: int, index: int, offset_s: float) -> RegretWindow:
    """Replay window ``index`` (SimPy, ``run_rng(seed, index)``) and solve its optimum (~1 s per 40 h window)."""
    from spotplan.simulator.model import simulate_once
    from spotplan.simulator.montecarlo import run_rng
    from spotplan.simulator.optimum_replay import optimum_for_replay

    run = simulate_once(cs, run_rng(seed, index), float(offset_s), keep_timeline=False)
    optimum = optimum_for_replay(cs, float(offset_s))
    return RegretWindow(start_h=offset_s / SECONDS_PER_HOUR, plan_usd=run.cost_usd, optimum_usd=optimum.cost_usd,
                        deadline_met=bool(run.deadline_met), makespan_h=run.makespan_s / SECONDS_PER_HOUR)


def regret_frame(windows: list[RegretWindow], window_h: float) -> pd.DataFrame:
    """One row per window: ``window`` (label), ``start_h``, ``plan_usd``, ``optimum_usd``, ``ratio`` (plan /
    optimum; NaN where the optimum is not a positive finite cost), ``deadline_met``, ``makespan_h``."""
    rows = [{"window": f"{w.start_h:g}-{w.start_h + window_h:g} h", "start_h": w.start_h, "plan_usd": w.plan_usd,
             "optimum_usd": w.optimum_usd,
             "ratio": w.plan_usd / w.optimum_usd if 0 < w.optimum_usd < float("inf") else float("nan"),
             "deadline_met": w.deadline_met, "makespan_h": w.makespan_h} for w in windows]
    return pd.DataFrame(rows, columns=["window", "start_h", "plan_usd", "optimum_usd", "ratio", "deadline_met",
                                       "makespan_h"])


def regret_view(setup: RegretSetup, windows: list[RegretWindow], seed: int) -> RegretView:
    """The page's figures, with the simulator's own ratio definitions (``optimum_replay.Regret``)."""
    rg = Regret(optimum_usd=tuple(w.optimum_usd for w in windows), plan_usd=tuple(w.plan_usd for w in windows),
                met=tuple(w.deadline_met for w in windows))
    met = [w.optimum_usd for w in windows if w.deadline_met]
    window_h = setup.window_s / SECONDS_PER_HOUR
    note = (f"{len(windows)} of the {setup.tiled} windows of {window_h:g} h (the deadline) that tile the "
            f"{setup.span_s / SECONDS_PER_HOUR:g} h of the traces, spread evenly (at most {REGRET_WINDOWS}, as "
            f"spotplan recommend --traces); window i replayed once with run_rng({seed}, i), as spotplan simulate "
            f"--tile. Spot prices: {setup.prices}.")
    return RegretView(frame=regret_frame(windows, window_h), mean_ratio=rg.mean_ratio,
                      ratio_of_means=rg.ratio_of_means, optimum_mean_usd=sum(met) / len(met) if met else None,
                      met=len(met), windows=len(windows), note=note)
