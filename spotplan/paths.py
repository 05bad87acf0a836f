"""Where spotplan finds its embedded data (catalog, fitted behaviour, baselines, examples) and the public data.

Embedded data: ``$SPOTPLAN_DATA_DIR`` when set; else ``data/`` of the checkout (a development or editable
install); else the copy a regular ``pip install`` places under ``<prefix>/share/spotplan/data``.
Public data (``../shared/data``): ``$SPOTPLAN_SHARED_DATA`` when set, else ``shared/data`` beside the checkout
or beside the working directory; None when absent, so callers can skip or say how to provide it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALLED_DATA = Path(sys.prefix) / "share" / "spotplan" / "data"


def data_dir() -> Path:
    """Folder holding ``catalog/``, ``fitted/``, ``baselines/`` and ``examples/``."""
    env = os.environ.get("SPOTPLAN_DATA_DIR")
    if env:
        return Path(env)
    checkout = REPO_ROOT / "data"
    if (checkout / "catalog").is_dir() or not (INSTALLED_DATA / "catalog").is_dir():
        return checkout
    return INSTALLED_DATA


def shared_data_dir() -> Path | None:
    """The public data folder, or None. An explicit ``$SPOTPLAN_SHARED_DATA`` wins (None if it is no folder)."""
    env = os.environ.get("SPOTPLAN_SHARED_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    candidates = [REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    return next((c for c in candidates if c.is_dir()), None)
