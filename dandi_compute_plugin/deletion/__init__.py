"""Retracting a pipeline version: plan, archive side, local side, journal, report."""

from ..errors import DeletionIncomplete
from .execute import execute_plan
from .model import (
    DEFAULT_JOBS,
    AssetFailure,
    DeletionOptions,
    DeletionProgress,
    DeletionReport,
    DeletionTarget,
    PlannedAsset,
    TargetResult,
    TargetStatus,
)
from .plan import DeletionPlan, plan_deletion
from .run import delete_dandiset_version, run_deletion

__all__ = [
    "DEFAULT_JOBS",
    "AssetFailure",
    "DeletionIncomplete",
    "DeletionOptions",
    "DeletionPlan",
    "DeletionProgress",
    "DeletionReport",
    "DeletionTarget",
    "PlannedAsset",
    "TargetResult",
    "TargetStatus",
    "delete_dandiset_version",
    "execute_plan",
    "plan_deletion",
    "run_deletion",
]
