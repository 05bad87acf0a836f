"""Spot price history: load every form of ``describe-spot-price-history`` output into one normalised table.

Prices are USD per hour; timestamps are UTC (tz-aware in the table, POSIX epoch seconds in ``PriceSeries``).
Records are change points: a price holds until the next change of the same (instance type, zone, product).
Overlapping pulls are de-duplicated; the table is sorted. Zones keep their name and, where the record carries it
(``AvailabilityZoneId``) or the caller passes a name->ID map for the account, their AZ ID: names are per account,
so no mapping is guessed. Warnings: truncated pulls (non-empty ``NextToken``), zones missing for a type, gaps
between pulls, files without records.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from spotplan.errors import DataError, did_you_mean
from spotplan.simulator.market.price_formats import (
    JSON_SUFFIXES,
    TABLE_SUFFIXES,
    RawPull,
    pages_to_pull,
    parse_file,
)
from spotplan.simulator.market.series import PriceSeries

COLUMNS = ["timestamp", "region", "zone", "az_id", "instance_type", "product", "price_usd_per_h"]
GAP_WARN_S = 2 * 86400.0
_MIN_EPOCH_S, _MAX_EPOCH_S = 946684800.0, 4102444800.0  # 2000-01-01, 2100-01-01 UTC  # two pulls further apart than this leave an unobserved span
# AZ-ID prefix -> region (AWS's published scheme, e.g. use1-az2 is in us-east-1).
_ID_REGION = {
    "use1": "us-east-1", "use2": "us-east-2", "usw1": "us-west-1", "usw2": "us-west-2", "euw1": "eu-west-1",
    "euw2": "eu-west-2", "euw3": "eu-west-3", "euc1": "eu-central-1", "euc2": "eu-central-2", "eun1": "eu-north-1",
    "eus1": "eu-south-1", "eus2": "eu-south-2", "aps1": "ap-south-1", "aps2": "ap-south-2", "apne1": "ap-northeast-1",
    "apne2": "ap-northeast-2", "apne3": "ap-northeast-3", "apse1": "ap-southeast-1", "apse2": "ap-southeast-2",
    "apse3": "ap-southeast-3", "apse4": "ap-southeast-4", "ape1": "ap-east-1", "cac1": "ca-central-1",
    "sae1": "sa-east-1", "mes1": "me-south-1", "mec1": "me-central-1", "afs1": "af-south-1", "ilc1": "il-central-1",
}
_ZONE_RE = re.compile(r"^([a-z]{2}(?:-gov)?-[a-z]+-\d+)(?:-[a-z]+-\d+)?[a-z]$")
_ID_RE = re.compile(r"^([a-z]+\d+)-(?:[a-z]+\d+-)?az\d+$")


@dataclass(frozen=True, slots=True, kw_only=True, order=True)
class PoolKey:
    """One spot pool: an instance type in one zone for one product."""

    instance_type: str
    region: str
    zone: str
    az_id: str
    product: str


def _region(zone: str, az_id: str, where: dict[str, Any]) -> str:
    m = _ZONE_RE.match(zone)
    if m:
        return m.group(1)
    m = _ID_RE.match(az_id)
    if m and m.group(1) in _ID_REGION:
        return _ID_REGION[m.group(1)]
    bad = zone or az_id
    raise DataError(f"'{bad}' is not an AWS zone name (us-east-1a) or AZ ID (use1-az2)", **where,
                    field="AvailabilityZone" if zone else "AvailabilityZoneId")


def _epoch_s(value: Any, where: dict[str, Any]) -> float:
    """Epoch seconds of an ISO-8601 string or datetime; the zone is mandatory (a naive time is ambiguous)."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise DataError(f"'{value[:40]}' is not an ISO-8601 time; expected e.g. 2020-02-20T22:06:16.000Z",
                            **where, field="Timestamp") from None
    else:
        raise DataError(f"{type(value).__name__} value; expected an ISO-8601 time string", **where, field="Timestamp")
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise DataError(f"'{value}' has no time zone; expected UTC ('Z' or '+00:00')", **where, field="Timestamp")
    try:
        t = dt.astimezone(UTC).timestamp()
    except (OverflowError, ValueError, OSError):
        t = float("nan")
    # Spot markets exist since 2009; far-off years would also overflow pandas' nanosecond timestamps.
    if not _MIN_EPOCH_S <= t < _MAX_EPOCH_S:
        raise DataError(f"'{value}' is outside 2000..2100; expected the time of a spot price change", **where,
                        field="Timestamp")
    return t


def _price(value: Any, where: dict[str, Any]) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise DataError(f"{type(value).__name__} value; expected a price string such as \"1.0671\"", **where,
                        field="SpotPrice")
    try:
        p = float(value)
    except (ValueError, OverflowError):
        raise DataError(f"'{str(value)[:40]}' is not a number; expected a price in USD/h", **where,
                        field="SpotPrice") from None
    if not math.isfinite(p) or p < 0:
        raise DataError(f"{value!r} is not a finite price >= 0 USD/h", **where, field="SpotPrice")
    return p


