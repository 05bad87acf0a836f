"""Turn advisor and simulator results into the tidy DataFrames the chart builders take.

Only reshaping lives here (renaming, unit conversion seconds -> hours or minutes, filtering); every
figure comes from the advisor, the simulator or the catalog. Column units follow their names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from spotplan.advisor.zones import UNIFORM_ZONE_NAMES, zone_label

MAX_PRICE_POOLS = 12  # more lines than this make the price chart unreadable


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceView:
    """Spot price lines (``timestamp``, ``pool``, ``price_usd_per_h``) and on-demand references."""

    prices: pd.DataFrame
    on_demand: pd.DataFrame
    note: str
    warnings: list[str] = field(default_factory=list)


def pool_label(instance_type: str, zone: str | None, az_id: str | None = None, region: str = "") -> str:
    """Label of a pool: type and place, the AZ ID first with the zone name where known (as in every table)."""
    where = zone_label(region, zone or None, az_id or None) if (zone or az_id) else (region or "region")
    return f"{instance_type} {where}"


def zone_names(catalog: Any) -> dict[str, str]:
    """AZ ID -> zone name, from the catalog where it has one, else from the uniform mapping."""
    names = {az: name for zones in catalog.region_zones.values() for name, az in zones if name}
    for mapping in UNIFORM_ZONE_NAMES.values():
        for az, name in mapping.items():
            names.setdefault(az, name)
    return names


def pool_key_label(key: str, names: dict[str, str]) -> str:
    """A simulator pool key (``p5.48xlarge/spot/use2-az1``) as ``p5.48xlarge spot use2-az1 (us-east-2a)``."""
    parts = key.split("/")
    if len(parts) != 3:
        return key
    itype, market, where = parts
    name = names.get(where)
    return f"{itype} {market} {where} ({name})" if name else f"{itype} {market} {where}"


def price_view(table: pd.DataFrame, catalog: Any, instance_types: tuple[str, ...], warnings: list[str]) -> PriceView:
    """Pick the plan's instance types when the history has them (else all), at most MAX_PRICE_POOLS pools."""
    chosen = table[table["instance_type"].isin(instance_types)]
    note = f"pools of the plan's instance types ({', '.join(sorted(set(chosen['instance_type'])))})"
    if chosen.empty:
        chosen = table
        note = "the plan's instance types are not in this file; showing every pool in it"
    labels = [pool_label(t, z, a, r) for t, z, a, r in zip(chosen["instance_type"], chosen["zone"], chosen["az_id"],
                                                            chosen["region"], strict=True)]
    prices = pd.DataFrame({"timestamp": chosen["timestamp"].to_numpy(), "pool": labels,
                           "price_usd_per_h": chosen["price_usd_per_h"].to_numpy(dtype=float)})
    busiest = prices["pool"].value_counts().index[:MAX_PRICE_POOLS]
    if len(busiest) < prices["pool"].nunique():
        note += f"; the {MAX_PRICE_POOLS} pools with most records"
    prices = prices[prices["pool"].isin(busiest)].reset_index(drop=True)
    return PriceView(prices=prices, on_demand=on_demand_refs(chosen, catalog), note=note, warnings=list(warnings))


def on_demand_refs(table: pd.DataFrame, catalog: Any) -> pd.DataFrame:
    """On-demand USD/h per (instance type, region) in the table, from the catalog where it has one."""
    rows = []
    for (itype, region), _ in table.groupby(["instance_type", "region"], sort=True):
        spec = catalog.instances.get(itype)
        if spec is not None and region in spec.on_demand_usd_per_h:
            rows.append({"label": f"{itype} {region}", "on_demand_usd_per_h": spec.on_demand_usd_per_h[region]})
    return pd.DataFrame(rows, columns=["label", "on_demand_usd_per_h"])


