"""The baselines changelog: every ``spotplan regress --update`` appends one dated entry with its reason.

Markdown, newest entry last, so a pull request that moves a baseline shows why in its diff. Costs are USD,
intervals seconds, makespans hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from spotplan.regress.compare import FIGURES, Change, ToleranceKind
from spotplan.schemas.baseline import BaselineRecord, Figures

HEADER = (
    "# Baseline changelog\n\n"
    "Written by `spotplan regress --update --reason TEXT`: one entry per update, newest last, with the date, the\n"
    "reason, the figures that moved and the assumptions that changed.\n"
)
MAX_CHANGES = 6


def _value(fig: str, v: float | None) -> str:
    if v is None:
        return "n/a"
    if fig == "cost_usd":
        return f"${v:,.2f}"
    if fig.endswith("_h"):
        return f"{v:.2f} h"
    if fig.endswith("_s"):
        return f"{v:.0f} s"
    return f"{v:.3f}"


def _first(figures: Figures) -> str:
    return ", ".join(f"{fd.name} {_value(fd.name, getattr(figures, fd.name))}" for fd in FIGURES)


def _moves(old: Figures, new: Figures) -> str:
    parts = []
    for fd in FIGURES:
        a, b = getattr(old, fd.name), getattr(new, fd.name)
        if a == b:
            continue
        rel = ""
        if fd.kind is ToleranceKind.RELATIVE and a not in (None, 0) and b is not None:
            rel = f" ({(b - a) / abs(a):+.1%})"
        parts.append(f"{fd.name} {_value(fd.name, a)} -> {_value(fd.name, b)}{rel}")
    return "; ".join(parts) or "figures unchanged"


def _changes(changes: tuple[Change, ...]) -> str:
    shown = [c.describe() for c in changes[:MAX_CHANGES]]
    more = f"; and {len(changes) - MAX_CHANGES} more" if len(changes) > MAX_CHANGES else ""
    return "; ".join(shown) + more


def format_entry(*, reason: str, when: datetime, records: list[tuple[BaselineRecord | None, BaselineRecord]],
                 changes: Mapping[str, tuple[Change, ...]], skipped: Mapping[str, str]) -> str:
    """One Markdown entry: heading with UTC date and reason, then a line per scenario."""
    one_line = " ".join(reason.split())
    lines = [f"## {when.strftime('%Y-%m-%d %H:%M UTC')}: {one_line}", ""]
    for old, new in records:
        if old is None:
            lines.append(f"- `{new.scenario}`: first baseline: {_first(new.figures)}")
        else:
            line = f"- `{new.scenario}`: {_moves(old.figures, new.figures)}"
            if changes.get(new.scenario):
                line += f". Changed: {_changes(changes[new.scenario])}"
            lines.append(line)
    for name, why in sorted(skipped.items()):
        lines.append(f"- `{name}`: not re-recorded (skipped: {why})")
    return "\n".join(lines) + "\n"


def append_entry(path: Path, entry: str) -> None:
    """Append ``entry`` to the changelog, creating it with its header."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    if not text.endswith("\n"):
        text += "\n"
    path.write_text(text + "\n" + entry, encoding="utf-8")
