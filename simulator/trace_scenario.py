"""Scenarios replayed on availability traces: one spot rung per trace file, priced per tick, and fixed windows.

A trace names its zone and instance type in its file name (``<zone>_<accel>.json|csv``,
``spotplan.simulator.market.traces.trace_info``); the zone's region must be one the catalog prices the instance
type in. A rung's price is the trace's own per-tick price (a CSV price column, Can't Be Late ``prices``, or a
tick-price file keyed by the trace's stem); without one, the fitted spot/on-demand ratio of the catalog price.
Windows: a replay starts ``start_s`` into the traces; ``tiling_offsets_s`` gives every window of a length that
tiles the shortest trace. Times are seconds, prices USD per hour.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spotplan.errors import ConfigError
from spotplan.schemas.scenario import Scenario
from spotplan.simulator.compile import CompiledScenario, compile_scenario
from spotplan.simulator.market.egress import region_of_zone
from spotplan.simulator.market.series import AvailabilityTrace
from spotplan.simulator.market.tick_traces import load_tick_prices, tick_price_series, with_tick_prices
from spotplan.simulator.market.traces import load_availability_trace


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LoadedTrace:
    """One trace file as a spot rung: where it is and what it replays."""

    path: Path
    trace: AvailabilityTrace
    region: str

    @property
    def label(self) -> str:
        """The rung's label in reports."""
        return f"{self.trace.instance_type}/{self.trace.zone}/spot"


def load_traces(paths: Sequence[str | Path], *, tick_prices: str | Path | None = None,
                instance_type: str | None = None) -> list[LoadedTrace]:
    """Load every trace, attach tick prices, check each zone maps to a catalog pool and the ticks agree."""
    from spotplan.simulator.market.catalog import load_catalog

    prices = load_tick_prices(tick_prices) if tick_prices is not None else None
    catalog = load_catalog()
    out = []
    for raw in paths:
        p = Path(raw)
        tr = load_availability_trace(p, instance_type=instance_type)
        if not tr.zone or not tr.instance_type:
            raise ConfigError(f"{p}: file name {p.name!r} names no zone and accelerator; expected "
                              "<zone>_<accel>.json|csv such as us-east-1c_v100_1.csv")
        region = region_of_zone(tr.zone)
        try:
            catalog.instance(tr.instance_type).on_demand(region)
        except ConfigError as exc:  # the catalog's own error names what it has
            raise ConfigError(f"{p}: zone '{tr.zone}' (region '{region}') is not a catalog pool of "
                              f"{tr.instance_type}: {exc}") from None
        if prices is not None:
            tr = with_tick_prices(tr, prices, str(tick_prices))
        out.append(LoadedTrace(path=p, trace=tr, region=region))
    ticks = {t.trace.gap_s for t in out}
    if len(ticks) > 1:
        raise ConfigError(f"traces have different ticks ({', '.join(f'{t:g} s' for t in sorted(ticks))}); "
                          "expected one tick for all (replay traces of one collection together)")
    return out


def trace_pool_specs(traces: Sequence[LoadedTrace]) -> list[dict[str, Any]]:
    """Scenario pool entries (spot, replayed availability) for the traces; priced by ``compile_on_traces``."""
    return [{"instance_type": t.trace.instance_type, "region": t.region, "zone": t.trace.zone,
             "name": t.label, "price": {"kind": "fixed", "usd_per_h": 0.0},
             "availability": {"kind": "trace", "path": str(t.path)}} for t in traces]


