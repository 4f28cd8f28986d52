"""Retracting a pipeline version: plan, archive side, local side, journal, report.

Its modules, in the order a run goes through them:

:mod:`.run`
    the entry points: :func:`delete_dandiset_version` (the original's call) and
    :func:`run_deletion` (the command line's, with a confirmation in between);
:mod:`.options`
    what a run is asked to do: :class:`DeletionOptions`;
:mod:`.plan`
    the plan: its targets gathered (the scan, and :mod:`.targets`: the hooks',
    the journal's, the archive's), each one planned by :mod:`.verdict` (its
    place, its files, the refusals, the vetoes);
:mod:`.execute`
    the targets carried out side by side, with Ctrl-C, the hooks and the report,
    each one retracted by :mod:`.retract` (remote first, then local), its
    deletions as many at once as :mod:`.pace` lets the archive take;
:mod:`.aftermath`
    what can be said of a run that ended abruptly;
:mod:`.model`
    what hooks and callers see: the targets, their results, the report, the
    progress;
:mod:`.local`
    the local side: a target's place, its inventory, the un-uploaded check, the
    removal;
:mod:`.archive`, :mod:`.client`, :mod:`.listing`, :mod:`.secrets`
    the archive side, through dandi's client: each request bounded as a whole,
    every listing checked, the API key kept out of every output;
:mod:`.journal`, :mod:`.journal_format`, :mod:`.journal_files`
    the journal that lets a re-run finish: a run's use of it, its lines, its
    files opened without following links.

The names are imported lazily (:pep:`562`), as the top-level package's are: a
module that needs one piece of the deletion (the command line's option parsing,
a hook plugin reading :mod:`.model`) does not load the archive client, pluggy
and requests with it.
"""

# Not `from typing import ...`: this module stays as light as the top level.
TYPE_CHECKING = False

#: module (relative to this package) -> the public names it defines; ``__all__``
#: and the lazy import read this
_EXPORTS = {
    "..defaults": ("DEFAULT_JOBS",),
    "..errors": ("DeletionIncomplete",),
    ".model": (
        "AssetFailure",
        "DeletionProgress",
        "DeletionReport",
        "DeletionTarget",
        "PlannedAsset",
        "TargetResult",
        "TargetStatus",
    ),
    ".options": ("DeletionOptions",),
    ".plan": ("DeletionPlan", "plan_deletion"),
    ".execute": ("execute_plan",),
    ".run": ("delete_dandiset_version", "run_deletion"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = list(_MODULE_OF)

# For type checkers only, which follow neither the lazy import nor a computed
# __all__ (hence "X as X", their mark of a re-export); a test holds these imports
# equal to _EXPORTS.
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ..defaults import DEFAULT_JOBS as DEFAULT_JOBS
    from ..errors import DeletionIncomplete as DeletionIncomplete
    from .execute import execute_plan as execute_plan
    from .model import AssetFailure as AssetFailure
    from .model import DeletionProgress as DeletionProgress
    from .model import DeletionReport as DeletionReport
    from .model import DeletionTarget as DeletionTarget
    from .model import PlannedAsset as PlannedAsset
    from .model import TargetResult as TargetResult
    from .model import TargetStatus as TargetStatus
    from .options import DeletionOptions as DeletionOptions
    from .plan import DeletionPlan as DeletionPlan
    from .plan import plan_deletion as plan_deletion
    from .run import delete_dandiset_version as delete_dandiset_version
    from .run import run_deletion as run_deletion


def __getattr__(name: str) -> "Any":
    try:
        module = _MODULE_OF[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
