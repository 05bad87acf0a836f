"""The project's error types.

Every user-facing failure is a ``SpotplanError``. The CLI prints its message on one line and
exits with code 2; anything else escaping a command is a bug. A message names the file or
field, the value, what was expected, and where possible the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SpotplanError(Exception):
    """Root of every error spotplan reports to a user (exit code 2, one line, no traceback)."""

    exit_code: int = 2


class DataError(SpotplanError):
    """An input data file (prices, traces, catalog, advisor JSON) is missing or malformed."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        record: int | None = None,
        field: str | None = None,
    ) -> None:
        parts = []
        if path is not None:
            parts.append(str(path))
        if record is not None:
            parts.append(f"record {record}")
        if field is not None:
            parts.append(f"field '{field}'")
        prefix = ": ".join([", ".join(parts)]) if parts else ""
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path = path
        self.record = record
        self.field = field


class ConfigError(SpotplanError):
    """A scenario, plan, calibration file or CLI option has an invalid value."""


class CredentialsError(SpotplanError):
    """No cloud credentials were found through the standard chain."""


class CheckpointError(SpotplanError):
    """A checkpoint is missing, torn, fails its checksum, or is not safe to load."""


class InfeasibleError(SpotplanError):
    """No plan satisfies the request (nothing fits, the deadline is too short, ...)."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
