"""Turn a Scenario (file schema) into runtime objects: loaded price series, availability processes, the interval.

Everything that reads files happens here, once, in the parent process; the ``CompiledScenario`` is a frozen,
picklable value that Monte Carlo workers receive. Times are seconds, prices USD per hour.

Paths in a scenario may start with ``${SPOTPLAN_SHARED_DATA}``: it resolves to that environment variable, else to
``../shared/data`` beside the checkout; other relative paths are relative to the scenario file.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from spotplan.errors import ConfigError, SpotplanError
from spotplan.paths import shared_data_dir
from spotplan.schemas.plan import Market
from spotplan.schemas.scenario import (
    AvailabilityKind,
    DeadlinePolicy,
    EndPolicy,
    GangModel,
    GangPolicy,
    IntervalPolicy,
    PoolSpec,
    PriceKind,
    RecoveryStrategy,
    Scenario,
)
from spotplan.simulator.availability import (
    AlwaysUp,
    Availability,
    RenewalAvailability,
    TraceAvailability,
    exponential,
)
from spotplan.simulator.billing import BillingRules, FlatPrice, ReplayedPrice
from spotplan.simulator.counts import CommonShock
from spotplan.simulator.market.egress import transfer_time_s
from spotplan.simulator.market.series import PriceSeries
from spotplan.simulator.migration import BYTES_PER_GB, egress_table
from spotplan.simulator.recovery import candidate_order
from spotplan.simulator.theory import daly_interval_s, young_interval_s

_VAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledPool:
    """One rung at run time."""

    label: str
    instance_type: str
    region: str
    zone: str
    spot: bool
    nodes: int
    throughput: float
    series: PriceSeries | None  # replayed history, or None for a flat price
    flat_usd_per_h: float
    availability: Availability
    max_price_usd_per_h: float | None
    price_source: str
    availability_source: str
    elastic: bool = False  # the gang continues at reduced width (spotplan.simulator.gang_job)
    min_nodes: int = 1  # the narrowest width it runs at (= nodes when it waits for the full gang)
    dp_efficiency_per_doubling: float = 1.0  # width-k throughput law (spotplan.simulator.counts.width_factor)
    common_shock: CommonShock | None = None  # correlated reclaims of the gang's nodes (gang_model: common-shock)

    def price(self, offset_s: float, wrap: bool) -> FlatPrice | ReplayedPrice:
        """The price in simulation time for a run starting ``offset_s`` into the replayed history."""
        if self.series is None:
            return FlatPrice(usd_per_h=self.flat_usd_per_h)
        return ReplayedPrice(series=self.series, offset_s=offset_s, wrap=wrap)


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledScenario:
    """Everything one simulated run needs, with units in names."""

    name: str
    work_s: float
    interval_s: float  # reference compute between the starts of two saves
    interval_source: str
    step_time_s: float | None
    save_blocking_s: float
    persist_s: float
    restore_s: float
    final_save: bool
    keep_last: int
    checkpoint_bytes: int
    notice_s: float
    emergency_save: bool
    detection_lag_s: float
    provisioning_s: float
    setup_s: float
    retry_gap_s: float
    pools: tuple[CompiledPool, ...]
    recovery: RecoveryStrategy
    deadline_policy: DeadlinePolicy
    deadline_s: float | None
    billing: BillingRules
    wrap: bool
    fixed_offset_s: float | None
    replay_span_s: float | None  # offsets are drawn in [0, span); None when nothing is replayed
    max_sim_s: float
    rung_orders: dict[tuple[str | None, bool], tuple[int, ...]]  # (preempted region, spot only) -> rungs to try
    spot_rungs: tuple[int, ...]
    od_rung: int | None  # the first on-demand rung (deadline policies)
    od_rate: float  # on-demand progress per wall second, net of blocking saves (deadline policies)
    egress_usd_per_gb: dict[tuple[str, str], float] = field(default_factory=dict)  # region pairs; {} = no migration

    @property
    def migrates(self) -> bool:
        """A restart can move the checkpoint between regions (the ladder spans regions and checkpoints have a size)."""
        return bool(self.egress_usd_per_gb)

    @property
    def migration_s(self) -> float:
        """Seconds one checkpoint transfer between regions takes (0 when nothing migrates)."""
        return transfer_time_s(self.checkpoint_bytes / BYTES_PER_GB) if self.migrates else 0.0

    @property
    def changeover_s(self) -> float:
        """Can't Be Late's d: provisioning + setup + restore, plus a checkpoint transfer where one can occur.

        The transfer is the worst case (the on-demand rung may be in another region than the checkpoint), so the
        deadline policies' safety net stays safe when the switch also moves the checkpoint.
        """
        return self.provisioning_s + self.setup_s + self.restore_s + self.migration_s


def resolve_path(raw: str, base_dir: Path, where: str) -> Path:
    """Expand ``${SPOTPLAN_SHARED_DATA}`` (and other ``${VAR}``) and make relative paths relative to the scenario."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        value = os.environ.get(name)
        if value:
            return value
        if name == "SPOTPLAN_SHARED_DATA":
            fallback = shared_data_dir()
            if fallback is not None:
                return str(fallback)
        raise ConfigError(
            f"{where}: path '{raw}' uses ${{{name}}}, which is not set"
            + (" and ../shared/data does not exist beside the checkout" if name == "SPOTPLAN_SHARED_DATA" else "")
            + f"; set {name} to the folder holding the data"
        )

    p = Path(_VAR.sub(sub, raw)).expanduser()
    return p if p.is_absolute() else (base_dir / p)


