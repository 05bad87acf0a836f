"""AWS fetch with botocore's Stubber: >= 3 pages, error responses, the cache, and missing credentials."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import ANY, Stubber

from spotplan.errors import ConfigError, CredentialsError, SpotplanError
from spotplan.simulator.market.fetch import fetch_pages, fetch_to_cache
from spotplan.simulator.market.prices import load_price_history

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _client():
    return boto3.client("ec2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def _page(i: int, n: int = 3) -> list[dict]:
    return [{"AvailabilityZone": f"us-east-1{'abc'[k]}", "AvailabilityZoneId": f"use1-az{k + 1}",
             "InstanceType": "g5.xlarge", "ProductDescription": "Linux/UNIX", "SpotPrice": f"{0.4 + 0.01 * i:.6f}",
             "Timestamp": NOW - timedelta(hours=10 * i + k)} for k in range(n)]


def _params(days: int = 90) -> dict:
    return {"InstanceTypes": ["g5.xlarge"], "ProductDescriptions": ["Linux/UNIX"],
            "StartTime": NOW - timedelta(days=days), "EndTime": NOW, "MaxResults": 1000}


def _stub_three_pages(st: Stubber) -> None:
    st.add_response("describe_spot_price_history", {"SpotPriceHistory": _page(0), "NextToken": "t1"}, _params())
    st.add_response("describe_spot_price_history", {"SpotPriceHistory": _page(1), "NextToken": "t2"},
                    {**_params(), "NextToken": "t1"})
    st.add_response("describe_spot_price_history", {"SpotPriceHistory": _page(2), "NextToken": ""},
                    {**_params(), "NextToken": ANY})


def test_paginates_until_next_token_empty() -> None:
    """Three stubbed pages are all fetched, in order, with JSON-ready timestamps."""
    client = _client()
    with Stubber(client) as st:
        _stub_three_pages(st)
        pages = fetch_pages(client, instance_type="g5.xlarge", product="Linux/UNIX",
                            start=NOW - timedelta(days=90), end=NOW)
        st.assert_no_pending_responses()
    assert len(pages) == 3 and sum(len(p["SpotPriceHistory"]) for p in pages) == 9
    assert pages[0]["SpotPriceHistory"][0]["Timestamp"] == "2026-11-01T00:00:00Z"


def test_cache_round_trip(tmp_path) -> None:
    """fetch_to_cache writes a list-of-pages file the loader reads back, with AZ IDs and no truncation."""
    client = _client()
    with Stubber(client) as st:
        _stub_three_pages(st)
        files = fetch_to_cache(["us-east-1"], ["g5.xlarge"], cache=tmp_path, now=NOW,
                               client_factory=lambda region: client)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == ["us-east-1/20261101T000000Z.g5.xlarge.json"]
    h = load_price_history(tmp_path)
    assert len(h.table) == 9 and h.truncated_files == []
    assert set(h.table["az_id"]) == {"use1-az1", "use1-az2", "use1-az3"}
    assert h.series("g5.xlarge", "use1-az1").price_at(NOW.timestamp()) == pytest.approx(0.40)


@pytest.mark.parametrize("code,status,exc", [
    ("RequestLimitExceeded", 503, SpotplanError),
    ("UnauthorizedOperation", 403, CredentialsError),
    ("AuthFailure", 401, CredentialsError),
])
def test_error_responses_become_one_line(code, status, exc) -> None:
    """AWS errors (on the second page too) become one-line SpotplanErrors naming the code and region."""
    client = _client()
    with Stubber(client) as st:
        st.add_response("describe_spot_price_history", {"SpotPriceHistory": _page(0), "NextToken": "t1"}, _params())
        st.add_client_error("describe_spot_price_history", service_error_code=code, service_message="nope\nmore",
                            http_status_code=status)
        with pytest.raises(exc, match=f"us-east-1 failed: {code}: nope$") as info:
            fetch_pages(client, instance_type="g5.xlarge", product="Linux/UNIX",
                        start=NOW - timedelta(days=90), end=NOW)
    assert "\n" not in str(info.value)


def test_bad_days_and_region() -> None:
    """--days outside 1..90 and unknown regions are ConfigErrors."""
    with pytest.raises(ConfigError, match="1..90"):
        fetch_to_cache(["us-east-1"], ["g5.xlarge"], days=91)
    from spotplan.simulator.market.fetch import check_regions

    with pytest.raises(ConfigError, match="did you mean 'us-west-2'"):
        check_regions(["us-wset-2"])


def test_cli_without_credentials(run_cli, monkeypatch, tmp_path) -> None:
    """With no credentials anywhere, `prices fetch` prints one line and exits 2."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("SPOTPLAN_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = run_cli("prices", "fetch", "--region", "us-east-1", "--instance-type", "p3.2xlarge")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "credentials" in err
