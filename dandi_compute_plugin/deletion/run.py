"""Running a deletion from start to end: plan, confirmation, execution, report.

:func:`delete_dandiset_version` is the call compatible with
``dandi_compute_code.dandiset``; :func:`run_deletion` is what the command line
calls, with a confirmation in between.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..defaults import DEFAULT_JOBS, DEFAULT_TIMEOUT, DEFAULT_VERIFY
from ..errors import DeletionIncomplete
from .execute import ResultCallback, execute_plan
from .model import (
    DeletionProgress,
    DeletionReport,
    TargetResult,
    TargetStatus,
)
from .options import DeletionOptions
from .plan import DeletionPlan, plan_deletion


def run_deletion(
    dandiset_directory: str | Path,
    version: str,
    options: DeletionOptions | None = None,
    *,
    confirm: Callable[[DeletionPlan], bool] | None = None,
    on_result: ResultCallback | None = None,
    progress: DeletionProgress | None = None,
    **changes: Any,
) -> DeletionReport:
    """Plan, confirm and carry out the deletion of a pipeline version.

    Parameters
    ----------
    dandiset_directory, version, options, **changes
        As for :func:`~.plan.plan_deletion`.
    confirm
        Called with the plan when there is something to delete (not for a dry
        run); returning False refuses every target ("not confirmed").
    on_result, progress
        As for :func:`~.execute.execute_plan` (``progress`` also hears of the
        planning); ``on_result`` is not called for a dry run or a plan with
        nothing to delete: the report has every result.

    Returns
    -------
    DeletionReport
    """
    plan = plan_deletion(
        dandiset_directory, version, options, progress=progress, **changes
    )
    if plan.options.dry_run or not plan.to_delete:
        plan.close()
        return plan.report()
    if confirm is not None and not confirm(plan):
        plan.close()
        for item in plan.items:
            if item.verdict is None:
                item.verdict = TargetResult(
                    item.target, TargetStatus.REFUSED, "not confirmed"
                )
        return plan.report()
    return execute_plan(plan, on_result, progress)


def delete_dandiset_version(
    dandiset_directory: str | Path,
    version: str,
    *,
    dandi_instance: Any = None,
    dry_run: bool = False,
    include_unuploaded: bool = False,
    include_remote: bool = False,
    verify: str = DEFAULT_VERIFY,
    jobs: int = DEFAULT_JOBS,
    timeout: float = DEFAULT_TIMEOUT,
    plugins: tuple[object, ...] | list[object] = (),
    disable_plugins: tuple[str, ...] | list[str] = (),
) -> list[Path]:
    """Delete pipeline version ``version`` from the archive and the local clone.

    Compatible with ``dandi_compute_code.dandiset.delete_dandiset_version``:
    ``delete_dandiset_version(dandiset_directory, version)`` returns the sorted
    directories it deleted.  No confirmation is asked: calling it is the
    confirmation.  The API key comes from ``{INSTANCE}_API_KEY``
    (``DANDI_API_KEY`` for the main instance) or the keyring.

    Parameters
    ----------
    dandiset_directory
        The local clone (its ``dandiset.yaml`` names the dandiset).
    version
        The pipeline version, e.g. ``v1.1.1``.
    dandi_instance, dry_run, include_unuploaded, include_remote, verify, jobs, timeout
        As the fields of :class:`~dandi_compute_plugin.deletion.DeletionOptions`.
    plugins, disable_plugins
        Likewise: installed hook plugins apply unless disabled, and ``plugins``
        adds plugin objects.

    Returns
    -------
    list of pathlib.Path
        Sorted: the directories deleted (for a dry run: those that would be).

    Raises
    ------
    DeletionIncomplete
        When any target was refused or failed -- after every other target was
        processed; ``.report`` has the details.
    """
    options = DeletionOptions(
        dandi_instance=dandi_instance,
        dry_run=dry_run,
        include_unuploaded=include_unuploaded,
        include_remote=include_remote,
        verify=verify,
        jobs=jobs,
        timeout=timeout,
        # as given: the options make them tuples, and refuse a string of names
        plugins=plugins,
        disable_plugins=disable_plugins,
    )
    report = run_deletion(dandiset_directory, version, options)
    if not report.ok:
        raise DeletionIncomplete(report)
    if dry_run:
        return sorted(
            r.target.path for r in report.results if r.status is TargetStatus.PLANNED
        )
    return report.deleted
