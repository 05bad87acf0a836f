"""Secondary interruption evidence for ``spotplan data fit``: Bamboo node traces and training_on_a_dime events.

These are short (hours to two days) and either lack a region (Bamboo) or cover few pools, so the fit records them
as cross-checks beside the pool figures rather than using them as pool fits. Times are seconds and hours; a
lifetime ends at a removal/preemption, or is censored at the end of the log (time counts, no event).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from spotplan.simulator.market.fit_stats import sig

BAMBOO = {"p3": "bamboo/p3-trace.csv", "g4dn": "bamboo/g4dn-trace.csv"}
TOD_EVENTS = "training_on_a_dime/aws_spot_availability_events_2020-03-15.csv"
TOD_TYPES = {("k80", "1"): "p2.xlarge", ("k80", "8"): "p2.8xlarge", ("v100", "1"): "p3.2xlarge",
             ("v100", "8"): "p3.16xlarge"}


def _summary(lifetimes_s: list[float], ended: list[bool]) -> dict[str, Any]:
    life = np.asarray(lifetimes_s)
    done = np.asarray(ended, dtype=bool)
    hours = float(life.sum()) / 3600
    events = int(done.sum())
    return {"instances": int(life.size), "interruptions": events, "instance_hours": sig(hours),
            "mean_lifetime_h": sig(hours / events) if events else None,
            "median_complete_lifetime_h": sig(float(np.median(life[done])) / 3600) if events else None}


def bamboo_lifetimes(shared: Path) -> list[dict[str, Any]]:
    """Node lifetimes of the Bamboo spot autoscaling-group traces (region not stated; us-east-1 per the paper)."""
    out = []
    for family, rel in BAMBOO.items():
        added: dict[str, float] = {}
        removed: dict[str, float] = {}
        end_s = 0.0
        for t_ms, what, node in csv.reader((shared / rel).open(encoding="utf-8")):
            t = float(t_ms) / 1000.0
            end_s = max(end_s, t)
            (added if what == "add" else removed)[node] = t
        nodes = sorted(added)
        life = [removed.get(n, end_s) - added[n] for n in nodes]
        out.append({"file": rel, "family": family, "window_h": sig(end_s / 3600),
                    **_summary(life, [n in removed for n in nodes]),
                    "note": "removals include scale-in by the group, so this bounds spot lifetimes from below"})
    return out


def tod_event_lifetimes(shared: Path) -> list[dict[str, Any]]:
    """Per (type, zone) lifetimes from created/running to not_running (preempted) in the 2020-03-15 log."""
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    preempted: set[str] = set()
    pool_of: dict[str, tuple[str, str]] = {}
    for r in csv.DictReader((shared / TOD_EVENTS).open(encoding="utf-8")):
        iid, ev = r["instance_id"], r["event"]
        if not iid or ev == "creation_failed":
            continue
        t = datetime.fromisoformat(r["timestamp"]).timestamp()
        first.setdefault(iid, t)
        last[iid] = t
        if r["zone"]:
            pool_of[iid] = (TOD_TYPES.get((r["gpu_type"], r["num_gpus"]), ""), r["zone"])
        if ev == "not_running":
            preempted.add(iid)
    by_pool: dict[tuple[str, str], tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    for iid in sorted(first):
        if iid in pool_of and pool_of[iid][0]:
            life, ended = by_pool[pool_of[iid]]
            life.append(last[iid] - first[iid])
            ended.append(iid in preempted)
    return [{"file": TOD_EVENTS, "instance_type": t, "zone": z, **_summary(*by_pool[(t, z)])}
            for t, z in sorted(by_pool)]
