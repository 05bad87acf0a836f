"""Output paths are checked before any work starts, so a run never fails after hours for a path it could check.

``output_file`` accepts a path whose parent is an existing, writable directory and which is not itself a
directory, a symlink or a special file; ``output_dir`` accepts an existing writable directory, or creates one
(with its parents). Each failure is one ``ConfigError`` line naming the option, the path and what was expected.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from spotplan.errors import ConfigError


def _kind(st_mode: int) -> str:
    if stat.S_ISDIR(st_mode):
        return "a directory"
    if stat.S_ISLNK(st_mode):
        return "a symlink"
    if stat.S_ISREG(st_mode):
        return "a file"
    return "a special file"


def output_file(path: Path, option: str, *, allow_symlink: bool = False) -> Path:
    """``path`` if a file can be written there; ConfigError otherwise."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot be checked ({exc.strerror}); expected a writable file path") from None
    if st is not None and not stat.S_ISREG(st.st_mode) and not (allow_symlink and stat.S_ISLNK(st.st_mode)):
        raise ConfigError(f"{option} {path}: is {_kind(st.st_mode)}; expected a regular file path to write")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        what = "does not exist" if not parent.exists() else "is not a directory"
        raise ConfigError(f"{option} {path}: the directory {parent} {what}; create it first or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: the directory {parent} is not writable")
    return path


def output_dir(path: Path, option: str) -> Path:
    """``path`` as an existing writable directory (created with its parents if missing); ConfigError otherwise."""
    try:
        if path.exists() and not path.is_dir():
            raise ConfigError(f"{option} {path}: is {_kind(os.stat(path).st_mode)}; expected a directory")
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create the directory ({exc.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: the directory is not writable")
    probe = path / f".spotplan-write-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write files there ({exc.strerror})") from None
    return path
