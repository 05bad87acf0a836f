"""Parsers for every form ``describe-spot-price-history`` output takes on disk or in memory.

Each parser returns a ``RawPull``: the raw records (dicts with the API's field names) plus the ``NextToken``s seen,
so the normaliser in ``simulator/market/prices.py`` can validate values with the record index and warn about truncation.
Forms: the CLI's JSON (one document; a JSON list of pages; pages concatenated back to back), a bare list of records
(``--query SpotPriceHistory``), boto3 response dicts (``Timestamp`` as ``datetime``), CSV/TSV exports with the
API's column names (or snake_case), and the CLI's ``--output text`` lines. Prices are USD per hour.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spotplan.errors import DataError

FIELDS = ("AvailabilityZone", "AvailabilityZoneId", "InstanceType", "ProductDescription", "SpotPrice", "Timestamp")
# CSV header spellings accepted for each API field (lower-cased, separators removed).
_ALIASES = {
    "availabilityzone": "AvailabilityZone", "zone": "AvailabilityZone", "az": "AvailabilityZone",
    "availabilityzoneid": "AvailabilityZoneId", "azid": "AvailabilityZoneId", "zoneid": "AvailabilityZoneId",
    "instancetype": "InstanceType", "productdescription": "ProductDescription", "product": "ProductDescription",
    "spotprice": "SpotPrice", "price": "SpotPrice", "priceusdperh": "SpotPrice", "timestamp": "Timestamp",
    "time": "Timestamp",
}
JSON_SUFFIXES = {".json", ".jsonl"}
TABLE_SUFFIXES = {".csv", ".tsv", ".txt"}


@dataclass(slots=True)
class RawPull:
    """Records of one file (or one in-memory response set) before validation."""

    source: str
    records: list[Any] = field(default_factory=list)
    final_token: str = ""  # NextToken of the last page: non-empty means the pull stopped early


def as_float(value: Any) -> float | None:
    """A finite float from an int/float JSON value, or None (bools, strings, huge ints, nan and inf are not)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        f = float(value)
    except OverflowError:  # a JSON integer beyond float range
        return None
    return f if math.isfinite(f) else None


def read_text(path: Path) -> str:
    """File text as UTF-8 (a BOM is dropped); DataError for unreadable, empty or binary files."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc}); expected a readable file", path=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text (byte {exc.start}); expected JSON or CSV", path=str(path)) from None
    if not text.strip():
        raise DataError("the file is empty; expected describe-spot-price-history JSON or CSV", path=str(path))
    if "\x00" in text:
        raise DataError("the file contains NUL bytes; expected JSON or CSV text", path=str(path))
    return text


def _json_documents(text: str, source: str) -> list[Any]:
    """One or more JSON values back to back (``aws ... > f`` twice, or pages joined by newlines)."""
    dec = json.JSONDecoder()
    docs, i, n = [], 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return docs
        try:
            doc, i = dec.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); expected "
                "describe-spot-price-history output", path=source) from None
        except (RecursionError, ValueError) as exc:  # e.g. an integer literal beyond Python's digit limit
            raise DataError(f"unreadable JSON ({str(exc)[:60]}); expected describe-spot-price-history output",
                            path=source) from None
        docs.append(doc)


def pages_to_pull(pages: Iterable[Any], source: str) -> RawPull:
    """Flatten response pages (dicts with ``SpotPriceHistory``) or bare record lists into one RawPull."""
    pull = RawPull(source=source)
    for k, page in enumerate(pages):
        if isinstance(page, list):
            if all(isinstance(x, dict) and "SpotPriceHistory" in x for x in page) and page:
                inner = pages_to_pull(page, source)
                pull.records.extend(inner.records)
                pull.final_token = inner.final_token
            else:
                pull.records.extend(page)
                pull.final_token = ""
            continue
        if not isinstance(page, dict) or "SpotPriceHistory" not in page:
            shown = type(page).__name__ if not isinstance(page, dict) else f"keys {sorted(page)[:5]}"
            raise DataError(f"page {k} has {shown}; expected an object with 'SpotPriceHistory' (a list of records)",
                            path=source, field="SpotPriceHistory")
        recs = page["SpotPriceHistory"]
        if not isinstance(recs, list):
            raise DataError(f"page {k}: expected a list, got {type(recs).__name__}", path=source,
                            field="SpotPriceHistory")
        pull.records.extend(recs)
        token = page.get("NextToken")
        pull.final_token = "" if token in (None, "") else str(token)
    return pull


def parse_json(text: str, source: str) -> RawPull:
    """CLI/boto3 JSON in any of its page layouts."""
    return pages_to_pull(_json_documents(text, source), source)


def _canonical(header: str) -> str | None:
    key = re.sub(r"[^a-z]", "", header.strip().lower())
    return _ALIASES.get(key)


def _text_output(lines: list[str]) -> Iterator[dict[str, str]]:
    """``aws ec2 describe-spot-price-history --output text``: SPOTPRICEHISTORY rows, fields in key order."""
    for line in lines:
        parts = line.rstrip("\r\n").split("\t")
        if parts[0] == "SPOTPRICEHISTORY":
            rest = parts[1:]
            keys = FIELDS if len(rest) == 6 else tuple(f for f in FIELDS if f != "AvailabilityZoneId")
            yield dict(zip(keys, rest))


def parse_table(text: str, source: str) -> RawPull:
    """CSV/TSV with a header naming the API fields, or the CLI's text output."""
    lines = text.splitlines()
    pull = RawPull(source=source)
    if lines[0].startswith(("SPOTPRICEHISTORY", "NEXTTOKEN")):
        pull.records = list(_text_output(lines))
        tokens = [ln.split("\t", 1)[1].strip() for ln in lines if ln.startswith("NEXTTOKEN\t")]
        pull.final_token = tokens[-1] if tokens else ""
        return pull
    delimiter = "\t" if "\t" in lines[0] else ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error as exc:
        raise DataError(f"not valid CSV ({exc}); expected a header row and one record per line", path=source) from None
    header = [_canonical(h) for h in rows[0]]
    missing = [f for f in ("InstanceType", "SpotPrice", "Timestamp") if f not in header]
    if "AvailabilityZone" not in header and "AvailabilityZoneId" not in header:
        missing.append("AvailabilityZone or AvailabilityZoneId")
    if missing:
        raise DataError(f"header {rows[0][:6]} lacks {', '.join(missing)}; expected the API's field names",
                        path=source, record=None, field=missing[0])
    for i, row in enumerate(rows[1:]):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise DataError(f"has {len(row)} columns, the header has {len(header)}", path=source, record=i)
        pull.records.append({h: v for h, v in zip(header, row) if h is not None})
    return pull


def parse_file(path: Path) -> RawPull:
    """Dispatch on content: JSON when it starts with ``{``/``[``, else a table."""
    text = read_text(path)
    if text.lstrip()[0] in "{[" or path.suffix.lower() in JSON_SUFFIXES:
        return parse_json(text, str(path))
    return parse_table(text, str(path))
