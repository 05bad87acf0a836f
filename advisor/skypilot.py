"""The SkyPilot managed-job task of a plan: an ordered ladder, the plan file copied in, checkpoints in a bucket.

- ``resources.ordered`` keeps the plan's ladder order (SkyPilot tries the entries top-down; ``any_of`` would let
  it pick the cheapest). Each spot rung names its zone where the zone name is known (``spotplan.advisor.zones``);
  a rung whose zone has no name there becomes a region entry, and a region entry that repeats an earlier one is
  dropped (SkyPilot would list it twice) and said in a comment.
- ``file_mounts`` copies the plan file to ``/spotplan/plan.yaml``, where ``run:`` reads it; its source path is
  relative to the directory ``spotplan recommend`` ran in, which is where the task is launched from (``workdir:
  .`` installs spotplan from that checkout). A bucket is mounted at ``/checkpoints`` (``MOUNT_CACHED``) and
  ``$SKYPILOT_TASK_ID`` (stable across recoveries) namespaces the checkpoints.
- The ``run:`` line is :func:`spotplan.advisor.emit.skypilot_task`'s (the runner's launch line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from spotplan.advisor import emit
from spotplan.advisor.zones import PER_ACCOUNT_REGIONS, zone_label, zone_name
from spotplan.schemas.plan import Market, Plan, Pool

PLAN_MOUNT = "/spotplan/plan.yaml"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ladder:
    """The ``resources.ordered`` entries and a note per rung that could not be an entry of its own."""

    entries: list[dict[str, Any]]
    notes: list[str]


def _entry(pool: Pool) -> dict[str, Any]:
    entry: dict[str, Any] = {"cloud": "aws", "region": pool.region}
    name = zone_name(pool.region, pool.az_id, pool.zone) if pool.market is Market.SPOT else None
    if name:
        entry["zone"] = name
    entry["instance_type"] = pool.instance_type
    entry["use_spot"] = pool.market is Market.SPOT
    return entry


def ordered_ladder(plan: Plan) -> Ladder:
    """One entry per distinct rung, in the plan's order."""
    entries: list[dict[str, Any]] = []
    notes: list[str] = []
    for i, pool in enumerate(plan.ladder, 1):
        entry = _entry(pool)
        if entry in entries:
            where = zone_label(pool.region, pool.zone, pool.az_id)
            notes.append(f"rung {i} ({pool.instance_type} {where}) has no zone name in every account, so it is "
                         f"covered by entry {entries.index(entry) + 1} (any zone of {pool.region})")
            continue
        entries.append(entry)
    return Ladder(entries=entries, notes=notes)


def plan_source(plan_file: Path, cwd: Path | None = None) -> str:
    """The plan file's path for ``file_mounts``: relative to ``cwd`` when inside it, else absolute."""
    here = (cwd or Path.cwd()).resolve()
    target = plan_file.resolve()
    try:
        return target.relative_to(here).as_posix()
    except ValueError:
        return os.fspath(target)


def skypilot_task(plan: Plan, *, gpus_per_node: int, plan_file: str) -> dict[str, Any]:
    """The task as a dict; ``plan_file`` is the local plan path SkyPilot copies to :data:`PLAN_MOUNT`."""
    base = emit.skypilot_task(plan, gpus_per_node=gpus_per_node, plan_path=PLAN_MOUNT)
    resources = {"ordered": ordered_ladder(plan).entries, "job_recovery": base["resources"]["job_recovery"]}
    return {
        "name": base["name"],
        "workdir": ".",
        "num_nodes": base["num_nodes"],
        "resources": resources,
        "file_mounts": {**base["file_mounts"], PLAN_MOUNT: plan_file},
        "envs": base["envs"],
        "setup": base["setup"],
        "run": base["run"],
    }


def _header(plan: Plan, ladder: Ladder, plan_file: str) -> list[str]:
    lines = [
        f"SkyPilot managed job for spotplan plan {plan.plan_id} ({plan.model.model_size}, {plan.model.mode.value}).",
        "Launch from the directory where `spotplan recommend` ran (the spotplan checkout; workdir and the plan",
        f"path {plan_file} are relative to it): sky jobs launch <this file>",
        f"resources.ordered is the plan's ladder, tried top-down; recovery: {plan.recovery_strategy}.",
    ]
    per_account = sorted({p.region for p in plan.ladder if p.zone and p.region in PER_ACCOUNT_REGIONS})
    if per_account:
        lines.append(f"Zone names in {', '.join(per_account)} differ per AWS account; check that yours match the AZ "
                     "IDs below: aws ec2 describe-availability-zones --region REGION")
    lines += [f"rung {i}: {p.instance_type} {p.market.value} {zone_label(p.region, p.zone, p.az_id)}"
              for i, p in enumerate(plan.ladder, 1)]
    return lines + ladder.notes


def skypilot_yaml(plan: Plan, *, gpus_per_node: int, plan_file: str) -> str:
    """Task YAML text with a comment header saying how to launch it and which AZ each rung is."""
    header = "".join(f"# {line}\n" for line in _header(plan, ordered_ladder(plan), plan_file))
    body = yaml.safe_dump(skypilot_task(plan, gpus_per_node=gpus_per_node, plan_file=plan_file), sort_keys=False)
    return header + body
