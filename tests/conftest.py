"""Shared fixtures: the public data folder (skipped with a reason where absent) and CLI invocation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``$SPOTPLAN_SHARED_DATA``, else ``../shared/data`` beside the checkout; None if neither exists."""
    env = os.environ.get("SPOTPLAN_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the real public data; the test is skipped when it is not on this machine."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("public data not found: set SPOTPLAN_SHARED_DATA or place shared/data beside the checkout")
    return d


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Run ``spotplan ARGS`` in-process; return (exit_code, stdout, stderr)."""
    from spotplan.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return code, out, err

    return _run
