"""Check a SkyPilot task YAML with SkyPilot's own schemas (run with a Python that has ``skypilot`` installed).

Usage: python skypilot_schema_check.py TASK.yaml. Validates the task, its ``resources`` (``ordered``/``any_of``
entries included) and every bucket mount with ``sky.utils.schemas``, as ``sky.Task.from_yaml`` does before it
reads the cloud catalog (which needs the network). Prints ``ok <skypilot version>``; exits 1 with SkyPilot's
message otherwise.
"""

from __future__ import annotations

import sys

import yaml


def main(path: str) -> int:
    import sky
    from sky.utils import common_utils, schemas

    with open(path, encoding="utf-8") as f:
        task = yaml.safe_load(f)
    try:
        common_utils.validate_schema(task, schemas.get_task_schema(), "Invalid task YAML: ")
        common_utils.validate_schema(task.get("resources", {}), schemas.get_resources_schema(),
                                     "Invalid resources YAML: ")
        for mount in (task.get("file_mounts") or {}).values():
            if isinstance(mount, dict):
                common_utils.validate_schema(mount, schemas.get_storage_schema(), "Invalid storage YAML: ")
    except Exception as exc:  # noqa: BLE001 - SkyPilot raises its own config error types
        print(f"{type(exc).__name__}: {exc}")
        return 1
    print(f"ok {sky.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
