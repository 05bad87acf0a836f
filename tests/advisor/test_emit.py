"""SkyPilot task YAML and torchrun command line emitted from a Plan."""

from __future__ import annotations

import yaml

from spotplan.advisor.emit import skypilot_task, skypilot_yaml, torchrun_command
from spotplan.schemas.plan import (
    Distribution,
    Expected,
    Market,
    ModelSpec,
    NoticeHandling,
    Plan,
    Pool,
    TrainingMode,
)


def _plan(nodes: int = 1) -> Plan:
    dist = Distribution(mean=1.0, p50=1.0, p95=1.0, ci95=(1.0, 1.0))
    return Plan(
        plan_id="abc123def456", created_utc="2026-11-24T00:00:00Z",
        model=ModelSpec(model_size="7B", n_params=6_740_000_000, mode=TrainingMode.FULL, tokens=10**9,
                        global_batch_tokens=2**21, step_time_s=80.0, total_steps=477, checkpoint_bytes=94 * 10**9),
        ladder=[
            Pool(instance_type="p5.48xlarge", market=Market.SPOT, region="us-east-2", zone="us-east-2a",
                 az_id="use2-az1", nodes=nodes, price_usd_per_h=20.0),
            Pool(instance_type="p5.48xlarge", market=Market.SPOT, region="us-west-2", az_id="usw2-az1", nodes=nodes,
                 price_usd_per_h=21.0),
            Pool(instance_type="p5.48xlarge", market=Market.ON_DEMAND, region="us-east-2", nodes=nodes,
                 price_usd_per_h=55.0),
        ],
        recovery_strategy="eager-next-region", checkpoint_interval_s=1800.0, checkpoint_interval_steps=23,
        save_blocking_s=9.4, save_persist_s=94.0, restore_s=94.0,
        notice=NoticeHandling(notice_s=120.0, emergency_save=True, emergency_save_fits=False),
        expected=Expected(cost_usd=dist, makespan_h=dist, runs=8), inputs_sha256="0" * 64,
    )


def test_skypilot_yaml_parses_with_named_fields() -> None:
    """The task has resources.any_of with use_spot, job_recovery, a checkpoint bucket mount and `spotplan run`."""
    doc = yaml.safe_load(skypilot_yaml(_plan(), gpus_per_node=8))
    res = doc["resources"]
    assert [r["use_spot"] for r in res["any_of"]] == [True, True, False]
    assert res["any_of"][0]["zone"] == "us-east-2a" and "zone" not in res["any_of"][1]
    assert all(r["instance_type"] == "p5.48xlarge" and r["cloud"] == "aws" for r in res["any_of"])
    assert res["job_recovery"]["strategy"] == "EAGER_NEXT_REGION"
    mount = doc["file_mounts"]["/checkpoints"]
    assert mount["mode"] == "MOUNT_CACHED" and mount["name"].startswith("spotplan-ckpt-")
    assert "spotplan run plan.yaml" in doc["run"]
    assert "/checkpoints/${SKYPILOT_TASK_ID}" in doc["run"]
    assert doc["num_nodes"] == 1


def test_single_gpu_task_runs_spotplan_directly() -> None:
    """With one GPU in total the run command starts with `spotplan run plan.yaml`, no torchrun."""
    task = skypilot_task(_plan(), gpus_per_node=1, plan_path="plan.yaml")
    assert task["run"].startswith("spotplan run plan.yaml")


def test_failover_maps_to_skypilot_failover() -> None:
    """The plan's failover strategy becomes SkyPilot's FAILOVER."""
    plan = _plan().model_copy(update={"recovery_strategy": "failover"})
    assert skypilot_task(plan, gpus_per_node=8)["resources"]["job_recovery"]["strategy"] == "FAILOVER"


def test_torchrun_command_lines() -> None:
    """Single node uses --standalone; multi-node uses c10d rendezvous; both start `spotplan run PLAN`."""
    one = torchrun_command(_plan(1), gpus_per_node=8)
    assert one.startswith("torchrun --standalone --nproc_per_node=8")
    assert "--no-python spotplan run plan.yaml" in one
    multi = torchrun_command(_plan(2), gpus_per_node=8, plan_path="my plan.yaml")
    assert "--nnodes=2" in multi and "--rdzv_backend=c10d" in multi and "'my plan.yaml'" in multi
    sky = torchrun_command(_plan(2), gpus_per_node=8, skypilot=True)
    assert "--nnodes=${SKYPILOT_NUM_NODES}" in sky and "--node_rank=${SKYPILOT_NODE_RANK}" in sky
