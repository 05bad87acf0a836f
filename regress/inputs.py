"""Fingerprints of everything a regression figure depends on, and the freshness of the data.

The code version is spotplan's version plus a sha256 over the ``simulator/`` and ``advisor/`` sources (the
regression gate is its own package, ``spotplan.regress``, so a report change moves no fingerprint). Data files
(the embedded catalog, the fitted spot behaviour, a replayed price history, a calibration) are hashed file by
file; a directory is one combined hash.
Ages are whole days; dates are UTC. I/O only reads files.
"""

from __future__ import annotations

import hashlib
import platform
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path

from spotplan.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("simulator", "advisor")
ENV_PACKAGES = ("numpy", "scipy", "pandas", "simpy")
SHORT = 16


def sha256_file(path: Path) -> str:
    """Full sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise DataError(f"cannot read for fingerprinting ({exc.strerror})", path=str(path)) from None
    return h.hexdigest()


def sha256_tree(path: Path) -> str:
    """sha256 of a file, or of a directory as "relative path: file hash" lines in sorted order."""
    if path.is_file():
        return sha256_file(path)
    lines = [f"{p.relative_to(path).as_posix()}:{sha256_file(p)}" for p in sorted(path.rglob("*")) if p.is_file()]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _source_files(root: Path) -> Iterable[Path]:
    for pkg in CODE_PACKAGES:
        for p in sorted((root / pkg).rglob("*.py")):
            rel = p.relative_to(root).as_posix()
            if "__pycache__" not in rel:
                yield p


def code_fingerprint(root: Path = REPO_ROOT) -> tuple[str, dict[str, str]]:
    """(sha256 over all simulator/ and advisor/ sources, {relative path: short sha256})."""
    full = {p.relative_to(root).as_posix(): sha256_file(p) for p in _source_files(root)}
    combined = hashlib.sha256("\n".join(f"{k}:{v}" for k, v in sorted(full.items())).encode("utf-8")).hexdigest()
    return combined, {k: v[:SHORT] for k, v in full.items()}


def spotplan_version() -> str:
    """The installed spotplan version."""
    from spotplan import __version__

    return __version__


def environment() -> dict[str, str]:
    """Python and numerical library versions (a new numpy may change random streams)."""
    env = {"python": platform.python_version()}
    for name in ENV_PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = "absent"
    return env


def display_path(path: Path, *, shared: Path | None = None) -> str:
    """A stable name for a data path: repo-relative, ``shared:``-relative, or absolute as a last resort."""
    p = path.resolve()
    for base, prefix in ((REPO_ROOT, ""), (shared.resolve() if shared else None, "shared:")):
        if base is not None and p.is_relative_to(base):
            return prefix + p.relative_to(base).as_posix()
    return p.as_posix()


def hash_data_paths(paths: dict[str, Path]) -> dict[str, str]:
    """{name: short sha256} for named data files or directories."""
    return {name: sha256_tree(p)[:SHORT] for name, p in sorted(paths.items())}


def shared_data_dir() -> Path | None:
    """The public data folder (``spotplan.paths``): ``$SPOTPLAN_SHARED_DATA`` when set, else ``shared/data``
    beside the checkout or the working directory; None when absent."""
    from spotplan.paths import shared_data_dir as resolve

    return resolve()


_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?:-(\d{2}))?(?!\d)")


def parse_as_of(text: str) -> date | None:
    """The newest date in an as-of string: ``2025-06-23``, an ISO-8601 time, or a range such as
    ``2024-12..2025-06`` (a month alone counts as its first day); None when it holds no date."""
    found = []
    for y, m, d in _DATE.findall(text):
        try:
            found.append(date(int(y), int(m), int(d or 1)))
        except ValueError:
            continue
    return max(found) if found else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Staleness:
    """One data source older than the allowed age."""

    source: str
    as_of: str
    age_days: int
    max_age_days: int

    def describe(self) -> str:
        """One warning line."""
        return (f"{self.source} is {self.age_days} days old (as of {self.as_of}; limit {self.max_age_days} days): "
                "refresh it (spotplan prices fetch / rebuild the catalog) and re-record with --update --reason")


def stale_sources(as_of: dict[str, str], *, today: date, max_age_days: int) -> list[Staleness]:
    """Sources whose as-of date is more than ``max_age_days`` before ``today`` (unparseable dates are stale)."""
    out = []
    for source, text in sorted(as_of.items()):
        d = parse_as_of(text)
        age = (today - d).days if d is not None else max_age_days + 1
        if age > max_age_days:
            out.append(Staleness(source=source, as_of=text, age_days=age, max_age_days=max_age_days))
    return out


def utc_now() -> datetime:
    """The current UTC time (one place, so tests can reason about it)."""
    return datetime.now(UTC)
