"""Running a move: the deletion's plan, the copy into the target, the deletion.

Once per run: the target is read (:func:`~.target.parse_target`) and a session
opened on each dandiset, one instance for both (a target that cannot be meant is
a usage error before any plan).  Per version of the selection:
:func:`~..deletion.plan_deletion` plans the chosen directories exactly as
``delete-version`` does (the place rules, un-uploaded files, vetoes, the journal
and its lock), both dandisets are listed (a directory the target cannot take is
refused), the user confirms, every directory still planned is copied into the
target and confirmed there (:mod:`.copy`), and only the confirmed ones go to
:func:`~..deletion.execute_plan`, which deletes them from the source (and the
clone, unless ``keep_local``) with the journal, hooks and report of a deletion.
A version that cannot be planned after others were done, or a Ctrl-C then, ends
the run with the report of what was done.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
import logging
from pathlib import Path
from typing import Any

from ..defaults import DEFAULT_JOBS, DEFAULT_TIMEOUT, DEFAULT_VERIFY, dandi_instance
from ..deletion import (
    DeletionOptions,
    DeletionPlan,
    DeletionProgress,
    DeletionTarget,
    TargetResult,
    TargetStatus,
    execute_plan,
    plan_deletion,
)
from ..deletion.client import QUOTED_CHARS, safe_text
from ..deletion.targets import dandiset_id_of
from ..deletion.verdict import PlanItem
from ..errors import ArchiveError, MoveIncomplete, MoveUsageError
from ..versions import VersionDirectory
from .copy import CopyOutcome, DirectoryCopy, copy_directory, plan_copy
from .model import MoveProgress, MoveReport, MoveResult
from .session import MoveSession
from .target import TargetDandiset, parse_target, same_instance, selection

lgr = logging.getLogger("dandi.compute")

#: the reason of a directory whose copy a Ctrl-C stopped
STOPPED = (
    "interrupted during the copy: the source keeps its assets; running the move "
    "again finishes it (the copies made count as moved)"
)

#: asked with the plan and what the copy will take; False refuses every directory
Confirm = Callable[[DeletionPlan, str], bool]


def move_version_directories(
    dandiset_directory: str | Path,
    what: str | Sequence[str],
    to: str,
    *,
    dandi_instance: Any = None,
    dry_run: bool = False,
    keep_local: bool = False,
    include_unuploaded: bool = False,
    include_remote: bool = False,
    verify: str = DEFAULT_VERIFY,
    jobs: int = DEFAULT_JOBS,
    timeout: float = DEFAULT_TIMEOUT,
    plugins: tuple[object, ...] | list[object] = (),
    disable_plugins: tuple[str, ...] | list[str] = (),
) -> list[Path]:
    """Move job capsules, or every directory of a version, to dandiset ``to``.

    The counterpart of :func:`~dandi_compute_plugin.delete_dandiset_version`:
    each directory's assets are created in the draft of ``to`` (same instance)
    from their blobs and metadata -- no content is downloaded or uploaded, but a
    Zarr, which belongs to one dandiset, is uploaded from the clone -- and only
    once the target lists every one of them with its digest are they deleted
    from the source, and the directory from the clone (unless ``keep_local``),
    as ``delete_dandiset_version`` deletes.  No confirmation is asked.

    Parameters
    ----------
    dandiset_directory
        The local clone (its ``dandiset.yaml`` names the source dandiset).
    what
        A VERSION, or version directories (capsules) relative to the clone, or
        a list of such.
    to
        The target dandiset: an id, ``DANDI:001873``, an archive URL...
    dandi_instance, dry_run, keep_local, include_unuploaded, include_remote
        As the fields of :class:`~dandi_compute_plugin.deletion.DeletionOptions`.
    verify, jobs, timeout, plugins, disable_plugins
        As the fields of :class:`~dandi_compute_plugin.deletion.DeletionOptions`.

    Returns
    -------
    list of pathlib.Path
        Sorted: the directories moved (for a dry run: those that would be).

    Raises
    ------
    MoveIncomplete
        When any directory was refused or failed, after every other one was
        processed; ``.report`` has the details.
    MoveUsageError
        For a selection or target that cannot be meant (nothing changed).
    """
    options = DeletionOptions(
        dandi_instance=dandi_instance,
        dry_run=dry_run,
        keep_local=keep_local,
        include_unuploaded=include_unuploaded,
        include_remote=include_remote,
        verify=verify,
        jobs=jobs,
        timeout=timeout,
        # as given: the options make them tuples, and refuse a string of names
        plugins=plugins,
        disable_plugins=disable_plugins,
    )
    report = run_move(dandiset_directory, what, to, options)
    if not report.ok:
        raise MoveIncomplete(report)
    if dry_run:
        return sorted(
            r.result.target.path
            for r in report.results
            if r.result.status is TargetStatus.PLANNED
        )
    return report.moved


def run_move(
    dandiset_directory: str | Path,
    what: str | Sequence[str],
    to: str | TargetDandiset,
    options: DeletionOptions | None = None,
    *,
    confirm: Confirm | None = None,
    on_result: Callable[[MoveResult], None] | None = None,
    progress: DeletionProgress | None = None,
    **changes: Any,
) -> MoveReport:
    """Move version directories of a clone's dandiset to dandiset ``to``.

    Parameters
    ----------
    dandiset_directory
        The local clone (its ``dandiset.yaml`` names the source dandiset).
    what
        A VERSION (every directory of it, as ``delete-version``), or version
        directories (job capsules), relative to ``dandiset_directory``; or a
        list of such.
    to
        The target dandiset on the same instance: an id or anything
        :func:`dandi.dandiarchive.parse_dandi_url` takes (read within the
        timeout), or what :func:`~.target.parse_target` made of it.
    options, **changes
        As for :func:`~dandi_compute_plugin.deletion.plan_deletion`
        (``keep_local`` keeps the clone's copies).
    confirm
        Called with each version's plan and a summary of the copy when there is
        something to move (not for a dry run); False refuses every directory.
    on_result, progress
        Each directory's result as soon as it is known; the deletion's progress.

    Returns
    -------
    MoveReport

    Raises
    ------
    MoveUsageError
        For a selection or ``to`` that cannot be meant (before any change).
    """
    options = replace(options or DeletionOptions(), **changes)
    chosen = selection(dandiset_directory, what)
    target = to if isinstance(to, TargetDandiset) else parse_target(to, options.timeout)
    report = MoveReport(
        Path(dandiset_directory), target.dandiset_id, dry_run=options.dry_run
    )
    source, target_session = _sessions(Path(dandiset_directory), options, target)
    report.api_url = source.instance.api
    run = _MoveRun(
        report, options, source, target_session, confirm, on_result, progress
    )
    for version, relpaths in chosen.items():
        if report.interrupted or report.terminated:
            break
        try:
            _move_version(run, version, relpaths)
        except KeyboardInterrupt:
            if not report.results:  # nothing done yet: the caller's to tell
                raise
            report.interrupted = True
        except Exception as exc:  # the versions before keep their report
            if not report.results and not report.version_errors:
                raise
            reason = safe_text(str(exc) or type(exc).__name__, 2 * QUOTED_CHARS)
            report.version_errors.append(f"{version}: {reason}")
    return report


@dataclass
class _MoveRun:
    """What every version of a run shares."""

    report: MoveReport
    options: DeletionOptions
    source: MoveSession
    target: MoveSession
    confirm: Confirm | None
    on_result: Callable[[MoveResult], None] | None
    progress: DeletionProgress | None


def _move_version(run: _MoveRun, version: str, relpaths: set[str] | None) -> None:
    """Move the chosen directories of one version (all when ``relpaths`` is
    None): plan them, copy them, delete them; the plan is closed after."""
    report, on_result, progress = run.report, run.on_result, run.progress
    source, target = run.source, run.target
    plan = plan_deletion(
        report.dandiset_directory,
        version,
        run.options,
        progress=progress,
        session=source,
        only=relpaths,
    )
    report.scan_errors += plan.scan_errors
    to = target.dandiset.identifier
    outcomes = None
    try:
        _keep_selected(plan, relpaths)
        copies = _plan_copies(plan, source, target)
        if plan.options.dry_run or not plan.to_delete:
            pass
        elif run.confirm is not None and not run.confirm(
            plan, copy_summary(plan, to, copies)
        ):
            for item in plan.items:
                if item.verdict is None:
                    item.verdict = TargetResult(
                        item.target, TargetStatus.REFUSED, "not confirmed"
                    )
        else:
            outcomes = _copy_all(plan, copies, (source, target), progress)
    except KeyboardInterrupt:  # told, then the run ends as interrupted
        for item in plan.items:
            if item.verdict is None:
                item.verdict = TargetResult(item.target, TargetStatus.FAILED, STOPPED)
        _report_plan(report, plan, on_result)
        raise
    finally:
        if outcomes is None:  # nothing to execute: the lock goes now
            plan.close()
    if outcomes is None:
        _report_plan(report, plan, on_result)
        return

    def result_of(result: TargetResult) -> MoveResult:
        return MoveResult(result, outcomes.get(result.target.relpath))

    deletion = execute_plan(
        plan, None if on_result is None else lambda r: on_result(result_of(r)), progress
    )
    report.results += [result_of(r) for r in deletion.results]
    report.interrupted |= deletion.interrupted
    report.terminated |= deletion.terminated
    report.abandoned |= deletion.abandoned


def _report_plan(
    report: MoveReport,
    plan: DeletionPlan,
    on_result: Callable[[MoveResult], None] | None,
) -> None:
    """Each directory of a plan that goes no further, into the report."""
    results = [MoveResult(r) for r in plan.report().results]
    report.results += results
    for result in results if on_result is not None else ():
        on_result(result)


def _keep_selected(plan: DeletionPlan, relpaths: set[str] | None) -> None:
    """Leave out of the plan the directories not asked for; one asked for that
    the plan does not have fails (it is neither in the clone nor on the archive)."""
    if relpaths is None:
        return
    plan.items = [i for i in plan.items if i.target.relpath in relpaths]
    for relpath in sorted(relpaths - {i.target.relpath for i in plan.items}):
        target = DeletionTarget(
            VersionDirectory.from_relpath(plan.dandiset_directory, relpath)
        )
        reason = "neither in the clone nor on the archive"
        plan.items.append(
            PlanItem(target, TargetResult(target, TargetStatus.FAILED, reason))
        )
    plan.items.sort(key=lambda i: i.target.relpath)


def _sessions(
    top: Path, options: DeletionOptions, to: TargetDandiset
) -> tuple[MoveSession, MoveSession]:
    """Sessions on the clone's dandiset and on the target, on one instance,
    for the whole run (the source's also plans and deletes).

    Raises
    ------
    MoveUsageError
        For a target on another instance, the clone's own dandiset, or an open
        target of an embargoed source.
    """
    source_id = dandiset_id_of(top)
    kw = {
        "authenticate": not options.dry_run,
        "jobs": options.jobs,
        "timeout": options.timeout,
    }
    source = MoveSession(options.dandi_instance or dandi_instance(), source_id, **kw)
    instance = source.instance
    if not same_instance(to.instance, instance):
        raise MoveUsageError(
            f"--to (to= in Python) names instance {to.instance}, the clone's dandiset "
            f"is on {instance.name}: a move stays on one instance"
        )
    if to.dandiset_id == source_id:
        raise MoveUsageError(
            f"--to {to.dandiset_id} (to= in Python) is the clone's own dandiset: "
            "nothing to move"
        )
    target = MoveSession(instance, to.dandiset_id, **kw)
    if source.embargoed and not target.embargoed:
        raise MoveUsageError(
            f"Dandiset {source_id} is embargoed and {to.dandiset_id} is open: "
            "creating the assets there would unembargo their content; not moving"
        )
    return source, target


def _plan_copies(
    plan: DeletionPlan, source: MoveSession, target: MoveSession
) -> dict[str, DirectoryCopy]:
    """List every planned directory on both sides; refuse those the target
    cannot take (the reason in the verdict)."""
    copies = {}
    for item in plan.items:
        if item.verdict is not None:
            continue
        t = item.target
        try:
            copy = plan_copy(source, target, t.relpath, t.assets)
        except ArchiveError as exc:
            reason = f"cannot list the directory for the move: {exc}"
            item.verdict = TargetResult(t, TargetStatus.FAILED, reason)
            continue
        why = copy.obstacles(plan.dandiset_directory)
        if why is not None:
            item.verdict = TargetResult(t, TargetStatus.REFUSED, why)
        else:
            copies[t.relpath] = copy
    return copies


def copy_summary(plan: DeletionPlan, to: str, copies: dict[str, DirectoryCopy]) -> str:
    """What a confirmation asks about."""
    missing = [a for c in copies.values() for a in c.missing()]
    zarrs = sum(1 for a in missing if a.zarr)
    return (
        f"Move {len(copies)} directories from dandiset {plan.dandiset_id} to {to}: "
        f"{len(missing) - zarrs} assets created there from their blobs (no content "
        f"sent), {zarrs} Zarrs uploaded from the clone; then " + plan.summary()
    )


def _copy_all(
    plan: DeletionPlan,
    copies: dict[str, DirectoryCopy],
    sessions: tuple[MoveSession, MoveSession],
    progress: DeletionProgress | None,
) -> dict[str, CopyOutcome]:
    """Copy every planned directory; one that is not confirmed in the target
    gets a verdict and is not deleted."""
    source, target = sessions
    told = progress if isinstance(progress, MoveProgress) else MoveProgress()
    todo = [
        c for c in copies.values() if c.relpath in {t.relpath for t in plan.to_delete}
    ]
    told.copying(len(todo), sum(len(c.assets) for c in todo))
    outcomes = {}
    jobs = plan.options.jobs
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        for item in plan.items:
            copy = copies.get(item.target.relpath)
            if item.verdict is not None or copy is None:
                continue
            outcome = copy_directory(
                copy, source, target, plan.dandiset_directory, pool, jobs
            )
            outcomes[item.target.relpath] = outcome
            told.directory_copied(item.target.relpath, outcome)
            if not outcome.ok:
                status = (
                    TargetStatus.REFUSED if outcome.refused else TargetStatus.FAILED
                )
                item.verdict = TargetResult(item.target, status, outcome.reason)
    except BaseException:  # Ctrl-C: no new creation; those in flight end alone
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return outcomes
