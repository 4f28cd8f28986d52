"""Retracting a pipeline version: plan, archive side, local side, journal, report.

The names are imported lazily (:pep:`562`), as the top-level package's are: a
module that needs one piece of the deletion (the command line's option parsing,
a hook plugin reading :mod:`.model`) does not load the archive client, pluggy
and requests with it.
"""

# Not `from typing import ...`: this module stays as light as the top level.
TYPE_CHECKING = False

#: public name -> module that defines it (relative to this package)
_EXPORTS = {
    "DEFAULT_JOBS": "..defaults",
    "DeletionIncomplete": "..errors",
    "AssetFailure": ".model",
    "DeletionOptions": ".model",
    "DeletionProgress": ".model",
    "DeletionReport": ".model",
    "DeletionTarget": ".model",
    "PlannedAsset": ".model",
    "TargetResult": ".model",
    "TargetStatus": ".model",
    "DeletionPlan": ".plan",
    "plan_deletion": ".plan",
    "execute_plan": ".execute",
    "delete_dandiset_version": ".run",
    "run_deletion": ".run",
}

__all__ = [
    "AssetFailure",
    "DEFAULT_JOBS",
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

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ..defaults import DEFAULT_JOBS
    from ..errors import DeletionIncomplete
    from .execute import execute_plan
    from .model import (
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


def __getattr__(name: str) -> "Any":
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
