"""Retract a pipeline version: plan, vetoes, remote, local, report.

The safety rules of ARCHITECTURE.md, as code:

1. VERSION is validated (:func:`~.versions.validate_version`).
2. Targets come from :func:`~.versions.iter_version_directories` (no links followed,
   never inside a version directory).
3. :func:`plan_deletion` changes nothing and needs no API key for a dry run.
4. Per target, every remote asset is deleted first (up to ``jobs`` at once); only
   when each one is confirmed gone (204 or 404) *and* a fresh listing of the
   directory's path is empty is the local directory removed, after checking it is
   still a real directory inside ``derivatives/dandiset-*`` (:mod:`._clone`).
5. A target holding local files that the server lacks is refused before anything
   is touched, unless ``include_unuploaded``.
6. The journal (:mod:`._journal`) lets a re-run after a crash finish the job.
7. A failing target never stops the others; the report says what happened.

Policy hooks (issue 5) plug in through :class:`DeletionHooks`: vetoes are consulted
in :func:`plan_deletion`, the other hooks in :func:`execute_plan`.  A veto or
before-hook that raises blocks its target (fail closed); an after- or end-hook that
raises is logged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
import contextlib
import logging
import os
from pathlib import Path
import signal
import threading
from typing import Any

from ._clone import find_unuploaded, inventory, remove_version_directory
from ._remote import ArchiveSession, describe_error
from .planning import DEFAULT_JOBS, DeletionPlan, PlanItem, plan_deletion
from .targets import (
    AssetFailure,
    DeletionHooks,
    DeletionIncomplete,
    DeletionReport,
    DeletionTarget,
    TargetResult,
    TargetStatus,
)

__all__ = [
    "DeletionHooks",
    "DeletionIncomplete",
    "DeletionPlan",
    "DeletionReport",
    "delete_dandiset_version",
    "execute_plan",
    "plan_deletion",
    "run_deletion",
]

lgr = logging.getLogger("dandi.compute")

_SKIPPED = "skipped"


def _delete_one(session: ArchiveSession, asset: Any, stop: threading.Event) -> str:
    if stop.is_set():
        return _SKIPPED
    return session.delete_asset(asset)


@contextlib.contextmanager
def _ctrl_c_stops(stop: threading.Event) -> Iterator[None]:
    """While running, Ctrl-C only sets ``stop``: no new deletion starts, the
    requests in flight finish, unfinished targets keep their local directory."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: KeyboardInterrupt as usual
        return

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        lgr.warning(
            "Interrupted: starting no new deletions; waiting for the requests in flight"
        )

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _delete_remote(
    plan: DeletionPlan, item: PlanItem, pool: ThreadPoolExecutor, stop: threading.Event
) -> tuple[int, list[AssetFailure]]:
    """Delete the target's remote assets, up to ``jobs`` at once; each outcome is
    journaled.  Returns the number confirmed gone and the failures (assets not
    attempted after Ctrl-C included)."""
    session, journal, target = plan.session, plan.journal, item.target
    assert session is not None and journal is not None
    journal.record_intents(target.relpath, target.assets, item.local_mtimes)
    futures = {
        pool.submit(_delete_one, session, obj, stop): planned
        for obj, planned in zip(item.remote_objects, target.assets, strict=True)
    }
    wait(futures)
    deleted, failures = 0, []
    for fut, planned in futures.items():
        try:
            outcome = fut.result()
        except Exception as exc:
            failures.append(AssetFailure(planned.path, planned.asset_id, str(exc)))
            continue
        if outcome == _SKIPPED:
            failures.append(
                AssetFailure(planned.path, planned.asset_id, "not attempted")
            )
        else:
            deleted += 1
            journal.record_deleted(target.relpath, planned.asset_id)
    failures.sort(key=lambda f: f.path)
    return deleted, failures


