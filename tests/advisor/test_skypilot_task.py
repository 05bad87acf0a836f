"""The SkyPilot task of `recommend --skypilot`: SkyPilot's own schema, an ordered ladder, the plan file in place."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spotplan.advisor.skypilot import PLAN_MOUNT, ordered_ladder
from spotplan.advisor.zones import zone_label, zone_name
from spotplan.schemas.plan import Market, Plan
from tests.support.golden import plan_id_7b

REPO = Path(__file__).resolve().parents[2]
CHECK = Path(__file__).with_name("skypilot_schema_check.py")


def _skypilot_python() -> str | None:
    """A Python with SkyPilot: this one, $SPOTPLAN_SKYPILOT_PYTHON, or the repo's .venv-sky (pip install skypilot)."""
    if importlib.util.find_spec("sky") is not None:
        return sys.executable
    for candidate in (os.environ.get("SPOTPLAN_SKYPILOT_PYTHON"), str(REPO / ".venv-sky" / "bin" / "python")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`spotplan recommend --model-size 7B --skypilot task.yaml`, run in an empty directory."""
    d = tmp_path_factory.mktemp("sky")
    proc = subprocess.run([sys.executable, "-m", "spotplan.cli", "recommend", "--model-size", "7B",
                           "--skypilot", "task.yaml"], cwd=d, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "sky jobs launch task.yaml" in proc.stdout
    return d


def test_task_passes_skypilots_own_schema(task_dir: Path) -> None:
    """SkyPilot's schemas (task, resources with `ordered`, bucket mounts) accept the task as written."""
    python = _skypilot_python()
    if python is None:
        pytest.skip("SkyPilot is not installed here: `pip install skypilot` into the test environment, or point "
                    "SPOTPLAN_SKYPILOT_PYTHON at a Python that has it (its schema cannot be checked without it)")
    proc = subprocess.run([python, str(CHECK), "task.yaml"], cwd=task_dir, capture_output=True, text=True,
                          timeout=180, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("ok "), proc.stdout + proc.stderr


def test_task_ladder_is_ordered_and_distinct(task_dir: Path) -> None:
    """resources.ordered lists the plan's rungs in order, each naming its zone, with no two entries identical."""
    task = yaml.safe_load((task_dir / "task.yaml").read_text())
    plan = Plan.load(task_dir / "task.plan.yaml")
    entries = task["resources"]["ordered"]
    assert "any_of" not in task["resources"]
    assert len({yaml.safe_dump(e, sort_keys=True) for e in entries}) == len(entries)
    assert [(e["instance_type"], e["region"], e.get("zone")) for e in entries] == [
        (p.instance_type, p.region, zone_name(p.region, p.az_id, p.zone)) for p in plan.ladder]
    assert all(e["use_spot"] == (p.market is Market.SPOT) for e, p in zip(entries, plan.ladder, strict=True))


def test_plan_file_is_where_run_expects_it(task_dir: Path) -> None:
    """The plan is written beside the task, copied by file_mounts to the path `run:` reads, and is the plan."""
    task = yaml.safe_load((task_dir / "task.yaml").read_text())
    assert f"spotplan run {PLAN_MOUNT}" in task["run"]
    source = task_dir / task["file_mounts"][PLAN_MOUNT]
    assert source.is_file()
    assert Plan.load(source).plan_id == plan_id_7b()


def test_rungs_without_zone_names_merge_into_one_region_entry() -> None:
    """Two AZs of a per-account region with no zone name become one region entry, and the task says why."""
    from tests.advisor.test_emit import _plan

    plan = _plan()
    west = plan.ladder[1]
    ladder = [plan.ladder[0], west, west.model_copy(update={"az_id": "usw2-az2"}), plan.ladder[2]]
    out = ordered_ladder(plan.model_copy(update={"ladder": ladder}))
    assert [e.get("zone") for e in out.entries] == ["us-east-2a", None, None]
    assert len(out.notes) == 1 and "usw2-az2" in out.notes[0] and "us-west-2" in out.notes[0]


def test_zone_labels_put_the_az_id_first() -> None:
    """A zone reads as its AZ ID with the name where known: catalog name, uniform mapping, or none."""
    assert zone_label("us-east-1", "us-east-1d", "use1-az1") == "use1-az1 (us-east-1d)"
    assert zone_label("us-east-2", None, "use2-az3") == "use2-az3 (us-east-2c)"
    assert zone_label("eu-central-1", None, "euc1-az1") == "euc1-az1 (eu-central-1c)"
    assert zone_label("us-west-2", None, "usw2-az1") == "usw2-az1"
    assert zone_label("eu-west-1", "eu-west-1a", None) == "eu-west-1a"
