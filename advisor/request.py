"""What a user asks the advisor for: the ``RecommendRequest`` consumed by ``spotplan.advisor.api.recommend``.

Units are in names: ``_h`` hours, ``_s`` seconds, ``_bytes_per_s`` bytes per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from spotplan.errors import ConfigError
from spotplan.schemas.calibration import Calibration
from spotplan.schemas.plan import MAX_NODES, TrainingMode

DEFAULT_RUNS = 48
DEFAULT_SEED = 0
MAX_RUNS = 100_000
MAX_TOKENS = 1e14  # 100T tokens, ~7x the largest published pre-training run (Llama 3, 15T)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecommendRequest:
    """A planning request. ``None`` means "use the stated default" everywhere.

    ``regions`` restricts candidate regions; ``prefer_regions`` orders the ladder (earlier first) without
    excluding others; ``families`` restricts instance families (``p4d``, ``p5``, ``g5`` ...).
    ``interruption_multiplier`` scales interruption rates (2.0 = twice as many), ``price_multiplier``
    scales spot prices; both exist for what-if analysis (dashboard, regression).
    ``nodes`` fixes the gang size; otherwise the advisor searches node counts up to ``max_nodes``
    (``spotplan.advisor.nodes``) with ``dp_efficiency`` of the linear speed-up kept per doubling.
    """

    model_size: str
    mode: TrainingMode = TrainingMode.FULL
    tokens: int | None = None
    deadline_h: float | None = None
    p95_bound_h: float | None = None
    regions: tuple[str, ...] = ()
    prefer_regions: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    mfu: float | None = None
    save_bandwidth_bytes_per_s: float | None = None
    calibration: Calibration | None = field(default=None, compare=False)
    interruption_multiplier: float = 1.0
    price_multiplier: float = 1.0
    notice_s: float | None = None
    interval_s: float | None = None
    runs: int = DEFAULT_RUNS
    seed: int = DEFAULT_SEED
    prices_path: str | Path | None = None
    traces: tuple[str, ...] = ()  # availability traces to plan on (Can't Be Late JSON or timestamped CSV)
    tick_prices_path: str | Path | None = None  # per-tick spot prices of those traces ({trace stem: [USD/h]})
    max_nodes: int = MAX_NODES
    nodes: int | None = None
    dp_efficiency: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", TrainingMode(self.mode))
        for name in ("regions", "prefer_regions", "families", "traces"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        if self.tokens is not None and not 0 < self.tokens <= MAX_TOKENS:
            raise ConfigError(f"--tokens {self.tokens:.3g}: expected a count in (0, {MAX_TOKENS:.0e}]; "
                              "e.g. --tokens 2e10 for 20B tokens")
        _positive_or_none("--deadline", self.deadline_h, "e.g. --deadline 48h")
        if self.tick_prices_path is not None and not self.traces:
            raise ConfigError("--tick-prices prices the --traces files; give --traces PATH as well")
        _positive_or_none("--p95-max", self.p95_bound_h, "e.g. --p95-max 60h")
        if self.notice_s is not None and not (math.isfinite(self.notice_s) and self.notice_s >= 0):
            raise ConfigError(f"--notice {self.notice_s!r} must be >= 0 seconds; e.g. 120 for AWS, 30 for GCP")
        _positive_or_none("--interval", self.interval_s, "e.g. 1800 for 30 minutes")
        for name in ("interruption_multiplier", "price_multiplier"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"{name}={v!r} must be a finite number > 0 (1.0 = as measured)")
        if not 4 <= self.runs <= MAX_RUNS:
            raise ConfigError(f"--runs {self.runs}: expected between 4 (for a usable P95) and {MAX_RUNS:,}")
        _check_nodes(self.nodes, self.max_nodes)
        if self.dp_efficiency is not None and not (math.isfinite(self.dp_efficiency) and 0 < self.dp_efficiency <= 1):
            raise ConfigError(f"--dp-efficiency {self.dp_efficiency!r}: expected the share of the linear speed-up "
                              "kept per doubling of the nodes, in (0, 1]; e.g. --dp-efficiency 0.9")


def _check_nodes(nodes: int | None, max_nodes: int) -> None:
    """``--max-nodes`` within 1..MAX_NODES; ``--nodes`` within 1..``--max-nodes``."""
    limit = f"the limit of {MAX_NODES} nodes ({MAX_NODES * 8:,} GPUs of 8-GPU instances)"
    if max_nodes > MAX_NODES:
        raise ConfigError(f"--max-nodes {max_nodes} is above {limit}; use --max-nodes {MAX_NODES} or fewer")
    if max_nodes < 1:
        raise ConfigError(f"--max-nodes {max_nodes}: expected a node count between 1 and {MAX_NODES}")
    if nodes is None:
        return
    if nodes < 1:
        raise ConfigError(f"--nodes {nodes}: expected a node count between 1 and {MAX_NODES}, e.g. --nodes 4")
    if nodes > MAX_NODES:
        raise ConfigError(f"--nodes {nodes} is above {limit}; use --nodes {MAX_NODES} or fewer")
    if nodes > max_nodes:
        raise ConfigError(f"--nodes {nodes} is above --max-nodes {max_nodes}; raise --max-nodes or lower --nodes")


def _positive_or_none(flag: str, value: float | None, hint: str) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} {value!r} must be a positive number; {hint}")


def parse_duration_h(text: str, flag: str) -> float:
    """Parse ``48h``, ``2d``, ``90m`` or a bare number of hours."""
    t = text.strip().lower()
    scale = {"h": 1.0, "d": 24.0, "m": 1 / 60, "s": 1 / 3600}
    unit = t[-1] if t and t[-1] in scale else "h"
    num = t[:-1] if t and t[-1] in scale else t
    try:
        value = float(num) * scale[unit]
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a duration; use e.g. 48h, 2d or 90m") from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} {text!r} must be > 0; use e.g. 48h")
    return value


def parse_count(text: str, flag: str) -> int:
    """Parse ``2e10``, ``20B``, ``500M`` or a plain integer count."""
    t = text.strip().upper().replace("_", "")
    mult = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12}
    scale = mult.get(t[-1:], 1.0)
    num = t[:-1] if t[-1:] in mult else t
    try:
        value = float(num) * scale
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a count; use e.g. 2e10 or 20B") from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{flag} {text!r} must be > 0; e.g. {flag} 2e10")
    return int(value)
