"""The dashboard's only calls into the advisor and the simulator, each cached with bounded entries.

Everything returned is plain data (frozen dataclasses of DataFrames, strings and numbers) so that
``st.cache_data`` can pickle it. Uploaded files are validated by the CLI's own loaders, so a bad file
raises the same ``SpotplanError`` (one line: file, record or field, value, expectation) as the CLI does.
Times are seconds, prices USD per hour, as in the modules called.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from spotplan.advisor.traces import with_deadline
from spotplan.dashboard import frames, regret
from spotplan.dashboard.inputs import Upload, WhatIf
from spotplan.errors import ConfigError, DataError, SpotplanError


@contextmanager
def _as_file(upload: Upload) -> Iterator[Path]:
    """The upload written under its own name in a private temp dir; loader messages then name the file as
    the user knows it (the temp dir prefix is stripped by ``_user_path``)."""
    with tempfile.TemporaryDirectory(prefix="spotplan-upload-") as tmp:
        path = Path(tmp) / upload_name(upload)
        path.write_bytes(upload.content)
        yield path


KEPT_ROOT = Path(tempfile.gettempdir()) / "spotplan-dashboard"
_KEPT_PREFIX = re.compile(re.escape(str(KEPT_ROOT)) + r"/[0-9a-f]{16}/")


def upload_name(upload: Upload) -> str:
    """The upload's file name without any folder; ConfigError for a name that is no file's (empty, ``.``, ``..``
    or hidden), which would otherwise name a folder or escape the one it is written to."""
    name = Path(upload.name).name
    if name in ("", ".", "..") or name.startswith("."):
        raise ConfigError(f"{upload.name!r}: not a file name; expected a file such as us-east-1c_v100_1.csv")
    return name


def _kept_file(upload: Upload) -> Path:
    """The upload stored by content hash so a plan's Scenario can still replay it after this call returns."""
    digest = hashlib.sha256(upload.content).hexdigest()[:16]
    folder = KEPT_ROOT / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / upload_name(upload)
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(upload.content)
        tmp.replace(path)
    return path


def _user_path(exc: Exception, path: Path) -> str:
    return str(exc).replace(str(path.parent) + "/", "")


def user_message(exc: Exception | str) -> str:
    """An error's (or a note's) text with kept uploads named as the user named them (no private temp folders)."""
    return _KEPT_PREFIX.sub("", str(exc))


@st.cache_data(max_entries=1, show_spinner=False)
def catalog_choices() -> tuple[list[str], list[str]]:
    """Regions and instance families of the embedded catalog (sidebar choices)."""
    from spotplan.simulator.market.catalog import load_catalog

    catalog = load_catalog()
    return catalog.regions(), catalog.families()


@st.cache_data(max_entries=8, show_spinner=False)
def price_table(upload: Upload) -> tuple[pd.DataFrame, list[str]]:
    """The normalised price table and loader warnings of an uploaded price history; DataError if malformed."""
    from spotplan.simulator.market.prices import load_price_history

    with _as_file(upload) as path:
        try:
            history = load_price_history(path)
        except (DataError, ConfigError) as exc:
            raise type(exc)(_user_path(exc, path)) from None
        warnings = [w.replace(str(path.parent) + "/", "") for w in history.warnings]
    if history.table.empty:
        raise DataError("holds no price records; expected describe-spot-price-history output", path=upload.name)
    return history.table, warnings


def validate_prices(upload: Upload) -> None:
    """Raise the loader's DataError when the uploaded price history is malformed."""
    price_table(upload)


