"""Launch artefacts for a plan: a SkyPilot managed-job task YAML and the matching torchrun command line.

The SkyPilot task follows the managed-jobs docs (reference §6): ``resources.any_of`` lists the ladder
rungs, each with ``use_spot``; ``resources.job_recovery`` names the recovery strategy; a bucket is
mounted at ``/checkpoints`` (``MOUNT_CACHED``) so checkpoints outlive preemptions; ``$SKYPILOT_TASK_ID``
(stable across recoveries) namespaces them. The run command starts ``spotplan run plan.yaml``.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from spotplan.schemas.plan import Market, Plan

CHECKPOINT_MOUNT = "/checkpoints"
MASTER_PORT = 29500
# SkyPilot's strategy names (sky/jobs/recovery_strategy.py) for the plan's recovery strategies.
_SKY_STRATEGY = {"eager-next-region": "EAGER_NEXT_REGION", "failover": "FAILOVER", "fixed-order": "FAILOVER"}


def gpus_per_node(plan: Plan, gpu_counts: dict[str, int]) -> int:
    """GPUs per node of the plan's first rung (the reference pool)."""
    return int(gpu_counts.get(plan.ladder[0].instance_type, 1))


def torchrun_command(
    plan: Plan, *, gpus_per_node: int, plan_path: str = "plan.yaml", checkpoint_dir: str | None = None,
    skypilot: bool = False,
) -> str:
    """The torchrun line that starts the runner on every node of the plan's reference pool.

    With ``skypilot=True`` node count, rank and master address come from SkyPilot's environment variables.
    Multi-node runs use the c10d rendezvous; ``--no-python`` lets torchrun start the ``spotplan`` script.
    """
    nodes = plan.ladder[0].nodes
    ckpt = checkpoint_dir or (f"{CHECKPOINT_MOUNT}/${{SKYPILOT_TASK_ID}}" if skypilot else "checkpoints")
    if skypilot:
        head = [
            "torchrun",
            "--nnodes=${SKYPILOT_NUM_NODES}",
            "--nproc_per_node=${SKYPILOT_NUM_GPUS_PER_NODE}",
            "--node_rank=${SKYPILOT_NODE_RANK}",
            '--master_addr=$(echo "$SKYPILOT_NODE_IPS" | head -n1)',
            f"--master_port={MASTER_PORT}",
        ]
    elif nodes > 1:
        head = [
            "torchrun",
            f"--nnodes={nodes}",
            f"--nproc_per_node={gpus_per_node}",
            "--rdzv_backend=c10d",
            f"--rdzv_endpoint=$MASTER_ADDR:{MASTER_PORT}",
            f"--rdzv_id={plan.plan_id}",
        ]
    else:
        head = ["torchrun", "--standalone", f"--nproc_per_node={gpus_per_node}"]
    # no --device: the runner takes cuda:LOCAL_RANK where CUDA is present, else the CPU (gloo), so the same line runs
    tail = ["--no-python", "spotplan", "run", shlex.quote(plan_path), "--checkpoint-dir", ckpt]
    return " ".join(head + tail)


def _rung(pool: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"cloud": "aws", "region": pool.region}
    if pool.zone:
        entry["zone"] = pool.zone
    entry["instance_type"] = pool.instance_type
    entry["use_spot"] = pool.market is Market.SPOT
    return entry


def skypilot_task(plan: Plan, *, gpus_per_node: int, plan_path: str = "plan.yaml") -> dict[str, Any]:
    """The SkyPilot task as a dict (``yaml.safe_dump`` it, or use :func:`skypilot_yaml`)."""
    strategy = _SKY_STRATEGY.get(plan.recovery_strategy, "EAGER_NEXT_REGION")
    run = torchrun_command(plan, gpus_per_node=gpus_per_node, plan_path=plan_path, skypilot=True)
    single = plan.ladder[0].nodes == 1 and gpus_per_node == 1
    if single:
        run = f"spotplan run {shlex.quote(plan_path)} --checkpoint-dir {CHECKPOINT_MOUNT}/${{SKYPILOT_TASK_ID}} --device cuda"
    return {
        "name": f"spotplan-{plan.plan_id}",
        "workdir": ".",
        "num_nodes": plan.ladder[0].nodes,
        "resources": {
            "any_of": [_rung(p) for p in plan.ladder],
            "job_recovery": {"strategy": strategy, "max_restarts_on_errors": 3},
        },
        "file_mounts": {
            CHECKPOINT_MOUNT: {"name": f"spotplan-ckpt-{plan.plan_id}", "mode": "MOUNT_CACHED"},
        },
        "envs": {"SPOTPLAN_PLAN_ID": plan.plan_id},
        "setup": "pip install -e .",
        "run": run,
    }


def skypilot_yaml(plan: Plan, *, gpus_per_node: int, plan_path: str = "plan.yaml") -> str:
    """SkyPilot task YAML text with a header saying how to launch it."""
    header = (
        f"# SkyPilot managed job for spotplan plan {plan.plan_id} ({plan.model.model_size}, {plan.model.mode.value}).\n"
        "# Launch from the spotplan checkout holding the plan file: sky jobs launch <this file>\n"
        f"# Ladder order is the plan's; SkyPilot itself picks the cheapest listed resource ({plan.recovery_strategy}).\n"
    )
    body = yaml.safe_dump(skypilot_task(plan, gpus_per_node=gpus_per_node, plan_path=plan_path), sort_keys=False)
    return header + body
