"""A calibration measured elsewhere than the plan runs is said in one line, with how far it is extrapolated."""

from __future__ import annotations

from spotplan.advisor.narrative import calibration_note
from spotplan.advisor.savecost import SaveCosts
from spotplan.schemas.calibration import Calibration, CalibrationPoint, LinearCostFit, MachineInfo


def _cal(device: str, max_bytes: int) -> Calibration:
    fit = LinearCostFit(overhead_s=0.01, bandwidth_bytes_per_s=1e9)
    return Calibration(created_utc="2026-11-01T00:00:00Z", machine=MachineInfo(platform="linux", device=device),
                       points=[CalibrationPoint(state_bytes=300_000, snapshot_s=0.01, persist_s=0.02, restore_s=0.02),
                               CalibrationPoint(state_bytes=max_bytes, snapshot_s=0.01, persist_s=0.03,
                                                restore_s=0.03)],
                       snapshot=fit, persist=fit, restore=fit)


class _Pool:
    gpu_model = "H100"
    gpus_per_node = 8
    nodes = 1


def test_cpu_calibration_on_p5_says_device_world_and_factor() -> None:
    """A 1.5 MB CPU calibration applied to a 94 GB p5 checkpoint names all three differences in one line."""
    costs = SaveCosts(bytes_per_node=94_000_000_000, snapshot_s=9.4, persist_s=94.0, restore_s=94.0, source="cal",
                      extrapolated=True)
    note = calibration_note(_cal("cpu", 1_500_000), _Pool(), costs)
    assert note is not None and "\n" not in note
    assert "on cpu, not H100" in note and "by 1 process, not 8" in note
    assert "1.5 MB" in note and "94 GB" in note and "62,700x" in note


def test_matching_calibration_says_nothing() -> None:
    """Same GPU, one rank and a measured size at least the plan's: no note."""
    pool = replace_pool(gpus=1)
    costs = SaveCosts(bytes_per_node=1_000_000, snapshot_s=0.1, persist_s=0.1, restore_s=0.1, source="cal")
    assert calibration_note(_cal("NVIDIA H100 80GB HBM3", 2_000_000), pool, costs) is None
    assert calibration_note(None, pool, costs) is None


def replace_pool(gpus: int) -> _Pool:
    p = _Pool()
    p.gpus_per_node = gpus
    return p


def test_recommend_with_cpu_calibration_warns(run_cli, tmp_path) -> None:
    """`recommend --calibration` with a CPU calibration prints the one-line provenance warning."""
    path = tmp_path / "cal.json"
    _cal("cpu", 1_500_000).dump(path)
    code, out, err = run_cli("recommend", "--model-size", "125M", "--tokens", "2e9", "--runs", "8",
                             "--calibration", path)
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if "calibration measured" in ln]
    assert lines and "on cpu" in out and "extrapolated" in out


def test_a_calibration_at_the_plans_world_size_says_nothing_about_processes() -> None:
    """Measured by 8 ranks (``spotplan calibrate --nproc 8``) for an 8-GPU node: no process difference; at 2 the
    note names it."""
    costs = SaveCosts(bytes_per_node=1_000_000, snapshot_s=0.1, persist_s=0.1, restore_s=0.1, source="cal")
    cal = _cal("NVIDIA H100 80GB HBM3", 2_000_000)
    at = {n: cal.model_copy(update={"machine": cal.machine.model_copy(update={"world_size": n, "backend": "nccl"})})
          for n in (2, 8)}
    assert calibration_note(at[8], _Pool(), costs) is None
    note = calibration_note(at[2], _Pool(), costs)
    assert note is not None and "by 2 processes, not 8" in note