@st.cache_data(max_entries=8, show_spinner=False)  # every widget change reruns the sidebar: parse each set once
def validate_traces(traces: tuple[Upload, ...], tick_prices: Upload | None) -> None:
    """Raise the loaders' one-line error when a trace, its zone, or the tick-price file does not load
    (the same checks as ``spotplan recommend --traces``: file name, catalog pool, one tick, aligned prices)."""
    from spotplan.simulator.trace_scenario import load_traces

    names = [upload_name(u) for u in traces]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{twice[0]}: uploaded twice; expected one file per zone")
    with tempfile.TemporaryDirectory(prefix="spotplan-upload-") as tmp:
        folder = Path(tmp)
        for u, n in zip(traces, names, strict=True):
            (folder / n).write_bytes(u.content)
        tick = None
        if tick_prices is not None:  # a folder of its own: a price file named like a trace must not replace it
            (folder / "prices").mkdir()
            tick = folder / "prices" / upload_name(tick_prices)
            tick.write_bytes(tick_prices.content)
        try:
            load_traces([folder / n for n in names], tick_prices=tick)
        except SpotplanError as exc:
            raise type(exc)(str(exc).replace(str(folder) + "/prices/", "").replace(str(folder) + "/", "")) from None


def validate_calibration(upload: Upload) -> str:
    """The calibration as canonical JSON (a cache key); ConfigError naming the file and field when invalid."""
    from spotplan.schemas.base import parse_yaml
    from spotplan.schemas.calibration import Calibration

    try:
        raw = parse_yaml(upload.content.decode("utf-8"), upload.name)
    except UnicodeDecodeError:
        raise ConfigError(f"{upload.name}: not UTF-8 text; expected a calibration YAML or JSON file") from None
    calibration = Calibration.from_dict(raw, source=upload.name)
    return json.dumps(calibration.model_dump(mode="json"), sort_keys=True)


@st.cache_data(max_entries=8, show_spinner=False)
def price_view(upload: Upload, instance_types: tuple[str, ...]) -> frames.PriceView:
    """Price lines of the uploaded history (the plan's instance types where present) and on-demand refs."""
    from spotplan.simulator.market.catalog import load_catalog

    table, warnings = price_table(upload)
    return frames.price_view(table, load_catalog(), instance_types, warnings)


ProgressFn = Callable[[float, str], None]
MAX_REMEMBERED = 8  # as many entries as the full-plan and replay caches keep


def _request(whatif: WhatIf, prices_path: Path | None) -> Any:
    """The advisor request. Inputs left at the advisor's defaults are passed as None, so the advisor states its
    own source for them and the plan (and its inputs hash) equals ``spotplan recommend``'s for the same options."""
    from spotplan.advisor.request import RecommendRequest
    from spotplan.advisor.savecost import DEFAULT_PERSIST_BYTES_PER_S, NOTICE_S
    from spotplan.advisor.sizing import DEFAULT_MFU
    from spotplan.schemas.calibration import Calibration
    from spotplan.schemas.plan import TrainingMode

    calibration = None if whatif.calibration_json is None else Calibration.from_dict(
        json.loads(whatif.calibration_json), source="calibration upload")
    bandwidth = None if calibration or whatif.save_bandwidth_bytes_per_s == DEFAULT_PERSIST_BYTES_PER_S \
        else whatif.save_bandwidth_bytes_per_s
    return RecommendRequest(
        model_size=whatif.model_size, mode=TrainingMode(whatif.mode), tokens=whatif.tokens,
        deadline_h=whatif.deadline_h, regions=whatif.regions, families=whatif.families,
        mfu=None if whatif.mfu == DEFAULT_MFU else whatif.mfu, save_bandwidth_bytes_per_s=bandwidth,
        calibration=calibration, interruption_multiplier=whatif.interruption_multiplier,
        price_multiplier=whatif.price_multiplier,
        notice_s=None if whatif.notice_s == NOTICE_S["aws"] else whatif.notice_s, interval_s=whatif.interval_s,
        runs=whatif.runs, seed=whatif.seed, prices_path=prices_path,
        traces=tuple(str(_kept_file(u)) for u in whatif.traces), tick_prices_path=kept_path(whatif.tick_prices),
    )


def _prices_path(prices: Upload | None) -> Path | None:
    return None if prices is None else _kept_file(prices)


def kept_path(upload: Upload | None) -> str | None:
    """Where an upload is kept for replays (a cache key: the folder is its content hash); None without one."""
    return None if upload is None else str(_kept_file(upload))


