"""Published anchors the regression suite checks beside the recorded baselines (reference §13).

Daly (2006) validated his higher-order interval (eq. 37) with δ = 5 min, R = 10 min, T_s = 500 h: τ_opt = 117, 57
and 9.1 min for M = 24 h, 6 h and 15 min. The expected wall times of his complete model at those optima (547.9,
610.2 and 2504 h) and a 200-run Monte Carlo of the exponential case at M = 6 h (610.2 h) are derived figures in
the reference. Unlike a baseline, an anchor is never re-recorded: ``--update`` cannot paper over a broken formula.
Intervals are minutes, wall times hours; tolerances are absolute and match the precision the value was published at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from spotplan.regress.compare import FigureRow, ScenarioOutcome, Status, ToleranceKind

ANCHOR_NAME = "anchor-daly-2006"
SAVE_S, RESTART_S, WORK_S = 300.0, 600.0, 500 * 3600.0
MC_RUNS, MC_SEED = 200, 20061


@dataclass(frozen=True, slots=True, kw_only=True)
class Anchor:
    """One published figure and how to recompute it."""

    figure: str
    label: str
    unit: str
    published: float
    tolerance: float
    compute: Callable[[], float]


def _tau_min(mtbf_h: float) -> Callable[[], float]:
    def f() -> float:
        from spotplan.simulator.theory import daly_interval_s

        return daly_interval_s(SAVE_S, mtbf_h * 3600.0) / 60.0

    return f


def _wall_h(mtbf_h: float) -> Callable[[], float]:
    def f() -> float:
        from spotplan.simulator.theory import daly_expected_wall_s, daly_interval_s

        m = mtbf_h * 3600.0
        return daly_expected_wall_s(WORK_S, daly_interval_s(SAVE_S, m), SAVE_S, RESTART_S, m) / 3600.0

    return f


def _mc_wall_h() -> float:
    from spotplan.simulator.fastpath import simulate_exponential
    from spotplan.simulator.theory import daly_interval_s

    m = 6 * 3600.0
    runs = simulate_exponential(WORK_S, daly_interval_s(SAVE_S, m), SAVE_S, RESTART_S, m, MC_RUNS,
                                np.random.default_rng(MC_SEED))
    return float(runs.mean()) / 3600.0


ANCHORS: tuple[Anchor, ...] = (
    Anchor(figure="tau_m24h_min", label="Daly τ_opt, M=24 h", unit="min", published=117.0, tolerance=0.5,
           compute=_tau_min(24.0)),
    Anchor(figure="tau_m6h_min", label="Daly τ_opt, M=6 h", unit="min", published=57.0, tolerance=0.5,
           compute=_tau_min(6.0)),
    Anchor(figure="tau_m15min_min", label="Daly τ_opt, M=15 min", unit="min", published=9.1, tolerance=0.05,
           compute=_tau_min(0.25)),
    Anchor(figure="wall_m24h_h", label="T_w at τ_opt, M=24 h", unit="h", published=547.9, tolerance=0.1,
           compute=_wall_h(24.0)),
    Anchor(figure="wall_m6h_h", label="T_w at τ_opt, M=6 h", unit="h", published=610.2, tolerance=0.1,
           compute=_wall_h(6.0)),
    Anchor(figure="wall_m15min_h", label="T_w at τ_opt, M=15 min", unit="h", published=2504.0, tolerance=1.0,
           compute=_wall_h(0.25)),
    # 200 runs: standard error ~0.5 h, so ±1.6 h is ~3 standard errors around the closed form.
    Anchor(figure="mc_wall_m6h_h", label="Monte Carlo T_w, M=6 h, 200 runs", unit="h", published=610.2,
           tolerance=1.6, compute=_mc_wall_h),
)


def check_anchors() -> ScenarioOutcome:
    """Recompute every anchor; FAIL naming the published source when one no longer reproduces."""
    rows = []
    for a in ANCHORS:
        now = a.compute()
        delta = now - a.published
        rows.append(FigureRow(scenario=ANCHOR_NAME, figure=a.figure, label=a.label, unit=a.unit,
                              baseline=a.published, now=now, delta=delta, delta_rel=delta / a.published,
                              tolerance=a.tolerance, kind=ToleranceKind.ABSOLUTE,
                              passed=abs(delta) <= a.tolerance + 1e-12))
    ok = all(r.passed for r in rows)
    why = ("published anchor (Daly 2006, FGCS 22(3); reference §2.2 and §13) no longer reproduced: "
           "simulator/theory.py or simulator/fastpath.py changed the formulas, not an assumption")
    notes = () if ok else (why,)
    return ScenarioOutcome(name=ANCHOR_NAME, status=Status.PASS if ok else Status.FAIL, rows=tuple(rows),
                           notes=notes)
