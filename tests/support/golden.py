"""The recorded ``spotplan recommend --model-size 7B --json`` document: one place for the 7B plan's identity.

Tests that check the 7B plan id read it from here, so that a reviewed re-recording of the golden file
(``SPOTPLAN_REGEN_GOLDEN=1``, see tests/advisor/test_cli.py) is the only edit a change of data or model needs.
"""

from __future__ import annotations

import json
from pathlib import Path

GOLDEN_7B = Path(__file__).resolve().parents[1] / "advisor" / "golden" / "recommend_7b.json"


def plan_id_7b() -> str:
    """The recorded 7B plan's id."""
    return str(json.loads(GOLDEN_7B.read_text(encoding="utf-8"))["plan"]["plan_id"])
