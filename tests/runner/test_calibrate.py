"""Calibration: measured snapshot/persist/restore fits, the written file, and its effect on the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotplan.runner.calibrate import calibrate, disk_of, fit_linear, render
from spotplan.schemas.calibration import Calibration, LinearCostFit


def test_fit_recovers_a_known_line() -> None:
    """time = 0.5 s + bytes / 2e8 B/s is recovered exactly from three points."""
    xs = [1e6, 1e7, 1e8]
    fit = fit_linear(xs, [0.5 + x / 2e8 for x in xs])
    assert fit.overhead_s == pytest.approx(0.5) and fit.bandwidth_bytes_per_s == pytest.approx(2e8)
    assert fit.r2 == pytest.approx(1.0)


def test_fit_never_returns_negative_overhead() -> None:
    """A negative least-squares intercept is replaced by a fit through the origin (overhead 0, bandwidth > 0)."""
    fit = fit_linear([1e6, 2e6, 3e6], [0.001, 0.01, 0.012])
    assert fit.overhead_s == 0.0 and fit.bandwidth_bytes_per_s > 0


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Calibration, Path]:
    out = tmp_path_factory.mktemp("cal") / "calibration.json"
    return calibrate(["tiny", "small"], device="cpu", out=out, checkpoint_dir=None, repeats=1), out


def test_calibrate_writes_a_loadable_file(measured: tuple[Calibration, Path]) -> None:
    """The file validates as Calibration, records machine/device/disk, and its points grow with size."""
    cal, out = measured
    loaded = Calibration.load(out)
    assert loaded == cal and loaded.schema_version == 1
    assert [p.state_bytes for p in cal.points] == sorted(p.state_bytes for p in cal.points)
    assert cal.points[0].state_bytes < cal.points[1].state_bytes
    assert all(p.persist_s > 0 and p.restore_s > 0 for p in cal.points)
    assert cal.machine.device == "cpu" and cal.machine.cpu_count >= 1 and cal.machine.torch_version
    assert not list(out.parent.glob(".calibrate-*")), "temporary checkpoint directory left behind"


def test_render_flags_extrapolation(measured: tuple[Calibration, Path]) -> None:
    """Predictions beyond the largest measured state say EXTRAPOLATED; those inside do not."""
    cal, _ = measured
    text = render(cal, [cal.max_measured_bytes / 2, 1e10])
    inside, outside = text.splitlines()[-2:]
    assert "within the measured range" in inside and "EXTRAPOLATED" in outside


def test_disk_of_names_the_filesystem(tmp_path: Path) -> None:
    """The disk description names a mount point that contains the directory."""
    desc = disk_of(tmp_path)
    assert " on /" in desc


def test_calibrate_cli(tmp_path: Path, run_cli) -> None:
    """``spotplan calibrate`` writes the file and prints the fits and the extrapolation note."""
    out = tmp_path / "c.json"
    code, stdout, err = run_cli("calibrate", "--sizes", "tiny", "--sizes", "small", "--repeats", "1",
                                "--device", "cpu", "--out", str(out))
    assert code == 0, err
    assert Calibration.load(out).points and "fit persist" in stdout and "EXTRAPOLATED" in stdout
    code, _, err = run_cli("calibrate", "--sizes", "smal", "--out", str(out))
    assert code == 2 and "did you mean" in err


def _scaled(cal: Calibration, factor: float) -> Calibration:
    """The measured snapshot fit scaled ``factor`` times slower, used for persist and restore too: every time
    the plan depends on is then fixed by the scaling, not by how loaded this machine was while measuring (a
    separately measured restore moved the head pool, and with it the interval, between two runs)."""
    snap = LinearCostFit(overhead_s=cal.snapshot.overhead_s * factor,
                         bandwidth_bytes_per_s=cal.snapshot.bandwidth_bytes_per_s / factor)
    return cal.model_copy(update={"snapshot": snap, "persist": snap, "restore": snap})


def test_calibration_moves_the_planned_interval_as_theory_says(measured: tuple[Calibration, Path]) -> None:
    """A calibration with 16x slower saves lengthens the plan's checkpoint_interval_s, as Young/Daly say (~sqrt(16)).

    The notice is set to 0 s: with AWS's 120 s notice a 5 s save fits an emergency save, which (rightly) makes
    longer intervals cheap and is a different regime from the one Young and Daly describe.
    """
    from spotplan.advisor import api
    from spotplan.advisor.request import RecommendRequest

    cal, _ = measured

    def recommend(c: Calibration):  # one node: slower saves would otherwise make a 2-node gang (half a save each) win
        return api.recommend(RecommendRequest(model_size="1B", calibration=c, notice_s=0.0, runs=16, seed=0, nodes=1))

    # Scale the measured fits so the 1B stall is 5 s, then 80 s, independent of how fast this machine's disk was.
    unit = 5.0 / recommend(_scaled(cal, 1.0)).plan.save_blocking_s
    fast, slow = recommend(_scaled(cal, unit)), recommend(_scaled(cal, 16 * unit))
    assert fast.plan.save_blocking_s == pytest.approx(5.0, rel=1e-3)
    assert slow.plan.save_blocking_s == pytest.approx(80.0, rel=1e-3)
    assert slow.plan.ladder[0] == fast.plan.ladder[0]  # the same head pool: one MTBF on both sides
    ratio = slow.daly_interval_s / fast.daly_interval_s
    assert 3.0 < ratio < 4.5, ratio  # Daly: interval ~ sqrt(2 delta M) - delta + ..., sqrt(16) = 4
    planned = slow.plan.checkpoint_interval_s / fast.plan.checkpoint_interval_s
    assert 2.0 < planned < 8.0, planned  # the plan itself moves the same way, within the SimPy refinement's x2


@pytest.mark.distributed
def test_calibrate_at_a_world_size_of_two(tmp_path: Path, run_cli) -> None:
    """``calibrate --nproc 2`` measures the sharded saver under torchrun and records world size and backend."""
    out = tmp_path / "cal.json"
    code, stdout, err = run_cli("calibrate", "--nproc", "2", "--sizes", "tiny", "--sizes", "small", "--repeats", "1",
                                "--out", str(out))
    assert code == 0, err
    cal = Calibration.load(out)
    assert cal.machine.world_size == 2 and cal.machine.backend == "gloo" and len(cal.points) == 2
    assert all(p.persist_s > 0 and p.restore_s > 0 for p in cal.points)
    assert "2 processes (gloo)" in stdout
