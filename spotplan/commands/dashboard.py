"""``spotplan dashboard``: start the Streamlit what-if dashboard, bound to loopback by default.

The command replaces its own process with ``python -m streamlit run dashboard/app.py`` so that the pid a
caller holds is Streamlit's (stopping it stops the server, no orphan). Streamlit runs headless, never
phones out (usage stats off) and never watches files.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import sys
from pathlib import Path

import typer

from spotplan.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def app_path() -> Path:
    """Path of the dashboard's Streamlit entry script (found through the import system, so it works from
    an editable install whose finder still lists ``dashboard`` as a namespace package)."""
    spec = importlib.util.find_spec("spotplan.dashboard.app")
    if spec is None or spec.origin is None:
        raise ConfigError("the dashboard package is not installed; reinstall spotplan (pip install -e .)")
    return Path(spec.origin).resolve()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def streamlit_argv(host: str, port: int) -> list[str]:
    """The exact command line that serves the dashboard on ``host:port``."""
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port={port}: expected a TCP port between 1 and 65535")
    if not host.strip():
        raise ConfigError("--host='': expected an address such as 127.0.0.1")
    return [
        sys.executable, "-m", "streamlit", "run", str(app_path()),
        "--server.headless", "true",
        "--server.address", host,
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--client.toolbarMode", "viewer",
    ]


def register(app: typer.Typer) -> None:
    """Add ``spotplan dashboard`` to the CLI."""

    @app.command("dashboard")
    def dashboard(
        port: int = typer.Option(DEFAULT_PORT, "--port", help="TCP port to serve on."),
        host: str = typer.Option(
            DEFAULT_HOST, "--host", help="Address to bind; keep the loopback default unless you mean to share it."
        ),
    ) -> None:
        """Serve the what-if dashboard (Streamlit) on http://HOST:PORT/."""
        argv = streamlit_argv(host, port)
        if not _is_loopback(host):
            typer.echo(f"spotplan: warning: --host={host} is not loopback; the dashboard has no login", err=True)
        typer.echo(f"spotplan dashboard: serving on http://{host}:{port}/", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(argv[0], argv)