@st.cache_data(max_entries=64, show_spinner=False)
def quick_view(whatif: WhatIf, prices: Upload | None) -> frames.PlanView:
    """The quick plan (advisor closed form + numpy fast path, well under a second); SpotplanError on bad input."""
    from spotplan.dashboard.quickplan import FIRST_RUNG_NOTE, quick_plan, summarise

    q = quick_plan(_request(whatif, _prices_path(prices)))
    comparison = summarise(q.samples)
    plan_samples = q.samples[q.samples["option"] == "plan"]
    return frames.PlanView(
        source="quick", note=FIRST_RUNG_NOTE,
        headline=frames.quick_headline(comparison, q.interval_s, whatif.runs, whatif.seed), plan_id=None,
        comparison=comparison, ladder=frames.option_ladder_frame(q.ladder), sweep=q.sweep,
        marks_min=frames.marks(q.young_s, q.daly_s, q.interval_s),
        interval_note="set by hand" if whatif.interval_s else f"Daly's optimum for {q.first_rung}",
        reasons=[], warnings=[], assumptions=None, plan_yaml=None, skypilot_yaml=None, torchrun=None,
        scenario_json=_scenario_json(q), fast=_fast_frame(plan_samples),
        instance_types=tuple(dict.fromkeys(p.instance_type for p in q.ladder)), frontier=q.frontier,
    )


def _scenario_json(q: Any) -> str:
    from spotplan.advisor.scoring import to_scenario

    return str(to_scenario(q.config, q.settings).model_dump_json())


def _fast_frame(samples: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"cost_usd": samples["cost_usd"].to_numpy(), "makespan_h": samples["makespan_h"].to_numpy(),
                         "source": "numpy fast path (first rung alone)"})


@st.cache_data(max_entries=MAX_REMEMBERED, show_spinner=False)
def full_view(whatif: WhatIf, prices: Upload | None) -> frames.PlanView:
    """The advisor's plan (SimPy-scored finalists and baselines) reshaped for the page; seconds to minutes."""
    from spotplan.advisor.api import recommend

    rec = recommend(_request(whatif, _prices_path(prices)), progress=False)
    plan = rec.plan
    quick = quick_view(whatif, prices)
    return frames.PlanView(
        source="advisor", note=f"advisor: SimPy replays of the whole ladder, {plan.expected.runs} runs per option",
        headline=frames.expected_headline(plan.expected, plan.checkpoint_interval_s), plan_id=plan.plan_id,
        comparison=frames.comparison_frame(plan.expected, rec.baselines), ladder=frames.ladder_frame(list(plan.ladder)),
        sweep=frames.sweep_frame(rec.interval_sweep),
        marks_min={**{k: v for k, v in quick.marks_min.items() if k != "chosen"},
                   "chosen": plan.checkpoint_interval_s / 60.0},
        interval_note="set by hand" if whatif.interval_s else "Daly's optimum, refined on the SimPy replays",
        reasons=list(rec.reasons), warnings=list(rec.warnings),
        assumptions=frames.assumptions_frame(list(plan.assumptions)),
        plan_yaml=yaml.safe_dump(plan.model_dump(mode="json"), sort_keys=False),
        # the task and the command name the plan file as the download button saves it
        skypilot_yaml=rec.to_skypilot_yaml(f"plan-{plan.plan_id}.yaml"),
        torchrun=rec.torchrun_command(f"plan-{plan.plan_id}.yaml"),
        scenario_json=rec.scenario.model_dump_json(), fast=quick.fast,
        instance_types=tuple(dict.fromkeys(p.instance_type for p in plan.ladder)),
        frontier=frames.frontier_frame(rec.frontier),
    )


def _key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _remember(slot: str, key: str) -> None:
    done = st.session_state.setdefault(slot, [])
    if key not in done:
        done.append(key)
    del done[:-MAX_REMEMBERED]


