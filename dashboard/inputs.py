"""What the sidebar collects: plain, hashable values (the cache keys of ``spotplan.dashboard.data``).

Units are in field names: ``_h`` hours, ``_s`` seconds, ``_bytes_per_s`` bytes per second.
"""

from __future__ import annotations

from dataclasses import dataclass

RUN_CHOICES: tuple[int, ...] = (16, 32, 48, 100, 200, 500, 1000)
DEFAULT_RUNS = 48  # the advisor's own default (spotplan.advisor.request.DEFAULT_RUNS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """A file the user uploaded: its original name (used in error messages) and its bytes."""

    name: str
    content: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatIf:
    """Every input of one what-if; ``None`` means "the advisor's default"."""

    model_size: str
    mode: str
    tokens: int | None
    deadline_h: float | None
    regions: tuple[str, ...]
    families: tuple[str, ...]
    mfu: float
    save_bandwidth_bytes_per_s: float
    calibration_json: str | None
    interruption_multiplier: float
    price_multiplier: float
    notice_s: float
    interval_s: float | None
    runs: int
    seed: int
    traces: tuple[Upload, ...] = ()  # availability traces the plan replays (Can't Be Late JSON or timestamped CSV)
    tick_prices: Upload | None = None  # per-tick spot prices of those traces ({trace stem: [USD/h, ...]})
