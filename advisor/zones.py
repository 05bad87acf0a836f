"""One naming of AWS zones for everything a person reads: the AZ ID, with the zone name where it is known.

AZ IDs (``use2-az1``) name the same physical zone in every account; zone names (``us-east-2a``) are per account
in the regions AWS created before November 2012, and the same in every account in the others ("All Regions
introduced after November 2012 use a uniform mapping", AWS Regions and Availability Zones guide, "AZ IDs").
SkyPilot's ``zone:`` takes a zone name, so a ladder rung can name its zone only where the name is known: from
the catalog or a replayed price history, or from the uniform mapping below (as ``aws ec2
describe-availability-zones`` prints it in every account).
"""

from __future__ import annotations

# Regions with the uniform mapping that the embedded catalog covers; AZ ID -> zone name.
UNIFORM_ZONE_NAMES: dict[str, dict[str, str]] = {
    "us-east-2": {"use2-az1": "us-east-2a", "use2-az2": "us-east-2b", "use2-az3": "us-east-2c"},
    "eu-central-1": {"euc1-az2": "eu-central-1a", "euc1-az3": "eu-central-1b", "euc1-az1": "eu-central-1c"},
    "eu-west-2": {"euw2-az2": "eu-west-2a", "euw2-az3": "eu-west-2b", "euw2-az1": "eu-west-2c"},
}
# Regions whose zone names differ per account (of those the catalog covers): a name there is one account's.
PER_ACCOUNT_REGIONS: frozenset[str] = frozenset({"us-east-1", "us-west-1", "us-west-2", "eu-west-1"})


def zone_name(region: str, az_id: str | None, known: str | None = None) -> str | None:
    """The zone name of an AZ: the one given (catalog, price history), else the uniform mapping's, else None."""
    if known:
        return known
    if az_id is None:
        return None
    return UNIFORM_ZONE_NAMES.get(region, {}).get(az_id)


def zone_label(region: str, zone: str | None, az_id: str | None) -> str:
    """``use2-az1 (us-east-2a)``, ``use2-az1``, ``us-east-1d`` or the region: the AZ ID first, the name where known."""
    name = zone_name(region, az_id, zone)
    if az_id and name:
        return f"{az_id} ({name})"
    return az_id or name or region
