"""Shared fixtures: the public data folder (skipped with a reason where absent) and CLI invocation."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotplan.paths import shared_data_dir


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