def remember_full(whatif: WhatIf, prices: Upload | None) -> None:
    """Mark these inputs as planned by the full advisor, so later reruns show that plan (from the cache)."""
    _remember("full_planned", _key(whatif, prices))


def current_full(whatif: WhatIf, prices: Upload | None) -> frames.PlanView | None:
    """The full advisor plan for these inputs if the user asked for it, else None."""
    if _key(whatif, prices) not in st.session_state.get("full_planned", []):
        return None
    return full_view(whatif, prices)


REPLAY_STEPS = 20  # progress updates per replay


def replay_chunks(runs: int) -> list[tuple[int, int]]:
    """[start, stop) run ranges of a replay; each is computed and cached on its own so the page can show progress."""
    size = max(1, -(-runs // REPLAY_STEPS))
    return [(a, min(a + size, runs)) for a in range(0, runs, size)]


def _compiled(scenario_json: str) -> Any:
    from spotplan.schemas.scenario import Scenario
    from spotplan.simulator.compile import compile_scenario

    return compile_scenario(Scenario.model_validate_json(scenario_json))


@st.cache_data(max_entries=MAX_REMEMBERED * REPLAY_STEPS, show_spinner=False)
def replay_chunk(scenario_json: str, seed: int, start: int, stop: int) -> tuple[Any, ...]:
    """RunResults (without timelines) of runs ``start``..``stop - 1``; run ``i`` uses the simulator's
    ``run_rng(seed, i)``, so the figures equal ``spotplan simulate``'s for the same scenario and seed."""
    from spotplan.simulator.model import simulate_once
    from spotplan.simulator.montecarlo import run_rng

    cs = _compiled(scenario_json)
    return tuple(simulate_once(cs, run_rng(seed, i), keep_timeline=False) for i in range(start, stop))


def run_replay(scenario_json: str, runs: int, seed: int, progress: ProgressFn) -> None:
    """Compute (or find cached) every chunk of a replay, reporting progress between chunks."""
    chunks = replay_chunks(runs)
    for k, (start, stop) in enumerate(chunks, 1):
        replay_chunk(scenario_json, seed, start, stop)
        progress(k / len(chunks), f"SimPy replay: {stop} of {runs} runs")


@st.cache_data(max_entries=MAX_REMEMBERED, show_spinner=False)
def replay(scenario_json: str, runs: int, seed: int) -> frames.ReplayView:
    """SimPy Monte Carlo of a plan's Scenario, summarised by the simulator, with three example timelines.

    Only the example runs are re-simulated with their timelines (a long job's timeline holds tens of
    thousands of intervals).
    """
    from spotplan.simulator.model import simulate_once
    from spotplan.simulator.montecarlo import MonteCarloResult, run_rng

    t0 = time.perf_counter()
    results = [r for a, b in replay_chunks(runs) for r in replay_chunk(scenario_json, seed, a, b)]
    cs = _compiled(scenario_json)
    mc = MonteCarloResult(scenario=cs, seed=seed, workers=1, results=tuple(results),
                          elapsed_s=time.perf_counter() - t0)
    s = mc.summary()
    per_run = frames.per_run_frame(results)
    from spotplan.simulator.market.catalog import load_catalog

    names = frames.zone_names(load_catalog())
    examples = {name: frames.example(i, simulate_once(cs, run_rng(seed, i), keep_timeline=True), names)
                for name, i in frames.example_picks(per_run).items()}
    summary = {"cost_mean_usd": s["cost_usd"]["mean"], "cost_p95_usd": s["cost_usd"]["p95"],
               "makespan_mean_h": s["makespan_h"]["mean"], "makespan_p95_h": s["makespan_h"]["p95"],
               "interruptions_mean": s["mean_counts"]["interruptions"]}
    return frames.ReplayView(per_run=per_run[["cost_usd", "makespan_h"]], summary=summary, examples=examples,
                             breakdown=frames.breakdown_frame(s, names))


def remember_replay(view: frames.PlanView, whatif: WhatIf) -> None:
    """Mark the current plan as replayed so later reruns show its (cached) replay."""
    _remember("replayed", _key(view.scenario_json, whatif.runs, whatif.seed))


def current_replay(view: frames.PlanView, whatif: WhatIf) -> frames.ReplayView | None:
    """The replay of the current plan if the user ran it (from the cache), else None."""
    if _key(view.scenario_json, whatif.runs, whatif.seed) not in st.session_state.get("replayed", []):
        return None
    return replay(view.scenario_json, whatif.runs, whatif.seed)


@st.cache_resource(max_entries=2, show_spinner=False)
def _regret_scenario(scenario_json: str, tick_prices_path: str | None) -> Any:
    """The plan's compiled Scenario, its trace rungs priced per tick when a tick-price file was uploaded (as
    ``spotplan simulate --tick-prices``); shared, never mutated, so every window reuses one compilation."""
    cs = _compiled(scenario_json)
    if tick_prices_path is None:
        return cs
    regret.check_replayable(cs)  # say what the plan lacks before pricing its (absent) trace rungs
    from spotplan.simulator.trace_scenario import attach_tick_prices

    return attach_tick_prices(cs, tick_prices_path)


@st.cache_data(max_entries=MAX_REMEMBERED, show_spinner=False)
def regret_setup(scenario_json: str, tick_prices_path: str | None) -> regret.RegretSetup:
    """The windows the plan's regret is measured on; ConfigError (one line) without a deadline, with a spot
    rung not replayed from a trace, or with a deadline longer than the traces."""
    return regret.regret_setup(_regret_scenario(scenario_json, tick_prices_path))


@st.cache_data(max_entries=MAX_REMEMBERED * regret.REGRET_WINDOWS, show_spinner=False)
def regret_window(scenario_json: str, tick_prices_path: str | None, seed: int, index: int,
                  offset_s: float) -> regret.RegretWindow:
    """One window's SimPy replay and offline optimum (~1 s per 40 h window), cached on its own for progress."""
    return regret.measure_window(_regret_scenario(scenario_json, tick_prices_path), seed, index, offset_s)


def run_regret(scenario_json: str, tick_prices_path: str | None, seed: int, progress: ProgressFn) -> None:
    """Compute (or find cached) every window of the regret, reporting progress between windows."""
    offsets = regret_setup(scenario_json, tick_prices_path).offsets_s
    for i, off in enumerate(offsets):
        regret_window(scenario_json, tick_prices_path, seed, i, off)
        progress((i + 1) / len(offsets), f"Regret: window {i + 1} of {len(offsets)} (replay and optimum)")


@st.cache_data(max_entries=MAX_REMEMBERED, show_spinner=False)
def regret_result(scenario_json: str, tick_prices_path: str | None, seed: int) -> regret.RegretView:
    """The plan's regret on its windows, from the cached windows."""
    setup = regret_setup(scenario_json, tick_prices_path)
    windows = [regret_window(scenario_json, tick_prices_path, seed, i, off) for i, off in enumerate(setup.offsets_s)]
    return regret.regret_view(setup, windows, seed)


def regret_inputs(view: frames.PlanView, whatif: WhatIf) -> tuple[str, str | None, int]:
    """The cache key of the current plan's regret: its Scenario (with the sidebar's deadline where the plan
    states none, ``advisor.traces.with_deadline``), the kept tick-price file and the seed."""
    return with_deadline(view.scenario_json, whatif.deadline_h), kept_path(whatif.tick_prices), whatif.seed


def remember_regret(view: frames.PlanView, whatif: WhatIf) -> None:
    """Mark the current plan's regret as measured so later reruns show it (from the cache)."""
    _remember("regret_measured", _key(*regret_inputs(view, whatif)))


def current_regret(view: frames.PlanView, whatif: WhatIf) -> regret.RegretView | None:
    """The current plan's regret if the user measured it (from the cache), else None."""
    inputs = regret_inputs(view, whatif)
    if _key(*inputs) not in st.session_state.get("regret_measured", []):
        return None
    return regret_result(*inputs)