def compile_on_traces(sc: Scenario, traces: Sequence[LoadedTrace], *, source: str = "<traces>") -> CompiledScenario:
    """Compile ``sc`` and price its trace rungs per tick (or from the fitted ratio when a trace has no prices)."""
    cs = compile_scenario(sc, source=source)
    by_label = {t.label: t for t in traces}
    pools = []
    for cp in cs.pools:
        t = by_label.get(cp.label)
        if t is None:
            pools.append(cp)
            continue
        tr = cp.availability.trace if hasattr(cp.availability, "trace") else t.trace
        if t.trace.prices_usd_per_h is not None:
            tr = dataclasses.replace(tr, prices_usd_per_h=t.trace.prices_usd_per_h)
            series = tick_price_series(tr, region=t.region)
            pools.append(dataclasses.replace(cp, series=series, flat_usd_per_h=series.mean_usd_per_h(),
                                             price_source=f"per-tick prices of {t.path.name}"))
        else:
            pools.append(dataclasses.replace(cp, **_fitted_price(cp)))
    return dataclasses.replace(cs, pools=tuple(pools))


def attach_tick_prices(cs: CompiledScenario, path: str | Path) -> CompiledScenario:
    """Price every rung that replays a trace with that trace's per-tick prices from a tick-price file."""
    from spotplan.simulator.availability import TraceAvailability

    prices = load_tick_prices(path)
    pools, priced = [], 0
    for cp in cs.pools:
        av = cp.availability
        if not isinstance(av, TraceAvailability):
            pools.append(cp)
            continue
        tr = with_tick_prices(av.trace, prices, str(path))
        series = tick_price_series(tr, region=cp.region)
        pools.append(dataclasses.replace(cp, availability=dataclasses.replace(av, trace=tr), series=series,
                                         flat_usd_per_h=series.mean_usd_per_h(),
                                         price_source=f"per-tick prices of {Path(tr.source).name} from {path}"))
        priced += 1
    if not priced:
        raise ConfigError(f"--tick-prices {path}: no rung of {cs.name} replays an availability trace to price")
    return dataclasses.replace(cs, pools=tuple(pools))


def _fitted_price(cp: Any) -> dict[str, Any]:
    from spotplan.simulator.market.catalog import load_catalog
    from spotplan.simulator.market.fitted import load_fitted

    od = load_catalog().instance(cp.instance_type).on_demand(cp.region)
    ratio = load_fitted().pool(cp.instance_type, cp.region, cp.zone).spot_to_on_demand
    return {"flat_usd_per_h": od * ratio, "price_source": f"fitted spot/on-demand ratio {ratio:.3g} x catalog"}


def tiling_offsets_s(span_s: float, window_s: float) -> list[float]:
    """Start offsets of every window of ``window_s`` that fits end to end in ``span_s``."""
    if not window_s > 0:
        raise ConfigError(f"window length {window_s:g} s: expected > 0")
    n = math.floor(span_s / window_s + 1e-9)
    if n < 1:
        raise ConfigError(f"window of {window_s / 3600:g} h is longer than the trace ({span_s / 3600:g} h); "
                          "expected a window inside the trace")
    return [i * window_s for i in range(n)]


def check_overlap(t: LoadedTrace, series: Any) -> None:
    """A timestamped trace and the price history of its zone must share some time (epoch seconds)."""
    from datetime import UTC, datetime

    a0, a1 = t.trace.start_s, t.trace.start_s + t.trace.duration_s
    b0, b1 = series.start_s, series.end_s
    if a1 <= b0 or b1 <= a0:
        day = (lambda x: datetime.fromtimestamp(x, UTC).strftime("%Y-%m-%d"))
        raise ConfigError(f"{t.path}: trace {day(a0)} -> {day(a1)} and the --prices history of {t.trace.zone} "
                          f"{day(b0)} -> {day(b1)} do not overlap in time; expected a price history covering the "
                          "trace's span")


def check_window(span_s: float, start_s: float, length_s: float, source: str) -> None:
    """A fixed window must lie inside the trace (no wrap): one clear line otherwise."""
    if start_s < 0 or length_s <= 0 or start_s + length_s > span_s + 1e-6:
        raise ConfigError(f"{source}: window {start_s / 3600:g} h + {length_s / 3600:g} h ends past the end of the "
                          f"trace ({span_s / 3600:g} h); expected start + length <= {span_s / 3600:g} h")
