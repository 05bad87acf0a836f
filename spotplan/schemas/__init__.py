"""File contracts: Scenario, Plan, Calibration, RunReport and the run event log.

Every schema carries ``schema_version``, forbids unknown fields, and names units in its field names.
"""

from __future__ import annotations

from spotplan.schemas.base import SchemaModel, StrictModel
from spotplan.schemas.baseline import BaselineRecord, ReferenceScenario
from spotplan.schemas.calibration import Calibration, CalibrationPoint, LinearCostFit, MachineInfo
from spotplan.schemas.events import EventKind, RunEvent
from spotplan.schemas.plan import (
    Assumption,
    Distribution,
    Expected,
    Market,
    ModelSpec,
    NoticeHandling,
    Plan,
    Pool,
    TrainingMode,
)
from spotplan.schemas.run_report import RunReport
from spotplan.schemas.scenario import (
    AvailabilityKind,
    AvailabilitySource,
    DeadlinePolicy,
    EndPolicy,
    IntervalPolicy,
    PoolSpec,
    PriceKind,
    PriceSource,
    RecoveryStrategy,
    Scenario,
)

__all__ = [
    "Assumption",
    "AvailabilityKind",
    "AvailabilitySource",
    "BaselineRecord",
    "Calibration",
    "CalibrationPoint",
    "DeadlinePolicy",
    "Distribution",
    "EndPolicy",
    "EventKind",
    "Expected",
    "IntervalPolicy",
    "LinearCostFit",
    "MachineInfo",
    "Market",
    "ModelSpec",
    "NoticeHandling",
    "Plan",
    "Pool",
    "PoolSpec",
    "PriceKind",
    "PriceSource",
    "RecoveryStrategy",
    "ReferenceScenario",
    "RunEvent",
    "RunReport",
    "Scenario",
    "SchemaModel",
    "StrictModel",
    "TrainingMode",
]
