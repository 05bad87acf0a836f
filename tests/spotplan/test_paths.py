"""Data resolution: the checkout's data/ in development, an explicit override, the installed copy otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotplan import paths


def test_checkout_data_in_development(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a checkout the embedded data is its data/ folder."""
    monkeypatch.delenv("SPOTPLAN_DATA_DIR", raising=False)
    assert paths.data_dir() == paths.REPO_ROOT / "data"
    assert (paths.data_dir() / "catalog" / "instances.json").is_file()


def test_explicit_override_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """$SPOTPLAN_DATA_DIR replaces the embedded data (e.g. a team's own catalog)."""
    monkeypatch.setenv("SPOTPLAN_DATA_DIR", str(tmp_path))
    assert paths.data_dir() == tmp_path


def test_installed_copy_when_not_in_a_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Outside a checkout (a regular pip install) the copy under <prefix>/share/spotplan/data is used."""
    installed = tmp_path / "share" / "spotplan" / "data"
    (installed / "catalog").mkdir(parents=True)
    monkeypatch.delenv("SPOTPLAN_DATA_DIR", raising=False)
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(paths, "INSTALLED_DATA", installed)
    assert paths.data_dir() == installed


def test_shared_data_explicit_env_that_is_not_a_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An explicit $SPOTPLAN_SHARED_DATA that does not exist means 'absent', not a silent fallback."""
    monkeypatch.setenv("SPOTPLAN_SHARED_DATA", str(tmp_path / "missing"))
    assert paths.shared_data_dir() is None
