"""Scoring on worker processes gives the figures of scoring in one process, stopping rule included."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from spotplan.advisor.api import recommend
from spotplan.advisor.request import RecommendRequest
from spotplan.advisor.scoring import (
    Config,
    ScoringPool,
    can_fork,
    hopeless_at,
    score,
    score_many,
    worker_count,
)
from spotplan.errors import ConfigError
from tests.advisor.test_optimize import _exp_pool, _settings

pytestmark = pytest.mark.skipif(not can_fork(), reason="worker processes are forked")


def _configs() -> list[Config]:
    out = []
    for mtbf_h, tau in ((4.0, 1800.0), (0.4, 600.0), (0.15, 900.0), (1.0, 3600.0)):
        out.append(Config(name=f"m{mtbf_h}-t{tau:.0f}", ladder=(_exp_pool(mtbf_h),), interval_s=tau,
                          recovery="failover", deadline_policy="none"))
    return out


def _same(a, b) -> None:
    assert a.config == b.config
    assert a.cut_runs == b.cut_runs and a.expected.runs == b.expected.runs
    np.testing.assert_array_equal(a.cost_usd, b.cost_usd)
    np.testing.assert_array_equal(a.makespan_h, b.makespan_h)
    assert a.expected == b.expected


@pytest.mark.parametrize("horizon_h", [300.0, 100.0, 75.0])
def test_worker_count_does_not_change_a_figure(horizon_h: float) -> None:
    """1, 2 and 3 workers (and one by one) give the same runs, cut runs and figures, with and without cuts."""
    s = replace(_settings(120.0, runs=40), horizon_h=horizon_h)
    one = [score(c, s) for c in _configs()]
    if horizon_h == 75.0:  # the short horizon cuts some configurations: they stop early, the others do not
        assert any(0 < x.expected.runs < 40 for x in one) and any(x.expected.runs == 40 for x in one)
    for workers in (1, 2, 3):
        for a, b in zip(one, score_many(_configs(), s, workers=workers), strict=True):
            _same(a, b)
    with ScoringPool(2) as pool:  # one pool shared by two calls, as the search does
        for _ in range(2):
            for a, b in zip(one, score_many(_configs(), s, pool=pool), strict=True):
                _same(a, b)


def test_stop_is_the_first_run_past_the_cut_share() -> None:
    """Scoring stops at the run where the cut runs first exceed 5% of all runs, counted in run order."""
    assert hopeless_at([False] * 10, 40) is None
    assert hopeless_at([True, False, True, False, True], 40) == 4  # 3 cut > 5% of 40 (2 is not)
    assert hopeless_at([False, True, True, True], 48) == 3  # 3 cut > 2.4


def test_recommend_is_the_same_on_one_and_two_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole search (baselines, variants, interval refinement) on 1 and 2 workers: the same document."""
    docs = []
    for workers in ("1", "2"):
        monkeypatch.setenv("SPOTPLAN_WORKERS", workers)
        d = recommend(RecommendRequest(model_size="7B", runs=16)).to_json()
        d["plan"].pop("created_utc", None)
        docs.append(d)
    assert docs[0] == docs[1]


def test_workers_variable_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTPLAN_WORKERS", "3")
    assert worker_count() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("SPOTPLAN_WORKERS", bad)
        with pytest.raises(ConfigError, match="SPOTPLAN_WORKERS"):
            worker_count()


def test_a_dead_worker_fails_the_scoring_rather_than_hanging() -> None:
    """A worker killed mid-task (out of memory, say) raises instead of waiting for its lost task for ever."""
    import os
    import signal

    s = replace(_settings(120.0, runs=40), horizon_h=300.0)
    with ScoringPool(2) as pool:
        os.kill(pool.pids[0], signal.SIGKILL)
        with pytest.raises(RuntimeError, match="worker process died"):
            score_many(_configs(), s, pool=pool)


def test_a_baseline_stops_at_its_first_cut_run() -> None:
    """With ``first_cut`` a configuration stops at its first cut run, on any number of workers."""
    assert hopeless_at([False, False, True, True], 48, first_cut=True) == 2
    s = replace(_settings(120.0, runs=40), horizon_h=75.0)
    flags = [True] * len(_configs())
    one = score_many(_configs(), s, workers=1, first_cut=flags)
    assert any(x.cut_runs == 1 and x.expected.runs < 40 for x in one)
    assert all(x.cut_runs <= 1 for x in one)
    for a, b in zip(one, score_many(_configs(), s, workers=2, first_cut=flags), strict=True):
        _same(a, b)


def test_no_fork_while_another_thread_runs() -> None:
    """A second thread (a progress bar's refresh, a server) makes the advisor score in one process, never fork."""
    import threading

    from spotplan.advisor.scoring import ScoringPool, can_fork, scoring_pool

    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert not can_fork()
        with scoring_pool(2) as pool:
            assert pool is None
    finally:
        stop.set()
        t.join(timeout=5)
    if can_fork():  # a single-threaded process again (the usual CLI case)
        with scoring_pool(2) as pool:
            assert isinstance(pool, ScoringPool) and len(pool.pids) == 2
