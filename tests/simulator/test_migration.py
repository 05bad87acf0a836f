"""Checkpoint migration: a restart in another region pays egress and a transfer, checked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from spotplan.simulator.market.egress import MIGRATION_BANDWIDTH_GB_PER_S, egress_usd_per_gb
from spotplan.simulator.migration import held_after, migration_for
from tests.support.sim import compiled, run, scenario, spot_pool, write_trace

H = 3600.0
GB = 10**9


def _fallback_doc(tmp_path: Path, od_region: str, gb: int = 50) -> dict:
    # Spot in us-west-2a for 2 h, then gone; on-demand in ``od_region``. 3 h of work, a save every 2000 s of work
    # (zero-length saves: no stalls), no provisioning, setup or restore: only the migration is added.
    trace = write_trace(tmp_path, "a", [1, 1] + [0] * 20, H)
    od = {"instance_type": "p3.2xlarge", "region": od_region, "market": "on-demand", "name": "OD",
          "price": {"kind": "fixed", "usd_per_h": 3.06}}
    doc = scenario([spot_pool("us-west-2a", "us-west-2", {"kind": "trace", "path": trace}, name="S"), od],
                   work_h=3.0, interval_s=2000.0, replay={"start_offset_h": 0.0, "end_policy": "clamp"})
    doc["checkpoint"]["checkpoint_bytes"] = gb * GB
    doc["billing"] = {"first_hour_free_on_interruption": False}
    return doc


def test_cross_region_fallback_pays_egress_and_transfer_time(tmp_path: Path) -> None:
    """Killed at 2 h with the 6000 s checkpoint in us-west-2; on-demand in us-east-1 pulls 50 GB first."""
    r = run(_fallback_doc(tmp_path, "us-east-1"))
    transfer_s = 50 / MIGRATION_BANDWIDTH_GB_PER_S  # 200 s at 0.25 GB/s
    egress = 50 * 0.02  # AWS us-west-2 -> us-east-1: $0.02/GB
    assert egress_usd_per_gb("us-west-2", "us-east-1") == 0.02 and transfer_s == 200.0
    # spot 0..7200 s (work 0..7200, recovery 6000); on-demand from 7200: 200 s transfer, then 4800 s of work
    assert r.finished and r.makespan_s == pytest.approx(7200 + 200 + 4800)
    assert r.migrations == 1 and r.egress_usd == pytest.approx(1.00)
    assert r.time_by_bucket_s["migration"] == pytest.approx(transfer_s)
    assert r.cost_by_bucket_usd["migration"] == pytest.approx(3.06 * 200 / H + egress)
    assert r.cost_by_pool_usd["S"] == pytest.approx(2.0)
    assert r.cost_by_pool_usd["OD"] == pytest.approx(3.06 * 5000 / H + egress)
    assert r.cost_usd == pytest.approx(2.0 + 3.06 * 5000 / H + egress)
    assert sum(r.cost_by_bucket_usd.values()) == pytest.approx(r.cost_usd)
    assert r.lost_work_s == pytest.approx(1200.0)
    mig = [iv for iv in r.timeline if iv.activity.value == "migration"]
    assert [(iv.start_s, iv.end_s) for iv in mig] == [(7200.0, 7400.0)]


def test_same_region_fallback_moves_nothing(tmp_path: Path) -> None:
    """On-demand in us-west-2 restarts from the checkpoint where it is: no egress, no transfer."""
    r = run(_fallback_doc(tmp_path, "us-west-2"))
    assert r.migrations == 0 and r.egress_usd == 0.0 and r.time_by_bucket_s["migration"] == 0.0
    assert r.makespan_s == pytest.approx(7200 + 4800)


def test_no_checkpoint_size_no_migration(tmp_path: Path) -> None:
    """A scenario without a checkpoint size keeps the old, free moves."""
    r = run(_fallback_doc(tmp_path, "us-east-1", gb=0))
    assert r.migrations == 0 and r.makespan_s == pytest.approx(7200 + 4800)


def test_where_the_checkpoint_lives() -> None:
    """A landed save lives where it was taken; a completed transfer adds a copy; nothing moves before a save."""
    egress = {(a, b): (0.0 if a == b else 0.02) for a in ("us-east-1", "us-west-2") for b in ("us-east-1", "us-west-2")}
    kw = {"checkpoint_bytes": 10 * GB, "egress": egress}
    assert migration_for(frozenset(), "us-east-1", recovery=0.0, **kw) is None
    m = migration_for(frozenset({"us-west-2"}), "us-east-1", recovery=5.0, **kw)
    assert m is not None and m.src_region == "us-west-2" and m.usd == pytest.approx(0.2) and m.time_s == 40.0
    assert migration_for(frozenset({"us-west-2", "us-east-1"}), "us-east-1", recovery=5.0, **kw) is None
    both = held_after(frozenset({"us-west-2"}), "us-east-1", saved=False, moved=True)
    assert both == {"us-west-2", "us-east-1"}
    assert held_after(both, "us-east-1", saved=True, moved=True) == {"us-east-1"}
    assert held_after(frozenset({"us-west-2"}), "us-east-1", saved=False, moved=False) == {"us-west-2"}


def test_deadline_changeover_includes_the_transfer(tmp_path: Path) -> None:
    """Where a switch can move the checkpoint, the deadline policies' d includes one transfer."""
    cs = compiled(_fallback_doc(tmp_path, "us-east-1"), tmp_path)
    assert cs.migrates and cs.changeover_s == pytest.approx(200.0)
    assert not compiled(_fallback_doc(tmp_path, "us-west-2"), tmp_path).migrates


def test_simulate_reports_migration_as_its_own_activity(tmp_path: Path, run_cli) -> None:
    """`spotplan simulate --json` lists the migration activity with its cost and time, and the text names it."""
    import json

    import yaml

    doc = _fallback_doc(tmp_path, "us-east-1")
    doc["schema_version"] = 1
    doc["name"] = "cross-region-fallback"
    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(doc))
    code, out, err = run_cli("simulate", path, "--runs", "2", "--workers", "1", "--json")
    assert code == 0, err
    s = json.loads(out)
    assert s["mean_cost_by_activity_usd"]["migration"] == pytest.approx(3.06 * 200 / H + 1.00)
    assert s["mean_time_by_activity_h"]["migration"] == pytest.approx(200 / H)
    code, text, err = run_cli("simulate", path, "--runs", "2", "--workers", "1")
    assert code == 0, err
    assert "migration" in text
