"""The offline optimum on real replays: never above a policy's cost on the same replay, regret, windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spotplan.errors import ConfigError
from spotplan.schemas.scenario import DeadlinePolicy, Scenario
from spotplan.simulator.compile import CompiledScenario
from spotplan.simulator.model import simulate_once
from spotplan.simulator.optimum_replay import optimum_for_replay, problem_for_replay
from spotplan.simulator.trace_scenario import (
    check_window,
    compile_on_traces,
    load_traces,
    tiling_offsets_s,
    trace_pool_specs,
)
from spotplan.simulator.windows import regret, simulate_windows

ZONES = ("us-east-1c", "us-east-2b", "us-west-2a")


def _compiled(shared: Path, policy: DeadlinePolicy, *, work_h: float = 12.0, deadline_h: float = 18.0,
              checkpoint_bytes: int = 50_000_000_000) -> CompiledScenario:
    sky = shared / "skynomad"
    traces = load_traces([sky / "aws_v100_availability_2023-02-15" / f"{z}_v100_1.csv" for z in ZONES],
                         tick_prices=sky / "v100_spot_prices.json")
    pools = trace_pool_specs(traces) + [{"instance_type": "p3.2xlarge", "region": "us-east-1",
                                         "market": "on-demand", "price": {"kind": "catalog"}}]
    sc = Scenario.model_validate({
        "schema_version": 1, "name": "optimum-bound", "job": {"work_h": work_h},
        "checkpoint": {"save_blocking_s": 30, "persist_background_s": 60, "restore_s": 300,
                       "checkpoint_bytes": checkpoint_bytes},
        "changeover": {"provisioning_s": 240, "setup_s": 180}, "ladder": {"recovery": "eager-next-region"},
        "deadline": {"policy": policy.value, "deadline_h": deadline_h}, "replay": {"end_policy": "clamp"},
        "pools": pools,
    })
    return compile_on_traces(sc, traces)


@pytest.mark.parametrize("policy", [p for p in DeadlinePolicy if p is not DeadlinePolicy.NONE])
def test_optimum_is_a_lower_bound_on_real_windows(shared_data: Path, policy: DeadlinePolicy) -> None:
    """On seven real 18 h windows (random, tick-unaligned starts), the optimum never exceeds the policy's cost."""
    cs = _compiled(shared_data, policy)
    rng = np.random.default_rng(13)
    assert cs.replay_span_s is not None
    offsets = rng.uniform(0.0, cs.replay_span_s - cs.deadline_s, 7)
    met = 0
    for off in offsets:
        r = simulate_once(cs, np.random.default_rng(0), float(off), keep_timeline=False)
        opt = optimum_for_replay(cs, float(off))
        assert opt.feasible
        if r.deadline_met:
            met += 1
            assert opt.cost_usd <= r.cost_usd + 1e-9, (off, opt.cost_usd, r.cost_usd)
    assert met >= 5


def test_finer_steps_tighten_the_bound_only_a_little(shared_data: Path) -> None:
    """Halving the step moves the bound by under 5%: the discretisation's slack is small."""
    cs = _compiled(shared_data, DeadlinePolicy.UNIFORM_PROGRESS, work_h=6.0, deadline_h=9.0)
    from spotplan.simulator.optimum import solve

    tick = 195.0
    coarse = solve(problem_for_replay(cs, 30 * 3600.0, step_s=tick / 4)).cost_usd
    fine = solve(problem_for_replay(cs, 30 * 3600.0, step_s=tick / 8)).cost_usd
    assert fine == pytest.approx(coarse, rel=0.05)


def test_regret_over_tiled_windows(shared_data: Path) -> None:
    """Regret over three tiled windows is the mean of per-window cost / optimum, each at least 1."""
    cs = _compiled(shared_data, DeadlinePolicy.UNIFORM_PROGRESS)
    assert cs.replay_span_s is not None
    offsets = tiling_offsets_s(cs.replay_span_s, cs.deadline_s)[:3]
    assert offsets == [0.0, 18 * 3600.0, 36 * 3600.0]
    mc = simulate_windows(cs, offsets)
    rg = regret(mc)
    ratios = [p / o for p, o, m in zip(rg.plan_usd, rg.optimum_usd, rg.met, strict=True) if m]
    assert ratios and min(ratios) >= 1.0
    assert rg.mean_ratio == pytest.approx(float(np.mean(ratios)))


def test_windows_off_the_trace_are_refused() -> None:
    """A window ending past the trace, or longer than it, is one clear ConfigError."""
    with pytest.raises(ConfigError, match="past the end of the trace"):
        check_window(100 * 3600.0, 50 * 3600.0, 60 * 3600.0, "s.yaml")
    with pytest.raises(ConfigError, match="longer than the trace"):
        tiling_offsets_s(10 * 3600.0, 60 * 3600.0)


def test_a_gang_optimum_refunds_one_node_and_stays_a_lower_bound() -> None:
    """The 4-node Can't Be Late gang example (72 h deadline, 50 GB): a free first hour refunds the reclaimed node's
    share only, so the optimum is higher than one refunding the whole gang, and still no policy pays less."""
    import dataclasses

    import yaml

    from spotplan.errors import SpotplanError
    from spotplan.paths import data_dir
    from spotplan.simulator.compile import compile_scenario
    from spotplan.simulator.montecarlo import run_rng
    from spotplan.simulator.optimum import solve

    ex = data_dir() / "examples"
    doc = yaml.safe_load((ex / "cbl-4node-gang.yaml").read_text())
    doc["checkpoint"]["checkpoint_bytes"] = 50 * 10**9
    costs = []
    for policy in ("cost-aware", "greedy", "uniform-progress"):
        doc["deadline"] = {"policy": policy, "deadline_h": 72.0}
        try:
            cs = compile_scenario(Scenario.from_dict(doc, source="gang"), base_dir=ex, source="gang")
        except SpotplanError as exc:  # the example replays public traces
            pytest.skip(f"the example's traces are absent: {exc}")
        r = simulate_once(cs, run_rng(0, 0), 72 * 3600.0, keep_timeline=False)
        assert r.deadline_met, policy
        costs.append(r.cost_usd)
    pb = problem_for_replay(cs, 72 * 3600.0)
    assert {p.refund_share for p in pb.pools} == {0.25}
    whole = solve(dataclasses.replace(pb, pools=tuple(dataclasses.replace(p, refund_share=1.0) for p in pb.pools)))
    one = solve(pb)
    assert whole.cost_usd < one.cost_usd <= min(costs) + 1e-9


def test_an_elastic_gang_is_not_measured_against_the_full_width_optimum() -> None:
    """The 16-node elastic example: running narrower can cost less per unit of progress than the full gang the
    programme models, so its figure would not bound the run; the optimum says so in one line instead."""
    import yaml

    from spotplan.errors import SpotplanError
    from spotplan.paths import data_dir
    from spotplan.simulator.compile import compile_scenario

    ex = data_dir() / "examples"
    doc = yaml.safe_load((ex / "cbl-16node-elastic.yaml").read_text())
    doc["deadline"] = {"policy": "none", "deadline_h": 150.0}
    try:
        cs = compile_scenario(Scenario.from_dict(doc, source="elastic"), base_dir=ex, source="elastic")
    except SpotplanError as exc:  # the example replays public traces
        pytest.skip(f"the example's traces are absent: {exc}")
    with pytest.raises(ConfigError, match="elastic gang.*full width only"):
        problem_for_replay(cs, 0.0)
