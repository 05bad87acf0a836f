"""The CLI front door: user errors are one line on stderr with exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import typer

from spotplan import cli
from spotplan.errors import ConfigError


def test_version(run_cli) -> None:
    """`spotplan version` prints the package version and exits 0."""
    from spotplan import __version__

    code, out, _ = run_cli("version")
    assert code == 0 and out.strip() == __version__


def test_spotplan_error_becomes_one_line_exit_2(monkeypatch, capsys) -> None:
    """A SpotplanError raised in a command prints one line and returns 2."""
    probe = typer.Typer()

    @probe.callback()
    def _root() -> None:
        """Probe."""

    @probe.command("boom")
    def boom() -> None:
        raise ConfigError("plan.yaml: field 'keep_last_k' = 0: expected >= 1")

    monkeypatch.setattr(cli, "app", probe)
    code = cli.main(["boom"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "spotplan: error: plan.yaml: field 'keep_last_k' = 0: expected >= 1"


def test_unknown_command_is_usage_error() -> None:
    """An unknown sub-command exits 2 through the installed console script, without a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "spotplan.cli", "no-such-command"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