def _run_target(
    plan: DeletionPlan, item: PlanItem, pool: ThreadPoolExecutor, stop: threading.Event
) -> TargetResult:
    session, journal, target = plan.session, plan.journal, item.target
    assert session is not None and journal is not None
    n = len(target.assets)
    deleted, failures = _delete_remote(plan, item, pool, stop)
    if stop.is_set():
        return TargetResult(
            target,
            TargetStatus.FAILED,
            "interrupted; the local directory is kept",
            deleted_assets=deleted,
            failed_assets=tuple(failures),
        )
    if failures:
        return TargetResult(
            target,
            TargetStatus.FAILED,
            f"{len(failures)} of {n} remote assets could not be deleted; "
            "the local directory is kept",
            deleted_assets=deleted,
            failed_assets=tuple(failures),
        )
    try:
        left = session.remaining(target.relpath)
    except Exception as exc:
        why: str | None = session.redact(describe_error(exc))
    else:
        why = None
        if left:
            example = min(left.values())
            why = f"{len(left)} assets still below it on the server, e.g. {example}"
    if why is not None:
        return TargetResult(
            target,
            TargetStatus.FAILED,
            f"cannot confirm the remote deletion ({why}); the local directory is kept",
            deleted_assets=deleted,
        )
    try:
        if not plan.include_unuploaded and os.path.lexists(target.path):
            # vouched for: the files this run's (or an earlier run's) intents saw
            sizes, mtimes = dict(journal.known_deleted), dict(journal.known_mtimes)
            for a in target.assets:
                sizes[a.path], mtimes[a.path] = a.size, item.local_mtimes.get(a.path)
            changed = find_unuploaded(
                inventory(plan.dandiset_directory, target.relpath), {}, sizes, mtimes
            )
            if changed:
                return TargetResult(
                    target,
                    TargetStatus.FAILED,
                    f"local files changed since the plan, e.g. {changed[0].path} "
                    f"({changed[0].reason}); the local directory is kept",
                    deleted_assets=deleted,
                )
        removed = remove_version_directory(plan.dandiset_directory, target.relpath)
    except (OSError, RuntimeError) as exc:
        return TargetResult(
            target,
            TargetStatus.FAILED,
            f"remote assets deleted, local removal failed: {exc}",
            deleted_assets=deleted,
        )
    journal.record_done(target.relpath)
    if not removed and not deleted:
        return TargetResult(target, TargetStatus.NOTHING_TO_DO, "already gone")
    return TargetResult(target, TargetStatus.DELETED, None, deleted, (), removed)


def _finish(
    future: Future, target: DeletionTarget, stop: threading.Event
) -> TargetResult:
    while True:
        try:
            return future.result()
        except KeyboardInterrupt:  # outside the main thread's handler: wait on
            stop.set()
        except Exception as exc:  # a bug: the target is not finished
            lgr.exception("Deleting %s failed", target.relpath)
            return TargetResult(
                target, TargetStatus.FAILED, f"{type(exc).__name__}: {exc}"
            )


def execute_plan(
    plan: DeletionPlan, *, jobs: int = DEFAULT_JOBS, hooks: DeletionHooks | None = None
) -> DeletionReport:
    """Carry out a plan made without ``dry_run``.

    Targets go in plan order; with ``jobs`` > 1 the next target's deletions start
    while the previous one is verified and removed locally (two targets in
    flight), so that the ``jobs`` deletion workers stay busy.  Hooks are called
    from the calling thread, in plan order: ``hooks``, by default the plan's
    own (those its vetoes came from).  Ctrl-C stops new deletions, lets
    requests in flight finish, keeps every unfinished target's local directory
    and returns the partial report (``interrupted``).

    Returns
    -------
    DeletionReport
    """
    hooks = hooks if hooks is not None else plan.hooks
    report = plan.report()
    if plan.dry_run:
        raise ValueError("A dry-run plan cannot be executed")
    stop = threading.Event()
    results: dict[int, TargetResult] = {}
    lanes = 1 if jobs <= 1 else 2
    in_flight: deque[tuple[int, PlanItem, Future]] = deque()

    def ended(target: DeletionTarget, result: TargetResult) -> None:
        lgr.debug("%s: %s (%s)", target.relpath, result.status.value, result.reason)
        try:
            hooks.after_target(target, result)
        except Exception:
            lgr.exception("An after-target hook failed for %s", target.relpath)

    def settle_oldest() -> None:
        index, item, future = in_flight.popleft()
        results[index] = _finish(future, item.target, stop)
        ended(item.target, results[index])

    try:
        with (
            _ctrl_c_stops(stop),
            ThreadPoolExecutor(max_workers=max(1, jobs)) as pool,
            ThreadPoolExecutor(max_workers=lanes) as lanes_pool,
        ):
            for index, item in enumerate(plan.items):
                if item.verdict is not None:
                    results[index] = item.verdict
                    continue
                while len(in_flight) >= lanes:
                    settle_oldest()
                target = item.target
                if stop.is_set():
                    results[index] = TargetResult(
                        target, TargetStatus.FAILED, "interrupted before it started"
                    )
                    continue
                try:
                    hooks.before_target(target)
                except Exception as exc:
                    results[index] = TargetResult(
                        target, TargetStatus.REFUSED, f"blocked by a before-hook: {exc}"
                    )
                    ended(target, results[index])
                    continue
                future = lanes_pool.submit(_run_target, plan, item, pool, stop)
                in_flight.append((index, item, future))
            while in_flight:
                settle_oldest()
    finally:
        plan.close()
    report.results = [results[i] for i in range(len(plan.items))]
    report.interrupted = stop.is_set()
    try:
        hooks.run_finished(report)
    except Exception:
        lgr.exception("An end-of-run hook failed")
    return report