@dataclass(frozen=True, slots=True, kw_only=True)
class Headline:
    """The plan's headline figures (USD, hours, seconds) and where they came from."""

    cost_mean_usd: float
    cost_p50_usd: float
    cost_p95_usd: float
    makespan_mean_h: float
    makespan_p50_h: float
    makespan_p95_h: float
    interval_s: float
    saving_vs_on_demand: float | None
    deadline_hit_rate: float | None
    runs: int
    seed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanView:
    """Everything the page shows about one plan, quick (fast path) or full (advisor with SimPy), as plain data.

    The file fields (``plan_yaml``, ``skypilot_yaml``, ``torchrun``) and ``assumptions`` exist only for the
    full advisor plan.
    """

    source: str  # "quick" or "advisor"
    note: str
    headline: Headline
    plan_id: str | None
    comparison: pd.DataFrame
    ladder: pd.DataFrame
    sweep: pd.DataFrame
    marks_min: dict[str, float]
    interval_note: str
    reasons: list[str]
    warnings: list[str]
    assumptions: pd.DataFrame | None
    plan_yaml: str | None
    skypilot_yaml: str | None
    torchrun: str | None
    scenario_json: str
    fast: pd.DataFrame  # cost_usd, makespan_h, source: the fast-path sample of the plan
    instance_types: tuple[str, ...]
    frontier: pd.DataFrame = field(default_factory=pd.DataFrame)  # frontier_frame: one row per node count

    @property
    def full(self) -> bool:
        """True for the advisor's SimPy-scored plan."""
        return self.source == "advisor"


def marks(young_s: float | None, daly_s: float | None, chosen_s: float) -> dict[str, float]:
    """Young's, Daly's and the chosen interval in minutes (the sweep chart's vertical lines)."""
    out = {k: v / 60.0 for k, v in (("Young", young_s), ("Daly", daly_s)) if v is not None}
    out["chosen"] = chosen_s / 60.0
    return out


# Column labels of the ladder tables, with units.
LADDER_COLUMNS = ("Rung", "Instance", "Market", "Region", "Zone (AZ ID, name)", "Nodes", "Price (USD/h per node)",
                  "Speed (x rung 1)", "MTBF (h per node)", "Interruptions from")


def _money(x: float) -> str:
    return f"${x:,.2f}"


def _ladder_row(i: int, p: Any, speed: float, mtbf_h: float | None) -> dict[str, Any]:
    where = zone_label(p.region, p.zone, p.az_id) if p.market.value == "spot" and (p.zone or p.az_id) else "any"
    return dict(zip(LADDER_COLUMNS, (
        i, p.instance_type, p.market.value, p.region, where, p.nodes, _money(p.price_usd_per_h), f"{speed:.2f}x",
        "-" if mtbf_h is None else f"{mtbf_h:,.1f}", p.interruption_source.split(":")[0]), strict=True))


def sweep_frame(points: tuple[Any, ...]) -> pd.DataFrame:
    """The interval sweep (``spotplan.advisor.optimize.SweepPoint``s) as the sweep chart's frame; NaN: no closed form."""
    columns = ["interval_s", "interval_min", "cost_mean_usd", "cost_lo_usd", "cost_hi_usd", "closed_form_cost_usd",
               "method"]
    frame = pd.DataFrame([p.row() for p in points], columns=columns)
    frame["closed_form_cost_usd"] = frame["closed_form_cost_usd"].astype(float)
    return frame


def option_ladder_frame(ladder: tuple[Any, ...]) -> pd.DataFrame:
    """The quick plan's ladder (advisor PoolOptions) as a table, first rung first."""
    return pd.DataFrame([_ladder_row(i, p, p.tokens_per_s / ladder[0].tokens_per_s,
                                     None if p.mtbf_s is None else p.mtbf_s / 3600.0)
                         for i, p in enumerate(ladder, 1)], columns=list(LADDER_COLUMNS))


def quick_headline(comparison: pd.DataFrame, interval_s: float, runs: int, seed: int) -> Headline:
    """Headline of the quick plan from its comparison row; the saving is against the on-demand baseline."""
    plan = comparison[comparison["is_plan"]].iloc[0]
    od = comparison[comparison["option"] == "on-demand"]
    saving = None if od.empty else 1.0 - plan["cost_mean_usd"] / od["cost_mean_usd"].iloc[0]
    return Headline(
        cost_mean_usd=plan["cost_mean_usd"], cost_p50_usd=plan["cost_p50_usd"], cost_p95_usd=plan["cost_p95_usd"],
        makespan_mean_h=plan["makespan_mean_h"], makespan_p50_h=plan["makespan_p50_h"],
        makespan_p95_h=plan["makespan_p95_h"], interval_s=interval_s, saving_vs_on_demand=saving,
        deadline_hit_rate=None, runs=runs, seed=seed)