def _text(rec: dict[str, Any], key: str, where: dict[str, Any], required: bool = True) -> str:
    v = rec.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        if required:
            raise DataError(f"missing; expected a non-empty string (fields: {', '.join(sorted(rec)[:6])})",
                            **where, field=key)
        return ""
    if not isinstance(v, str):
        raise DataError(f"{type(v).__name__} value; expected a string", **where, field=key)
    return v.strip()


def normalise_record(rec: Any, where: dict[str, Any], az_map: Mapping[str, str]) -> tuple:
    """One validated row (epoch_s, region, zone, az_id, type, product, price)."""
    if not isinstance(rec, dict):
        raise DataError(f"{type(rec).__name__} value; expected a record object", **where)
    zone = _text(rec, "AvailabilityZone", where, required=False)
    az_id = _text(rec, "AvailabilityZoneId", where, required=False) or az_map.get(zone, "")
    if not zone and not az_id:
        raise DataError("missing; expected AvailabilityZone or AvailabilityZoneId", **where, field="AvailabilityZone")
    return (_epoch_s(rec.get("Timestamp"), where), _region(zone, az_id, where), zone, az_id,
            _text(rec, "InstanceType", where), _text(rec, "ProductDescription", where),
            _price(rec.get("SpotPrice"), where))


@dataclass(slots=True)
class PriceHistory:
    """The normalised table plus what the loader noticed. Build with ``load_price_history``."""

    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    truncated_files: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    _by_type: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)
    _end_s: dict[tuple[str, str], float] = field(default_factory=dict, repr=False, compare=False)

    @property
    def as_of(self) -> pd.Timestamp | None:
        """Latest timestamp in the history (None when empty)."""
        return None if self.table.empty else self.table["timestamp"].max()

    def pools(self) -> list[PoolKey]:
        """Every (type, zone, product) pool, sorted."""
        keys = self.table[["instance_type", "region", "zone", "az_id", "product"]].drop_duplicates()
        return sorted(PoolKey(**r) for r in keys.to_dict("records"))

    def _index(self) -> None:
        """Group the table once: queries then cost a lookup, not a scan (the advisor asks per zone)."""
        if self._by_type or self.table.empty:
            return
        t = self.table
        for key, g in t.groupby(["instance_type", "product"], sort=False):
            self._by_type[(str(key[0]), str(key[1]))] = g
        ends = t.groupby(["instance_type", "region"])["timestamp"].max()
        self._end_s.update({(str(k[0]), str(k[1])): v.value / 1e9 for k, v in ends.items()})

    def _pool_rows(self, instance_type: str, zone: str, product: str) -> pd.DataFrame:
        self._index()
        g = self._by_type.get((instance_type, product))
        rows = g[(g["zone"] == zone) | (g["az_id"] == zone)] if g is not None and zone else pd.DataFrame()
        if rows.empty:
            have = sorted({f"{p.instance_type} {p.zone or p.az_id} {p.product}" for p in self.pools()})
            raise DataError(f"no price history for {instance_type} in zone '{zone}' ({product})"
                            f"{did_you_mean(f'{instance_type} {zone} {product}', have)}")
        return rows

    def series(self, instance_type: str, zone: str, product: str = "Linux/UNIX") -> PriceSeries:
        """Step function of one pool; ``zone`` is a zone name or an AZ ID. It ends at the pulls' latest time."""
        rows = self._pool_rows(instance_type, zone, product)
        # A zone seen both with and without its AZ ID (name-only dump + boto3 pull) is one series.
        rows = rows.sort_values("timestamp", kind="mergesort").drop_duplicates("timestamp", keep="first")
        times = rows["timestamp"].astype("int64").to_numpy() / 1e9
        first = rows.iloc[0]
        return PriceSeries(
            times_s=times, prices_usd_per_h=rows["price_usd_per_h"].to_numpy(dtype=float),
            end_s=self._end_s[(instance_type, str(first["region"]))], instance_type=instance_type,
            region=str(first["region"]), zone=str(first["zone"]), az_id=str(first["az_id"]), product=product,
            source=",".join(self.files[:3]) + (" ..." if len(self.files) > 3 else ""),
        )

    def price_at(self, instance_type: str, zone: str, t_s: float, product: str = "Linux/UNIX") -> float:
        """Spot USD/h in force at epoch second ``t_s`` in one pool."""
        return self.series(instance_type, zone, product).price_at(t_s)

    def cost_usd(self, instance_type: str, zone: str, t0_s: float, t1_s: float, product: str = "Linux/UNIX") -> float:
        """Exact integral of the pool's spot price over [t0_s, t1_s], USD for one instance."""
        return self.series(instance_type, zone, product).cost_usd(t0_s, t1_s)