def run_deletion(
    dandiset_directory: str | Path,
    version: str,
    *,
    dandi_instance: Any = None,
    dry_run: bool = False,
    include_unuploaded: bool = False,
    jobs: int = DEFAULT_JOBS,
    confirm: Callable[[DeletionPlan], bool] | None = None,
    hooks: DeletionHooks | None = None,
    plugins: Iterable[object] = (),
    disable_plugins: Iterable[str] = (),
) -> DeletionReport:
    """Plan, confirm and carry out the deletion of a pipeline version.

    Parameters are those of :func:`plan_deletion` (the same hooks serve the
    plan and the execution), and

    confirm
        Called with the plan when there is something to delete (not for a dry
        run); returning False refuses every target ("not confirmed").

    Returns
    -------
    DeletionReport
    """
    plan = plan_deletion(
        dandiset_directory,
        version,
        dandi_instance=dandi_instance,
        dry_run=dry_run,
        include_unuploaded=include_unuploaded,
        jobs=jobs,
        hooks=hooks,
        plugins=plugins,
        disable_plugins=disable_plugins,
    )
    if dry_run or not plan.to_delete:
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
    return execute_plan(plan, jobs=jobs)


def delete_dandiset_version(
    dandiset_directory: str | Path,
    version: str,
    *,
    dandi_instance: Any = None,
    dry_run: bool = False,
    include_unuploaded: bool = False,
    jobs: int = DEFAULT_JOBS,
    hooks: DeletionHooks | None = None,
    plugins: Iterable[object] = (),
    disable_plugins: Iterable[str] = (),
) -> list[Path]:
    """Delete pipeline version ``version`` from the archive and the local clone.

    Seed-compatible: ``delete_dandiset_version(dandiset_directory, version)``
    returns the sorted directories it deleted.  No confirmation is asked: calling
    it is the confirmation.  The API key comes from ``{INSTANCE}_API_KEY``
    (``DANDI_API_KEY`` for the main instance) or the keyring.

    Parameters
    ----------
    dandiset_directory, version, dandi_instance, dry_run
        As for :func:`plan_deletion`.
    include_unuploaded, jobs, hooks, plugins, disable_plugins
        As for :func:`plan_deletion`: installed hook plugins apply unless
        disabled, and ``plugins`` adds plugin objects.

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
    report = run_deletion(
        dandiset_directory,
        version,
        dandi_instance=dandi_instance,
        dry_run=dry_run,
        include_unuploaded=include_unuploaded,
        jobs=jobs,
        hooks=hooks,
        plugins=plugins,
        disable_plugins=disable_plugins,
    )
    if not report.ok:
        raise DeletionIncomplete(report)
    if dry_run:
        return sorted(
            r.target.path for r in report.results if r.status is TargetStatus.PLANNED
        )
    return report.deleted
