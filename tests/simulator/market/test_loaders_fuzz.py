"""Hypothesis: no input makes a data loader raise anything but SpotplanError (bytes, text, near-valid JSON)."""

from __future__ import annotations

import itertools
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spotplan.errors import SpotplanError
from spotplan.simulator.market.prices import load_price_history
from spotplan.simulator.market.spot_advisor import load_spot_advisor
from spotplan.simulator.market.traces import load_availability_trace, load_event_log

LOADERS = (load_price_history, load_availability_trace, load_event_log, load_spot_advisor)
SUFFIXES = (".json", ".csv", ".tsv", ".txt", ".jsonl")
# Loaders must also reject silently-wrong values (out-of-range times) rather than return garbage; the CLI tests
# check those messages. Here: nothing but SpotplanError escapes.
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


valid_records = st.lists(st.fixed_dictionaries({
    "AvailabilityZone": st.sampled_from(["us-east-1a", "us-east-1b", "eu-west-1c"]),
    "InstanceType": st.sampled_from(["p3.2xlarge", "g5.xlarge"]),
    "ProductDescription": st.just("Linux/UNIX"),
    "SpotPrice": st.decimals(min_value=0, max_value=100, places=4).map(str),
    "Timestamp": st.integers(1_500_000_000, 1_600_000_000).map(
        lambda s: datetime.fromtimestamp(s, UTC).isoformat().replace("+00:00", "Z")),
}), min_size=1, max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_records, st.lists(st.integers(0, 30), max_size=4), st.booleans())
def test_page_split_and_repeats_do_not_matter(recs, cuts, repeat) -> None:
    """Any split into pages, concatenated or listed, with overlapping repeats, gives the same sorted table."""
    bounds = sorted({0, len(recs), *[min(c, len(recs)) for c in cuts]})
    pages = [{"SpotPriceHistory": recs[a:b], "NextToken": "t"} for a, b in itertools.pairwise(bounds)]
    pages[-1]["NextToken"] = ""
    if repeat:
        pages.insert(0, {"SpotPriceHistory": recs[: len(recs) // 2], "NextToken": "x"})
    with tempfile.TemporaryDirectory() as d:
        one, split = Path(d) / "one.json", Path(d) / "split.json"
        one.write_text(json.dumps({"SpotPriceHistory": recs[::-1], "NextToken": ""}))
        split.write_text("\n".join(json.dumps(p) for p in pages))
        a, b = load_price_history(one), load_price_history(split)
    assert a.table.equals(b.table) and b.truncated_files == []
    t = a.table
    assert (t.groupby(["instance_type", "zone"])["timestamp"].apply(lambda s: s.is_monotonic_increasing)).all()
    for k in a.pools():
        s = a.series(k.instance_type, k.zone)
        assert s.cost_usd(s.start_s, s.end_s) >= 0