class _Loader:
    """Loads each data file once per compile."""

    def __init__(self, base_dir: Path, source: str) -> None:
        self.base_dir, self.source = base_dir, source
        self._histories: dict[Path, object] = {}
        self._catalog: object | None = None
        self._fitted: object | None = None

    def path(self, raw: str, where: str) -> Path:
        p = resolve_path(raw, self.base_dir, f"{self.source}: {where}")
        if not p.exists():
            raise ConfigError(f"{self.source}: {where} = '{raw}': {p} does not exist")
        return p

    def history(self, p: Path):  # -> PriceHistory
        from spotplan.simulator.market.prices import load_price_history

        if p not in self._histories:
            self._histories[p] = load_price_history(p)
        return self._histories[p]

    def catalog(self):  # -> Catalog
        from spotplan.simulator.market.catalog import load_catalog

        if self._catalog is None:
            self._catalog = load_catalog()
        return self._catalog

    def fitted(self):  # -> FittedBehaviour
        from spotplan.simulator.market.fitted import load_fitted

        if self._fitted is None:
            self._fitted = load_fitted()
        return self._fitted


def _price(spec: PoolSpec, i: int, ld: _Loader) -> tuple[PriceSeries | None, float, str]:
    where = f"pools[{i}].price"
    kind = spec.price.kind
    if kind is PriceKind.FIXED:
        assert spec.price.usd_per_h is not None
        return None, spec.price.usd_per_h, "fixed in scenario"
    if kind is PriceKind.HISTORY:
        assert spec.price.path is not None
        if spec.market is Market.ON_DEMAND:
            raise ConfigError(f"{ld.source}: {where}: on-demand rungs have no price history; use catalog or fixed")
        if not spec.zone:
            raise ConfigError(f"{ld.source}: pools[{i}].zone: a replayed spot price history needs a zone")
        p = ld.path(spec.price.path, f"{where}.path")
        series = ld.history(p).series(spec.instance_type, spec.zone)
        return series, series.mean_usd_per_h(), f"history {p}"
    od = ld.catalog().instance(spec.instance_type).on_demand(spec.region)
    if kind is PriceKind.CATALOG:
        if spec.market is Market.SPOT:
            raise ConfigError(
                f"{ld.source}: {where}: the catalog holds on-demand prices only; use history, fitted or fixed for spot"
            )
        return None, od, "catalog on-demand"
    if spec.market is Market.ON_DEMAND:
        return None, od, "catalog on-demand"
    beh = ld.fitted().pool(spec.instance_type, spec.region, spec.zone)
    return None, od * beh.spot_to_on_demand, (
        f"fitted spot/on-demand ratio {beh.spot_to_on_demand:.3g} x catalog on-demand "
        f"({beh.source.get('spot_to_on_demand', '')})")


