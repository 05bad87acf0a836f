"""Schema base: strict fields, schema_version checks and one-line errors naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotplan.errors import ConfigError
from spotplan.schemas import Calibration, CalibrationPoint, LinearCostFit, MachineInfo


def _calibration() -> Calibration:
    fit = LinearCostFit(overhead_s=0.5, bandwidth_bytes_per_s=1e9)
    return Calibration(
        created_utc="2026-11-24T00:00:00Z",
        machine=MachineInfo(platform="linux", device="cpu"),
        points=[CalibrationPoint(state_bytes=10**9, snapshot_s=0.2, persist_s=1.5, restore_s=1.0)],
        snapshot=fit,
        persist=fit,
        restore=fit,
    )


def test_round_trip_yaml_and_json(tmp_path: Path) -> None:
    """A schema written as YAML or JSON reads back equal."""
    cal = _calibration()
    for name in ("c.yaml", "c.json"):
        cal.dump(tmp_path / name)
        assert Calibration.load(tmp_path / name) == cal


def test_unknown_field_names_file_and_field(tmp_path: Path) -> None:
    """An unknown field is refused with the file and the field in one line."""
    data = _calibration().model_dump(mode="json") | {"bandwidth": 3}
    with pytest.raises(ConfigError) as exc:
        Calibration.from_dict(data, source="cal.json")
    msg = str(exc.value)
    assert "cal.json" in msg and "bandwidth" in msg and "\n" not in msg


def test_wrong_schema_version_refused() -> None:
    """A future schema_version is refused, saying which version this build reads."""
    data = _calibration().model_dump(mode="json") | {"schema_version": 99}
    with pytest.raises(ConfigError, match="schema_version"):
        Calibration.from_dict(data, source="cal.json")


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    """A missing file and a file that is not YAML each raise ConfigError naming the path."""
    with pytest.raises(ConfigError, match="does not exist"):
        Calibration.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        Calibration.load(bad)


def test_calibration_prediction_flags_extrapolation() -> None:
    """Predictions beyond the largest measured size are marked as extrapolated."""
    cal = _calibration()
    inside = cal.predict(5e8)
    outside = cal.predict(1e11)
    assert inside["extrapolated"] is False and outside["extrapolated"] is True
    assert outside["persist_s"] == pytest.approx(0.5 + 100.0)
