"""Retracting a pipeline version: plan, archive side, local side, journal, report."""

from ..errors import DeletionIncomplete
from .execute import delete_dandiset_version, execute_plan, run_deletion
from .model import (
    DEFAULT_JOBS,
    AssetFailure,
    DeletionOptions,
    DeletionReport,
    DeletionTarget,
    PlannedAsset,
    TargetResult,
    TargetStatus,
)
from .plan import DeletionPlan, plan_deletion

__all__ = [
    "DEFAULT_JOBS",
    "AssetFailure",
    "DeletionIncomplete",
    "DeletionOptions",
    "DeletionPlan",
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
