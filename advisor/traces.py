"""Planning on replayed availability traces (``recommend --traces``): the trace zones become the spot candidates.

Each trace file is one spot pool: its instance type and zone come from its file name
(``spotplan.simulator.trace_scenario.load_traces``). A zone maps to the catalog pool of that name; in a region
where the catalog knows AZ IDs but not their names for this account (us-east-2, us-west-2 for p3.2xlarge), it is a
pool of its own, named by the trace. A zone name the region cannot have (a letter past its zone count) is
refused. The pool replays the trace
(``availability: trace``); its price is the trace's per-tick price (time-weighted mean, as the advisor prices every
spot pool), else what ``--prices`` or the fit says. On-demand candidates are unchanged; spot pools without a trace
are dropped. With ``--prices``, a timestamped trace and the history of its zone must overlap in time.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spotplan.advisor.candidates import PoolOption
from spotplan.errors import ConfigError, SpotplanError, did_you_mean
from spotplan.schemas.plan import Market
from spotplan.simulator.availability import TraceAvailability
from spotplan.simulator.market.tick_traces import tick_price_series
from spotplan.simulator.trace_scenario import LoadedTrace, check_overlap, load_traces

IN_SAMPLE = ("in-sample: the plan (pools, MTBFs, interval) was chosen on these same traces, so a future run's "
             "regret may be higher")
REGRET_WINDOWS = 8  # tiled windows the plan's regret is measured on (one optimum each, ~1 s per 40 h job)


def trace_pools(pools: list[PoolOption], paths: Sequence[str | Path], *, tick_prices: str | Path | None,
                history: Any | None, price_multiplier: float, catalog: Any) -> list[PoolOption]:
    """On-demand candidates plus one replayed spot pool per trace."""
    traces = load_traces(paths, tick_prices=tick_prices)
    out = [p for p in pools if p.market is Market.ON_DEMAND]
    spot = [p for p in pools if p.market is Market.SPOT]
    for t in traces:
        base = _match(t, spot, catalog)
        out.append(_replayed(base, t, history, price_multiplier))
    return out


def _match(t: LoadedTrace, spot: list[PoolOption], catalog: Any) -> PoolOption:
    """The candidate of the trace's zone, or a copy of a region's candidate named by the trace."""
    kind, zone, region = t.trace.instance_type, t.trace.zone, t.region
    same = [p for p in spot if p.instance_type == kind and p.region == region]
    if not same:
        types = sorted({p.instance_type for p in spot})
        raise ConfigError(f"{t.path}: no {kind} spot candidate in {region} (the job fits {', '.join(types[:6])}"
                          f"{' ...' if len(types) > 6 else ''}); expected a trace of an instance type the job fits")
    named = [p for p in same if p.zone == zone]
    if named:
        return named[0]
    every = catalog.zones(region)
    known = [z for z, _ in every if z]
    letter = zone[len(region):] if zone.startswith(region) else ""
    # AWS names a region's zones by consecutive letters: a name past its zone count, or one the catalog has
    # for another AZ, or one in a region whose names are all known, is not one of its zones.
    if (len(letter) != 1 or not "a" <= letter <= "z" or ord(letter) - ord("a") >= len(every)
            or len(known) == len(every)):
        raise ConfigError(f"{t.path}: zone '{zone}' is not a zone of {region} for {kind} (zones: "
                          f"{', '.join(known)}){did_you_mean(zone, known)}")
    return dataclasses.replace(same[0], zone=zone, az_id=None)


def _replayed(p: PoolOption, t: LoadedTrace, history: Any | None, mult: float) -> PoolOption:
    av = TraceAvailability(trace=t.trace, nodes=1)
    price, src = p.price_usd_per_h, p.price_source
    if history is not None and t.trace.start_s > 0:
        series = _history_series(history, p)
        if series is not None:
            check_overlap(t, series)
    if t.trace.prices_usd_per_h is not None:
        price = tick_price_series(t.trace, region=t.region).mean_usd_per_h() * mult
        src = f"per-tick prices of {t.path.name}, time-weighted mean"
    return dataclasses.replace(p, availability="trace", trace_path=str(t.path), price_usd_per_h=price,
                               price_source=src, mtbf_s=av.mean_up_s(), interruption_source=f"trace {t.path}")


def _history_series(history: Any, p: PoolOption) -> Any | None:
    try:
        return history.series(p.instance_type, p.zone or p.az_id or "")
    except SpotplanError:  # the history does not cover this pool: the advisor's usual fallback prices it
        return None


def chosen_offsets_s(span_s: float, window_s: float) -> tuple[list[float], int]:
    """Starts of the windows regret is measured on (every window of ``window_s`` that tiles ``span_s``, thinned
    evenly to at most ``REGRET_WINDOWS``) and how many tile the span; ConfigError when one window is longer."""
    from spotplan.simulator.trace_scenario import tiling_offsets_s

    offsets = tiling_offsets_s(span_s, window_s)
    stride = max(1, -(-len(offsets) // REGRET_WINDOWS))
    return offsets[::stride][:REGRET_WINDOWS], len(offsets)


def with_deadline(scenario_json: str, deadline_h: float | None) -> str:
    """The plan's Scenario JSON with the request's deadline written in where the plan left it out.

    The advisor writes no ``deadline_h`` into a plan whose deadline policy is ``none`` (it meets the deadline
    without switching), but the optimum and the windows need it; the policy stays ``none``, so the replay is the
    plan's own and only the deadline check and the optimum's target use it.
    """
    doc = json.loads(scenario_json)
    deadline = doc.setdefault("deadline", {})
    if deadline_h is None or deadline.get("deadline_h") is not None:
        return scenario_json
    deadline["deadline_h"] = deadline_h
    return json.dumps(doc)


def plan_regret(scenario: Any, *, deadline_h: float | None = None,
                tick_prices: str | Path | None = None) -> dict[str, Any]:
    """The plan's regret on up to ``REGRET_WINDOWS`` tiled windows of its traces (cost / offline optimum).

    ``deadline_h`` is the request's (used where the plan's Scenario states none); with ``tick_prices`` the windows
    replay each trace's per-tick prices (the search priced a trace pool at their time-weighted mean), so plan and
    optimum pay the same moving prices."""
    from spotplan.schemas.scenario import Scenario
    from spotplan.simulator.compile import compile_scenario
    from spotplan.simulator.optimum_replay import trace_tick_s
    from spotplan.simulator.trace_scenario import attach_tick_prices
    from spotplan.simulator.windows import regret, regret_summary, simulate_windows

    stated = Scenario.model_validate_json(with_deadline(scenario.model_dump_json(), deadline_h))
    cs = compile_scenario(stated)
    if cs.deadline_s is None:
        return {"note": "no deadline: the offline optimum needs one (--deadline)"}
    try:
        trace_tick_s(cs)
    except ConfigError as exc:
        return {"note": f"not measured: {exc}"}
    if tick_prices is not None:
        cs = attach_tick_prices(cs, tick_prices)
    assert cs.replay_span_s is not None
    chosen, _ = chosen_offsets_s(cs.replay_span_s, cs.deadline_s)
    return {"windows_h": [o / 3600.0 for o in chosen],
            "prices": "per-tick" if tick_prices is not None else "time-weighted mean per trace",
            "sample": IN_SAMPLE,
            **regret_summary(regret(simulate_windows(cs, chosen)))}


def traces_block(request: Any, scenario: Any) -> dict[str, Any]:
    """The ``traces`` block of ``recommend --json``: every file replayed and the plan's regret."""
    return {"files": list(request.traces),
            "tick_prices": str(request.tick_prices_path) if request.tick_prices_path is not None else None,
            "prices": str(request.prices_path) if request.prices_path is not None else None,
            "regret": plan_regret(scenario, deadline_h=request.deadline_h, tick_prices=request.tick_prices_path)}


def traces_lines(block: dict[str, Any]) -> list[str]:
    """The summary's lines: the files replayed and the regret."""
    files = ", ".join(Path(f).name for f in block["files"])
    extra = "".join(f"; {k.replace('_', '-')} {block[k]}" for k in ("tick_prices", "prices") if block[k])
    lines = [f"replayed traces: {files}{extra}"]
    rg = block["regret"]
    if "note" in rg:
        lines.append(f"regret: {rg['note']}")
    else:
        from spotplan.simulator.windows import regret_line

        lines.append(f"{regret_line(rg, replays='tiled windows')}; {rg['prices']} prices; in-sample")
    return lines