def _files_of(path: Path) -> list[Path]:
    if not path.exists():
        raise DataError("path does not exist; expected a price-history file or a directory of them", path=str(path))
    if path.is_file():
        return [path]
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in JSON_SUFFIXES | TABLE_SUFFIXES)
    if not found:
        raise DataError("directory holds no .json/.csv/.tsv/.txt files; expected price-history files", path=str(path))
    return found


def _rows_of(pull: RawPull, az_map: Mapping[str, str]) -> list[tuple]:
    return [normalise_record(rec, {"path": pull.source, "record": i}, az_map) for i, rec in enumerate(pull.records)]


def _dedup(rows: list[tuple], warnings: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=["epoch_s", *COLUMNS[1:]])
    df = df.drop_duplicates().sort_values(["instance_type", "region", "zone", "az_id", "product", "epoch_s",
                                           "price_usd_per_h"], kind="mergesort")
    key = ["instance_type", "zone", "az_id", "product", "epoch_s"]
    clash = df.duplicated(key, keep="first")
    if clash.any():
        warnings.append(f"{int(clash.sum())} records repeat a (type, zone, product, time) with another price; "
                        "kept the lowest price of each")
        df = df[~clash]
    df.insert(0, "timestamp", pd.to_datetime(df["epoch_s"].to_numpy() * 1e9, utc=True).as_unit("ns"))
    return df.drop(columns="epoch_s").reset_index(drop=True)


def _coverage_warnings(spans: list[tuple[str, str, float, float]], table: pd.DataFrame) -> list[str]:
    """Gaps between pulls of the same (region, type), and zones a type lacks that other types have."""
    out = []
    by_key: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for region, itype, t0, t1 in spans:
        by_key.setdefault((region, itype), []).append((t0, t1))
    for (region, itype), ivs in sorted(by_key.items()):
        ivs.sort()
        reach = ivs[0][1]
        for t0, t1 in ivs[1:]:
            if t0 - reach > GAP_WARN_S:
                a, b = (pd.Timestamp(x, unit="s", tz="UTC").isoformat() for x in (reach, t0))
                out.append(f"{region} {itype}: no record in any zone from {a} to {b} ({(t0 - reach) / 86400:.1f} "
                           "days): a pull may be missing (or the price did not change)")
            reach = max(reach, t1)
    key = table["zone"].where(table["zone"] != "", table["az_id"])  # ID-only archives have no names
    for region, g in key.groupby(table["region"], sort=True):
        all_zones = set(g)
        for itype, gi in g.groupby(table.loc[g.index, "instance_type"], sort=True):
            missing = sorted(all_zones - set(gi))
            if missing:
                out.append(f"{region} {itype}: no records for zone(s) {', '.join(missing)} (other types have them)")
    return out


def history_from_pulls(pulls: Iterable[RawPull], az_map: Mapping[str, str] | None = None) -> PriceHistory:
    """Validate, normalise, de-duplicate and sort the records of several pulls."""
    az_map = dict(az_map or {})
    rows: list[tuple] = []
    warnings, truncated, files, empty, spans = [], [], [], [], []
    for pull in pulls:
        files.append(pull.source)
        got = _rows_of(pull, az_map)
        if pull.final_token:
            truncated.append(pull.source)
            start = min((r[0] for r in got), default=float("nan"))
            when = pd.Timestamp(start, unit="s", tz="UTC").isoformat() if got else "?"
            warnings.append(f"{pull.source}: truncated pull (NextToken is non-empty): records before {when} are "
                            "missing; fetch again with pagination (spotplan prices fetch)")
        if not got:
            empty.append(pull.source)
        for (region, itype), grp in _group_spans(got).items():
            spans.append((region, itype, *grp))
        rows.extend(got)
    if empty:
        shown = ", ".join(empty[:4]) + (f" and {len(empty) - 4} more" if len(empty) > 4 else "")
        warnings.append(f"{len(empty)} file(s) hold no records (type not offered there?): {shown}")
    table = _dedup(rows, warnings)
    warnings.extend(_coverage_warnings(spans, table))
    return PriceHistory(table=table, warnings=warnings, truncated_files=truncated, files=files)


def _group_spans(rows: list[tuple]) -> dict[tuple[str, str], tuple[float, float]]:
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    for r in rows:
        key = (r[1], r[4])
        lo, hi = spans.get(key, (r[0], r[0]))
        spans[key] = (min(lo, r[0]), max(hi, r[0]))
    return spans


def load_price_history(path: str | Path, *, az_map: Mapping[str, str] | None = None) -> PriceHistory:
    """Load a file or a directory (recursively) of describe-spot-price-history output in any form."""
    return history_from_pulls((parse_file(p) for p in _files_of(Path(path))), az_map=az_map)


def history_from_responses(pages: Iterable[Any], *, source: str = "<boto3>",
                           az_map: Mapping[str, str] | None = None) -> PriceHistory:
    """Build a history from in-memory boto3 response dicts (``Timestamp`` as ``datetime``)."""
    return history_from_pulls([pages_to_pull(list(pages), source)], az_map=az_map)

