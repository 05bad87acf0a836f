"""Fetch spot price history from AWS into the local cache that the other commands read.

Network side of the data layer (load and lookup live in ``simulator/market/prices.py``). Uses boto3's
``describe_spot_price_history`` paginator until ``NextToken`` is empty, with the standard credential chain
(environment, shared files, SSO, instance role); credentials are never written anywhere. One cache file per
(region, instance type, pull): ``<cache>/<region>/<UTC pull time>.<type>.json`` holding the list of response pages
(the CLI's "list of pages" form, Timestamps as ISO-8601 UTC). Window: up to 90 days back (the API's limit).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from spotplan.errors import ConfigError, CredentialsError, DataError, SpotplanError, did_you_mean

MAX_DAYS = 90
PAGE_SIZE = 1000
_CRED_CODES = {"AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch",
               "ExpiredToken", "RequestExpired", "OptInRequired"}


def cache_dir() -> Path:
    """``$SPOTPLAN_CACHE_DIR`` or ``~/.cache/spotplan/prices``."""
    env = os.environ.get("SPOTPLAN_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "spotplan" / "prices"


def cached_source() -> Path | None:
    """The cache folder when it holds at least one pull, else None (commands then use the embedded data)."""
    d = cache_dir()
    return d if d.is_dir() and any(d.rglob("*.json")) else None


def check_regions(regions: Sequence[str]) -> None:
    """ConfigError for a region botocore does not know (offline check against its endpoint data)."""
    import boto3

    known = boto3.session.Session().get_available_regions("ec2")
    for r in regions:
        if r not in known:
            raise ConfigError(f"--region '{r}' is not an AWS region{did_you_mean(r, known)}")


def _json_ready(page: dict[str, Any]) -> dict[str, Any]:
    recs = []
    for rec in page.get("SpotPriceHistory", []):
        ts = rec.get("Timestamp")
        if isinstance(ts, datetime):
            rec = {**rec, "Timestamp": ts.astimezone(UTC).isoformat().replace("+00:00", "Z")}
        recs.append(rec)
    return {"SpotPriceHistory": recs, "NextToken": page.get("NextToken") or ""}


def _raise_aws(exc: Exception, region: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        raise CredentialsError(f"no AWS credentials found through the standard chain ({exc}); set AWS_PROFILE or "
                               "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws configure`") from None
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, msg = err.get("Code", "?"), str(err.get("Message", "")).splitlines()[0][:200] if err.get("Message") else ""
        cls = CredentialsError if code in _CRED_CODES else SpotplanError
        raise cls(f"AWS describe-spot-price-history in {region} failed: {code}: {msg}") from None
    if isinstance(exc, BotoCoreError):
        raise SpotplanError(f"AWS describe-spot-price-history in {region} failed: {exc}") from None
    raise exc


def fetch_pages(client: Any, *, instance_type: str, product: str, start: datetime, end: datetime,
                page_size: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """All response pages for one type (JSON-ready dicts), paginating until NextToken is empty."""
    region = getattr(getattr(client, "meta", None), "region_name", "?")
    try:
        paginator = client.get_paginator("describe_spot_price_history")
        pages = paginator.paginate(InstanceTypes=[instance_type], ProductDescriptions=[product], StartTime=start,
                                   EndTime=end, PaginationConfig={"PageSize": page_size})
        return [_json_ready(p) for p in pages]
    except Exception as exc:  # botocore's error types are mapped to one-line SpotplanErrors
        _raise_aws(exc, region)
        raise


def _write_atomic(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def _default_client(region: str) -> Any:
    import boto3

    session = boto3.session.Session(region_name=region)
    if session.get_credentials() is None:
        raise CredentialsError("no AWS credentials found through the standard chain (environment, ~/.aws, SSO, "
                               "instance role); configure them, or use `spotplan prices show` on the embedded data")
    return session.client("ec2")


def fetch_to_cache(regions: Sequence[str], instance_types: Sequence[str], *, days: int = MAX_DAYS,
                   product: str = "Linux/UNIX", cache: Path | None = None, now: datetime | None = None,
                   client_factory: Callable[[str], Any] = _default_client,
                   progress: bool = False) -> list[Path]:
    """Fetch every (region, type) pull into the cache; return the files written."""
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"--days {days}: expected 1..{MAX_DAYS} (describe-spot-price-history keeps 90 days)")
    if not regions or not instance_types:
        raise ConfigError("give at least one --region and one --instance-type")
    end = now or datetime.now(UTC)
    start = end - timedelta(days=days)
    out_dir = cache or cache_dir()
    stamp = end.strftime("%Y%m%dT%H%M%SZ")
    jobs = [(r, t) for r in regions for t in instance_types]
    written = []
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("describe-spot-price-history", total=len(jobs))
        for region in regions:
            client = client_factory(region)
            for itype in instance_types:
                pages = fetch_pages(client, instance_type=itype, product=product, start=start, end=end)
                path = out_dir / region / f"{stamp}.{itype}.json"
                _write_atomic(path, pages)
                written.append(path)
                bar.advance(task)
    if not written:
        raise DataError("nothing was fetched", path=str(out_dir))
    return written