def _availability(spec: PoolSpec, i: int, nodes: int, wrap: bool, ld: _Loader,
                  need: int | None = None) -> tuple[Availability, str]:
    """The pool's availability source; a trace must reach ``need`` nodes (an elastic gang's narrowest width)."""
    av = spec.availability
    where = f"pools[{i}].availability"
    if spec.market is Market.ON_DEMAND or av.kind is AvailabilityKind.ALWAYS:
        if spec.market is Market.ON_DEMAND and av.kind is not AvailabilityKind.ALWAYS:
            raise ConfigError(f"{ld.source}: {where}.kind: on-demand capacity is modelled as 'always'")
        return AlwaysUp(), "always available"
    if av.kind is AvailabilityKind.TRACE:
        from spotplan.simulator.market.traces import load_availability_trace

        assert av.path is not None
        p = ld.path(av.path, f"{where}.path")
        trace = load_availability_trace(p)
        return TraceAvailability(trace=trace, nodes=need or nodes, wrap=wrap), f"trace {p}"
    if av.kind is AvailabilityKind.EXPONENTIAL:
        assert av.mtbf_h is not None
        return exponential(av.mtbf_h * 3600.0, av.downtime_h * 3600.0, nodes=nodes,
                           rate_multiplier=av.rate_multiplier, source="exponential"), (
            f"exponential, MTBF {av.mtbf_h} h per instance, mean outage {av.downtime_h} h")
    fitted = ld.fitted()
    if av.kind is AvailabilityKind.ADVISOR_PRIOR and hasattr(fitted, "band_prior"):
        beh = fitted.band_prior(spec.instance_type, spec.region)
    else:
        beh = fitted.pool(spec.instance_type, spec.region, spec.zone)
    why = f"{beh.basis}: {beh.source.get('availability', '')}"
    return RenewalAvailability(
        sample_up_s=beh.sample_uptime_s, sample_down_s=beh.sample_downtime_s, nodes=nodes,
        rate_multiplier=av.rate_multiplier, mean_instance_up_s=beh.mtbf_h * 3600.0, source=why,
    ), f"{av.kind.value} ({why})"


def _common_shock(spec: PoolSpec, av: Availability) -> CommonShock | None:
    """The fitted common shock over a renewal pool's own single-instance process, where the pool asks for it."""
    if spec.availability.gang_model is not GangModel.COMMON_SHOCK or not isinstance(av, RenewalAvailability):
        return None
    from spotplan.simulator.market.gang_fit import load_gang_correlation

    fit = load_gang_correlation()
    return CommonShock.split(av.sample_up_s, av.sample_down_s, av.mean_instance_up_s, zone_share=fit.zone_share,
                             fraction=fit.fraction, down_mean_s=fit.down_mean_s)


def _interval(sc: Scenario, pools: tuple[CompiledPool, ...], source: str) -> tuple[float, str]:
    iv = sc.checkpoint.interval
    step = sc.job.step_time_s
    if iv.policy is IntervalPolicy.FIXED:
        assert iv.interval_s is not None
        tau, why = iv.interval_s, "fixed"
    elif iv.policy is IntervalPolicy.STEPS:
        assert iv.every_steps is not None and step is not None
        return iv.every_steps * step, f"every {iv.every_steps} steps"
    else:
        save = sc.checkpoint.save_blocking_s
        if save <= 0:
            raise ConfigError(f"{source}: checkpoint.interval policy '{iv.policy.value}' needs save_blocking_s > 0")
        if iv.mtbf_h is not None:
            m_s, m_why = iv.mtbf_h * 3600.0, "checkpoint.interval.mtbf_h"
        else:
            spot = [p for p in pools if p.spot]
            m_s = spot[0].availability.mean_up_s() if spot else math.inf
            m_why = f"mean up-time of {spot[0].label}" if spot else ""
            if not math.isfinite(m_s):
                raise ConfigError(f"{source}: checkpoint.interval: no spot rung gives an MTBF; set mtbf_h or use fixed")
        f = daly_interval_s if iv.policy is IntervalPolicy.DALY else young_interval_s
        tau = f(save, m_s)
        why = f"{iv.policy.value}(save {save:g} s, M {m_s / 3600:.3g} h from {m_why})"
    if step is not None:  # saves happen at step boundaries
        tau = max(1, round(tau / step)) * step
    return tau, why


