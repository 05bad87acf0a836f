"""Shared by the benchmark scripts: the machine label of a result row, and adding that row to BENCHMARKS.md.

Each script owns one ``## `` section of BENCHMARKS.md; a row goes after the last table line of that section (the
section ends at the next ``## `` heading), so a new result never lands under another benchmark's table.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine_label() -> str:
    """Host, CPUs, Python and the 1-minute load average (results on a shared VM depend on it)."""
    return (f"{platform.node() or 'vm'} ({os.cpu_count()} CPU, py {platform.python_version()}, "
            f"load {os.getloadavg()[0]:.1f})")


def add_row(section: str, row: str, path: Path = BENCHMARKS_MD) -> None:
    """Insert ``row`` after the last table line of the section whose heading starts with ``section``."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith(section))
    except StopIteration:
        raise SystemExit(f"{path}: no section starting with {section!r}; add its heading and table header first")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    table = [i for i in range(start, end) if lines[i].startswith("|")]
    at = (table[-1] + 1) if table else end
    lines.insert(at, row.rstrip("\n") + "\n")
    path.write_text("".join(lines), encoding="utf-8")
