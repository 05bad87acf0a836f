"""Shared fixtures: the public data folder (skipped with a reason where absent) and CLI invocation; the
hypothesis profiles.

Hypothesis runs derandomized everywhere by default (profile ``ci``): the same examples on every run and machine,
no example database, no shrinking phase (a failure reports the example it found, at once, instead of minutes of
shrinking) and no per-example deadline on a loaded 2-core machine. ``SPOTPLAN_HYPOTHESIS_PROFILE=explore`` draws
fresh random examples and shrinks failures, for hunting bugs by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from spotplan.paths import shared_data_dir

settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, print_blob=True,
    phases=(Phase.explicit, Phase.reuse, Phase.generate), suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("SPOTPLAN_HYPOTHESIS_PROFILE", "ci"))


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
