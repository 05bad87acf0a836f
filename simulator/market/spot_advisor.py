"""The AWS Spot Instance Advisor feed (``spot-advisor-data.json``): interruption band and savings per pool.

``spot_advisor[region][os][type] = {"r": band index, "s": savings % vs on-demand}``; ``ranges`` lists the bands
(``<5%`` ... ``>20%``, with ``max`` in percent). A band is the share of capacity reclaimed over the trailing month
for a whole region x type: a coarse ranking signal, never an MTBF (see ``simulator/market/fitted.py`` for how spotplan
turns it into a prior).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spotplan.errors import ConfigError, DataError, did_you_mean
from spotplan.simulator.market.price_formats import as_float, read_text

_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})")


@dataclass(frozen=True, slots=True, kw_only=True)
class Band:
    """One interruption-frequency band."""

    index: int
    label: str
    max_pct: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotAdvisor:
    """A parsed advisor snapshot. ``as_of`` is the date in the file name, if any."""

    bands: tuple[Band, ...]
    entries: dict[str, dict[str, dict[str, tuple[int, float]]]]  # region -> os -> type -> (r, s)
    source: str
    as_of: str = ""

    def regions(self) -> list[str]:
        """Regions in the snapshot."""
        return sorted(self.entries)

    def instance_types(self, region: str, os: str = "Linux") -> list[str]:
        """Types listed for ``region``/``os``."""
        return sorted(self._os(region, os))

    def _os(self, region: str, os: str) -> dict[str, tuple[int, float]]:
        if region not in self.entries:
            raise ConfigError(f"region '{region}' is not in the Spot Advisor snapshot {self.source}"
                              f"{did_you_mean(region, self.entries)}")
        by_os = self.entries[region]
        if os not in by_os:
            raise ConfigError(f"os '{os}' is not in {self.source} for {region}{did_you_mean(os, by_os)}")
        return by_os[os]

    def _entry(self, region: str, instance_type: str, os: str) -> tuple[int, float]:
        types = self._os(region, os)
        if instance_type not in types:
            raise ConfigError(f"{instance_type} is not in the Spot Advisor snapshot {self.source} for {region}"
                              f"{did_you_mean(instance_type, types)}")
        return types[instance_type]

    def get(self, region: str, instance_type: str, os: str = "Linux") -> tuple[Band, float] | None:
        """(band, savings %) or None when the snapshot does not list the pool."""
        r_s = self.entries.get(region, {}).get(os, {}).get(instance_type)
        return None if r_s is None else (self.bands[r_s[0]], r_s[1])

    def band(self, region: str, instance_type: str, os: str = "Linux") -> tuple[int, str, float]:
        """(band index, label, max %) of the pool's interruption frequency."""
        b = self.bands[self._entry(region, instance_type, os)[0]]
        return b.index, b.label, b.max_pct

    def savings_pct(self, region: str, instance_type: str, os: str = "Linux") -> float:
        """Savings of spot vs on-demand in percent (the advisor's ``s``)."""
        return self._entry(region, instance_type, os)[1]


def _number(v: Any, source: str, field: str) -> float:
    f = as_float(v)
    if f is None:
        raise DataError(f"{str(v)[:40]!r}; expected a finite number", path=source, field=field)
    return f


def _bands(doc: dict[str, Any], source: str) -> tuple[Band, ...]:
    ranges = doc.get("ranges")
    if not isinstance(ranges, list) or not ranges:
        raise DataError("expected a non-empty list of bands", path=source, field="ranges")
    out = []
    for i, r in enumerate(ranges):
        if not isinstance(r, dict) or r.get("index") != i or not isinstance(r.get("label"), str):
            raise DataError(f"{r!r:.80}; expected {{'index': {i}, 'label': ..., 'max': ...}}", path=source,
                            record=i, field="ranges")
        out.append(Band(index=i, label=r["label"], max_pct=_number(r.get("max"), source, f"ranges[{i}].max")))
    return tuple(out)


def _entries(doc: dict[str, Any], source: str, nbands: int) -> dict[str, dict[str, dict[str, tuple[int, float]]]]:
    adv = doc.get("spot_advisor")
    if not isinstance(adv, dict):
        raise DataError("expected an object region -> os -> type -> {r, s}", path=source, field="spot_advisor")
    out: dict[str, dict[str, dict[str, tuple[int, float]]]] = {}
    for region, by_os in adv.items():
        if not isinstance(by_os, dict):
            raise DataError("expected an object os -> type", path=source, field=f"spot_advisor.{region}")
        for os_name, types in by_os.items():
            if not isinstance(types, dict):
                raise DataError("expected an object type -> {r, s}", path=source,
                                field=f"spot_advisor.{region}.{os_name}")
            for t, rs in types.items():
                where = f"spot_advisor.{region}.{os_name}.{t}"
                if not isinstance(rs, dict):
                    raise DataError(f"{rs!r:.40}; expected {{'r': band, 's': savings}}", path=source, field=where)
                r, s = _number(rs.get("r"), source, where + ".r"), _number(rs.get("s"), source, where + ".s")
                # s can be negative: after the June 2025 cut some spot prices exceeded on-demand (ca-central-1 p5).
                if r != int(r) or not 0 <= r < nbands or not -1000 <= s <= 100:
                    raise DataError(f"r={r}, s={s}; expected 0 <= r < {nbands} and s <= 100", path=source,
                                    field=where)
                out.setdefault(region, {}).setdefault(os_name, {})[t] = (int(r), s)
    return out


def advisor_from_doc(doc: Any, source: str) -> SpotAdvisor:
    """Validate a parsed advisor document."""
    if not isinstance(doc, dict):
        raise DataError(f"top level is {type(doc).__name__}; expected an object with 'ranges' and 'spot_advisor'",
                        path=source)
    bands = _bands(doc, source)
    m = _DATE_RE.search(Path(source).name)
    return SpotAdvisor(bands=bands, entries=_entries(doc, source, len(bands)), source=source,
                       as_of=m.group(1) if m else "")


def load_spot_advisor(path: str | Path) -> SpotAdvisor:
    """Load ``spot-advisor-data.json`` (any snapshot)."""
    p = Path(path)
    if not p.is_file():
        raise DataError("file does not exist; expected a Spot Advisor JSON file", path=str(p))
    try:
        doc = json.loads(read_text(p))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})", path=str(p)) from None
    except (RecursionError, ValueError) as exc:
        raise DataError(f"unreadable JSON ({str(exc)[:60]}); expected a Spot Advisor document", path=str(p)) from None
    return advisor_from_doc(doc, str(p))