def expected_headline(expected: Any, interval_s: float) -> Headline:
    """Headline of the advisor's plan from its ``Expected`` block."""
    return Headline(
        cost_mean_usd=expected.cost_usd.mean, cost_p50_usd=expected.cost_usd.p50,
        cost_p95_usd=expected.cost_usd.p95, makespan_mean_h=expected.makespan_h.mean,
        makespan_p50_h=expected.makespan_h.p50, makespan_p95_h=expected.makespan_h.p95, interval_s=interval_s,
        saving_vs_on_demand=expected.savings_vs_on_demand, deadline_hit_rate=expected.deadline_hit_rate,
        runs=expected.runs, seed=expected.seed)


def comparison_frame(plan_expected: Any, baselines: dict[str, Any]) -> pd.DataFrame:
    """One row per option (the plan first, then each baseline) with mean, P50 and P95 of cost and makespan."""
    rows = []
    for name, e, is_plan in [("plan", plan_expected, True), *((n, b, False) for n, b in baselines.items())]:
        rows.append({"option": name, "is_plan": is_plan,
                     "cost_mean_usd": e.cost_usd.mean, "cost_p50_usd": e.cost_usd.p50,
                     "cost_p95_usd": e.cost_usd.p95, "makespan_mean_h": e.makespan_h.mean,
                     "makespan_p50_h": e.makespan_h.p50, "makespan_p95_h": e.makespan_h.p95,
                     "deadline_hit_rate": e.deadline_hit_rate})
    return pd.DataFrame(rows)


def ladder_frame(ladder: list[Any]) -> pd.DataFrame:
    """The fallback ladder (Plan pools) as a table, first rung first."""
    return pd.DataFrame([_ladder_row(i, p, p.throughput_factor, p.mtbf_h) for i, p in enumerate(ladder, 1)],
                        columns=list(LADDER_COLUMNS))


def assumptions_frame(assumptions: list[Any]) -> pd.DataFrame:
    """Every assumption with its value (as text, the values mix types), unit and source."""
    return pd.DataFrame([{"Assumption": a.name, "Value": str(a.value), "Unit": a.unit, "Source": a.source}
                         for a in assumptions], columns=["Assumption", "Value", "Unit", "Source"])


# The state names for the simulator's cost buckets (spotplan.simulator.result.CostBucket values).
STATE_OF_BUCKET: dict[str, str] = {
    "useful_compute": "training",
    "checkpoint_stall": "saving",
    "lost_work": "lost work",
    "changeover_restore": "changeover",
    "waiting": "waiting",
    "migration": "migration",  # moving the checkpoint to another region (transfer time and egress)
}
NO_POOL = "(no capacity)"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayExample:
    """One simulated run drawn as a Gantt: segments (pool, state, start_h, end_h) and interruptions."""

    caption: str
    segments: pd.DataFrame
    interruptions: pd.DataFrame


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayView:
    """A SimPy Monte Carlo of the plan: per-run figures, a summary, example runs and the mean cost breakdown."""

    per_run: pd.DataFrame
    summary: dict[str, float]
    examples: dict[str, ReplayExample]
    breakdown: pd.DataFrame


MAX_SEGMENTS = 3000  # more bars than this make the Gantt slow to draw and impossible to read


def merge_segments(segments: pd.DataFrame) -> pd.DataFrame:
    """Join back-to-back segments of the same pool and state into one (timeline order is kept)."""
    if segments.empty:
        return segments
    seg = segments.sort_values("start_h", kind="stable").reset_index(drop=True)
    same = ((seg["pool"] == seg["pool"].shift()) & (seg["state"] == seg["state"].shift())
            & ((seg["start_h"] - seg["end_h"].shift()).abs() < 1e-9))
    group = (~same).cumsum()
    return seg.groupby(group, sort=False).agg(pool=("pool", "first"), state=("state", "first"),
                                               start_h=("start_h", "first"), end_h=("end_h", "last"))\
        .reset_index(drop=True)