def compile_scenario(sc: Scenario, *, base_dir: str | Path = ".", source: str = "<scenario>") -> CompiledScenario:
    """Load every source the scenario names and resolve the interval; raise SpotplanError on bad input."""
    ld = _Loader(Path(base_dir), source)
    wrap = sc.replay.end_policy is EndPolicy.WRAP
    pools = []
    for i, spec in enumerate(sc.pools):
        try:
            series, flat, psrc = _price(spec, i, ld)
            avail, asrc = _availability(spec, i, sc.job.nodes, wrap, ld, need=sc.job.min_width)
        except SpotplanError as exc:
            msg = str(exc)
            raise type(exc)(msg if msg.startswith(source) else f"{source}: pools[{i}]: {msg}") from None
        pools.append(CompiledPool(
            label=spec.label, instance_type=spec.instance_type, region=spec.region, zone=spec.zone or "",
            spot=spec.market is Market.SPOT, nodes=sc.job.nodes, throughput=spec.throughput_factor, series=series,
            flat_usd_per_h=flat, availability=avail, max_price_usd_per_h=spec.max_price_usd_per_h,
            price_source=psrc, availability_source=asrc, elastic=sc.job.gang is GangPolicy.ELASTIC,
            min_nodes=sc.job.min_width, dp_efficiency_per_doubling=sc.job.dp_efficiency_per_doubling,
            common_shock=_common_shock(spec, avail),
        ))
    cpools = tuple(pools)
    spans = [s for p in cpools for s in (p.availability.replay_span_s, p.series.span_s if p.series else None)
             if s is not None and s > 0]
    tau, why = _interval(sc, cpools, source)
    cp, ch, nt = sc.checkpoint, sc.changeover, sc.notice
    deadline_s = sc.deadline.deadline_h * 3600.0 if sc.deadline.deadline_h is not None else None
    work_s = sc.job.work_s
    regions = [p.region for p in cpools]
    spot = tuple(i for i, p in enumerate(cpools) if p.spot)
    od = next((i for i, p in enumerate(cpools) if not p.spot), None)
    orders = {(r, spot_only): tuple(candidate_order(sc.ladder.recovery, regions, r, spot if spot_only else None))
              for r in (None, *sorted(set(regions))) for spot_only in (False, True)}
    od_rate = 0.0
    if od is not None:
        od_tp = cpools[od].throughput
        od_rate = od_tp * tau / (tau + cp.save_blocking_s * od_tp)
    return CompiledScenario(
        name=sc.name, work_s=work_s, interval_s=tau, interval_source=why, step_time_s=sc.job.step_time_s,
        save_blocking_s=cp.save_blocking_s, persist_s=cp.persist_background_s, restore_s=cp.restore_s,
        final_save=cp.final_save, keep_last=cp.keep_last, checkpoint_bytes=cp.checkpoint_bytes,
        notice_s=nt.notice_s, emergency_save=nt.emergency_save, detection_lag_s=nt.detection_lag_s,
        provisioning_s=ch.provisioning_s, setup_s=ch.setup_s, retry_gap_s=ch.retry_gap_s, pools=cpools,
        recovery=sc.ladder.recovery, deadline_policy=sc.deadline.policy, deadline_s=deadline_s,
        billing=BillingRules(per_second=sc.billing.per_second, minimum_s=sc.billing.minimum_s,
                             first_hour_free_on_interruption=sc.billing.first_hour_free_on_interruption),
        wrap=wrap,
        fixed_offset_s=sc.replay.start_offset_h * 3600.0 if sc.replay.start_offset_h is not None else None,
        replay_span_s=min(spans) if spans else None,
        max_sim_s=max(100.0 * work_s, 3 * (deadline_s or 0.0), 30 * 86400.0),
        rung_orders=orders, spot_rungs=spot, od_rung=od, od_rate=od_rate,
        egress_usd_per_gb=egress_table(regions, cp.checkpoint_bytes, source),
    )


def load_scenario(path: str | Path) -> CompiledScenario:
    """Read a Scenario YAML/JSON file and compile it (paths relative to the file)."""
    p = Path(path)
    sc = Scenario.load(p)
    return compile_scenario(sc, base_dir=p.parent, source=str(p))
