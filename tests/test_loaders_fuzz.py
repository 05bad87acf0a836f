"""Hypothesis: no input makes a data loader raise anything but SpotplanError (bytes, text, near-valid JSON)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.prices import load_price_history
from simulator.spot_advisor import load_spot_advisor
from simulator.traces import load_availability_trace, load_event_log
from spotplan.errors import SpotplanError

LOADERS = (load_price_history, load_availability_trace, load_event_log, load_spot_advisor)
SUFFIXES = (".json", ".csv", ".tsv", ".txt", ".jsonl")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.sampled_from([10**400, -10**400]), st.floats(allow_nan=True),
                    st.text(max_size=30),
                    st.sampled_from(["1.0", "-1", "nan", "inf", "1e400", "2020-02-20T22:06:16.000Z",
                                     "2020-02-20T22:06:16", "us-east-1a", "use1-az2", "p3.2xlarge", "Linux/UNIX",
                                     "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00"]))
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                           st.dictionaries(st.text(max_size=12), kids, max_size=4)),
                           max_leaves=20)
FIELDS = ["AvailabilityZone", "AvailabilityZoneId", "InstanceType", "ProductDescription", "SpotPrice", "Timestamp"]
records = st.dictionaries(st.sampled_from(FIELDS), scalars, max_size=6)
price_docs = st.one_of(
    st.fixed_dictionaries({"SpotPriceHistory": st.lists(records, max_size=4)},
                          optional={"NextToken": scalars}),
    st.lists(st.fixed_dictionaries({"SpotPriceHistory": st.lists(records, max_size=3)}), max_size=3),
    st.lists(records, max_size=4),
)
trace_docs = st.fixed_dictionaries(
    {"metadata": st.one_of(json_values, st.fixed_dictionaries({"gap_seconds": scalars})),
     "data": st.one_of(json_values, st.lists(scalars, max_size=6))},
    optional={"prices": st.lists(scalars, max_size=6)})
advisor_docs = st.fixed_dictionaries({
    "ranges": st.one_of(json_values, st.lists(st.fixed_dictionaries(
        {"index": st.integers(-1, 5), "label": scalars, "max": scalars}), max_size=5)),
    "spot_advisor": st.dictionaries(st.text(max_size=5), st.dictionaries(
        st.sampled_from(["Linux", "Windows"]), st.dictionaries(st.text(max_size=5), st.one_of(
            json_values, st.fixed_dictionaries({"r": scalars, "s": scalars})), max_size=2), max_size=2), max_size=2)})


def _each_loader(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / f"input{suffix}"
        p.write_bytes(data)
        for load in LOADERS:
            try:
                load(p)
            except SpotplanError as exc:
                assert "\n" not in str(exc), str(exc)


@FAST
@given(st.binary(max_size=300), st.sampled_from(SUFFIXES))
def test_random_bytes(data: bytes, suffix: str) -> None:
    """Arbitrary bytes never escape as anything but SpotplanError."""
    _each_loader(data, suffix)


@FAST
@given(st.text(max_size=300), st.sampled_from(SUFFIXES))
def test_random_text(text: str, suffix: str) -> None:
    """Arbitrary text (CSV-ish or not) never escapes as anything but SpotplanError."""
    _each_loader(text.encode("utf-8", "surrogatepass") if "\ud800" not in text else b"x", suffix)


@FAST
@given(st.one_of(json_values, price_docs, trace_docs, advisor_docs), st.booleans())
def test_near_valid_json(doc, concatenate: bool) -> None:
    """JSON shaped like the real formats but with wrong values never escapes as anything but SpotplanError."""
    text = json.dumps(doc, allow_nan=True)
    _each_loader(((text + "\n") * 2 if concatenate else text).encode(), ".json")


@FAST
@given(st.lists(st.lists(scalars.map(lambda v: str(v).replace(",", ";").replace("\n", " ")), min_size=1,
                         max_size=6), max_size=5))
def test_near_valid_csv(rows) -> None:
    """CSV with the API header and junk rows never escapes as anything but SpotplanError."""
    text = ",".join(FIELDS) + "\n" + "\n".join(",".join(r) for r in rows)
    _each_loader(text.encode(), ".csv")