def timeline_frames(run: Any, names: dict[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """A RunResult's timeline in hours with the issue's state names, its interruptions (bills the cloud ended)
    and a note. When periodic saves would give more than MAX_SEGMENTS bars they are drawn inside training.
    Pools are named as in the ladder table (AZ ID with the zone name from ``names``)."""
    tl = run.timeline_frame()
    label = {k: pool_key_label(k, names or {}) for k in set(tl["pool"]) | {b.pool for b in run.bills}}
    label[""] = NO_POOL
    segments = merge_segments(pd.DataFrame({
        "pool": tl["pool"].map(label), "state": tl["bucket"].map(STATE_OF_BUCKET),
        "start_h": tl["start_s"] / 3600.0, "end_h": tl["end_s"] / 3600.0,
    }))
    note = ""
    if len(segments) > MAX_SEGMENTS:
        saves = int((segments["state"] == "saving").sum())
        segments = merge_segments(segments.assign(state=segments["state"].replace("saving", "training")))
        note = f" The {saves:,} periodic saves are drawn inside training at this scale."
    cut = [b for b in run.bills if b.interrupted]
    interruptions = pd.DataFrame({"pool": [label[b.pool] for b in cut], "time_h": [b.end_s / 3600.0 for b in cut]},
                                 columns=["pool", "time_h"])
    return segments, interruptions, note


def breakdown_frame(summary: dict[str, Any], names: dict[str, str] | None = None) -> pd.DataFrame:
    """Mean cost per run split two ways (by activity, by pool), from a Monte Carlo summary; both sum to the mean."""
    rows = [{"split": "by activity", "part": STATE_OF_BUCKET.get(k, k), "cost_usd": v}
            for k, v in summary["mean_cost_by_activity_usd"].items()]
    rows += [{"split": "by pool", "part": pool_key_label(k, names or {}) if k else NO_POOL, "cost_usd": v}
             for k, v in summary["mean_cost_by_pool_usd"].items()]
    return pd.DataFrame(rows, columns=["split", "part", "cost_usd"])


def per_run_frame(runs: list[Any]) -> pd.DataFrame:
    """Cost, makespan and interruptions of every run."""
    return pd.DataFrame({"cost_usd": [r.cost_usd for r in runs], "makespan_h": [r.makespan_h for r in runs],
                         "interruptions": [r.interruptions for r in runs]})


def example_picks(per_run: pd.DataFrame) -> dict[str, int]:
    """Run indices of the median-cost run, the P95-cost run and the run with the most interruptions."""
    order = per_run["cost_usd"].sort_values(kind="stable").index.to_list()
    return {"median-cost run": int(order[len(order) // 2]), "P95-cost run": int(order[int(0.95 * (len(order) - 1))]),
            "most interruptions": int(per_run["interruptions"].idxmax())}


def example(i: int, run: Any, names: dict[str, str] | None = None) -> ReplayExample:
    """One run (with its timeline) as a Gantt example; ``names`` maps AZ IDs to zone names."""
    segments, interruptions, note = timeline_frames(run, names)
    caption = (f"Run {i}: ${run.cost_usd:,.0f}, {run.makespan_h:,.1f} h, {run.interruptions} interruptions, "
               f"{run.restarts} restarts, {run.checkpoints:,} checkpoints" + ("" if run.finished else " (unfinished)")
               + "." + note)
    return ReplayExample(caption=caption, segments=segments, interruptions=interruptions)


FRONTIER_COLUMNS = ("nodes", "head", "cost_mean_usd", "makespan_h", "simulated", "pareto", "plan", "deadline_hit_rate")


def frontier_frame(points: tuple[Any, ...]) -> pd.DataFrame:
    """The advisor's frontier (``spotplan.advisor.frontier.FrontierPoint``) as rows: ``makespan_h`` is the P95 where
    simulated, else the closed-form mean (as the advisor marks Pareto points)."""
    rows = [{"nodes": p.nodes, "head": p.head, "cost_mean_usd": p.cost_mean_usd, "makespan_h": p.p95_or_mean_h,
             "simulated": p.simulated, "pareto": p.pareto, "plan": p.plan, "deadline_hit_rate": p.deadline_hit_rate}
            for p in points]
    return pd.DataFrame(rows, columns=list(FRONTIER_COLUMNS))


def closed_form_frontier(options: list[Any], chosen: Any) -> pd.DataFrame:
    """The quick plan's frontier: each count's closed-form ladder head (``spotplan.advisor.scan.CountOption``),
    Pareto points marked like the advisor's (no replays: ``simulated`` False, no hit rate)."""
    from spotplan.advisor.frontier import FrontierPoint, mark_pareto

    pts = [FrontierPoint(nodes=o.nodes, head=f"{o.stage.ladder[0].instance_type} {o.stage.ladder[0].market.value}",
                         ladder=tuple(p.key for p in o.stage.ladder), cost_mean_usd=o.closed_form_usd,
                         cost_p95_usd=None, makespan_mean_h=o.closed_form_h, makespan_p95_h=None,
                         deadline_hit_rate=None, runs=0, simulated=False, feasible=False, plan=o is chosen)
           for o in options]
    return frontier_frame(tuple(mark_pareto(pts)))
