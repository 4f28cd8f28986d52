"""Carry out a plan: remote first, then local, per target; the report.

Per target, every remote asset is deleted first (up to ``jobs`` at once); only when
each one is confirmed gone (204 or 404) *and* a fresh listing of the directory's
path is empty is the local directory removed: exactly the objects the plan vetted,
then the directories that became empty (:mod:`.local`); anything else stays and
the target is reported failed.  Every step is journaled
(:mod:`.journal`) so that a re-run after a crash finishes the job.  A failing
target never stops the others; the report says what happened.

The plan's policy hooks are called here: before and after each target and at the
end of the run.  A before-hook that raises blocks its target (fail closed); an
after- or end-hook that raises is logged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
import contextlib
from dataclasses import dataclass, field, replace
import logging
import signal
import threading
from typing import Any

from .archive import ArchiveSession, describe_error
from .local import prune_empty_parents, remove_vetted
from .model import (
    MAX_LISTED,
    AssetFailure,
    DeletionProgress,
    DeletionReport,
    DeletionTarget,
    PlannedAsset,
    TargetResult,
    TargetStatus,
)
from .plan import DeletionPlan
from .verdict import PlanItem

lgr = logging.getLogger("dandi.compute")


#: the signals that stop a run as Ctrl-C does (SIGTERM: where there is one)
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name)
)


@contextlib.contextmanager
def _ctrl_c_stops(run: _Run) -> Iterator[None]:
    """While running, Ctrl-C (or SIGTERM) only sets ``stop``: no new deletion
    starts, the requests in flight finish, unfinished targets keep their local
    directory.  A second one sets ``abandon``: the requests in flight are not
    waited for."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only: KeyboardInterrupt as usual
        return

    def handler(signum: int, frame: Any) -> None:
        if signum != signal.SIGINT:
            run.terminated = True
        if run.stop.is_set():
            run.abandon.set()
            lgr.warning("Interrupted again: no longer waiting for the requests")
            return
        run.stop.set()
        lgr.warning(
            "Interrupted: starting no new deletions; waiting for the requests in "
            "flight (Ctrl-C again not to wait)"
        )

    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)


@dataclass
class _Run:
    """What the targets of one execution share."""

    plan: DeletionPlan
    #: None only for a plan without targets to delete
    session: ArchiveSession | None
    pool: ThreadPoolExecutor
    stop: threading.Event = field(default_factory=threading.Event)
    abandon: threading.Event = field(default_factory=threading.Event)
    #: why nothing new starts although nobody pressed Ctrl-C
    halted: str | None = None
    #: whether the stop came from SIGTERM
    terminated: bool = False
    progress: DeletionProgress = field(default_factory=DeletionProgress)

    @property
    def stopping(self) -> str | None:
        """Why no new deletion may start, or None."""
        if self.stop.is_set():
            return "terminated" if self.terminated else "interrupted"
        return self.halted

    def record(self, write: Callable[..., None], *args: Any) -> bool:
        """Write to the journal; a failure halts the run (nothing new starts:
        deletions the journal cannot record could not be finished by a re-run)."""
        try:
            write(*args)
        except OSError as exc:
            if self.halted is None:
                self.halted = f"the journal cannot be written ({exc.strerror or exc})"
                lgr.error("Stopping: %s", self.halted)
            return False
        return True


def _delete_one(run: _Run, asset: PlannedAsset) -> bool:
    """Delete one asset; False when the run is stopping and it was not attempted."""
    if run.stopping:
        return False
    assert run.session is not None
    run.session.delete_asset(asset)
    run.progress.asset_deleted(asset)
    return True


def _delete_remote(run: _Run, item: PlanItem) -> tuple[int, list[AssetFailure]]:
    """Delete the target's remote assets, up to ``jobs`` at once; each outcome is
    journaled.  Returns the number confirmed gone and the failures (assets not
    attempted after Ctrl-C included)."""
    journal, target = run.plan.journal, item.target
    assert journal is not None
    if not run.record(
        journal.record_intents, target.relpath, target.assets, item.local_mtimes
    ):
        not_attempted = [
            AssetFailure(a.path, a.asset_id, "not attempted") for a in target.assets
        ]
        return 0, not_attempted
    futures = {
        run.pool.submit(_delete_one, run, planned): planned for planned in target.assets
    }
    wait(futures)
    deleted, failures = 0, []
    for fut, planned in futures.items():
        try:
            attempted = fut.result()
        except Exception as exc:
            failures.append(AssetFailure(planned.path, planned.asset_id, str(exc)))
            continue
        if not attempted:
            failures.append(
                AssetFailure(planned.path, planned.asset_id, "not attempted")
            )
        else:
            deleted += 1
            run.record(journal.record_deleted, target.relpath, planned.asset_id)
    failures.sort(key=lambda f: f.path)
    return deleted, failures


def _remote_left(run: _Run, item: PlanItem) -> str | None:
    """Why the remote deletion of the target cannot be confirmed, or None
    (the assets it keeps on purpose aside)."""
    assert run.session is not None
    try:
        left = run.session.remaining(item.target.relpath)
    except Exception as exc:
        return run.session.redact(describe_error(exc))
    for kept in item.kept_remote:
        left.pop(kept.asset_id, None)
    if left:
        example = min(left.values())
        return f"{len(left)} assets still below it on the server, e.g. {example}"
    return None


def _run_target(run: _Run, item: PlanItem) -> TargetResult:
    """Remote deletions, their confirmation, then the local removal."""
    target = item.target
    deleted, failures = _delete_remote(run, item)
    failed = replace(
        TargetResult(target, TargetStatus.FAILED),
        deleted_assets=deleted,
        failed_assets=tuple(failures),
    )
    if run.stopping:
        return replace(failed, reason=f"{run.stopping}; the local directory is kept")
    if failures:
        return replace(
            failed,
            reason=f"{len(failures)} of {len(target.assets)} remote assets could "
            "not be deleted; the local directory is kept",
        )
    why = _remote_left(run, item)
    if why is not None:
        return replace(
            failed,
            reason=f"cannot confirm the remote deletion ({why}); "
            "the local directory is kept",
        )
    if run.plan.options.keep_local:
        assert run.plan.journal is not None
        run.record(run.plan.journal.record_done, target.relpath)
        status = TargetStatus.DELETED if deleted else TargetStatus.NOTHING_TO_DO
        return TargetResult(target, status, None, deleted)
    try:
        removed, left = remove_vetted(
            run.plan.dandiset_directory, target.relpath, item.local.stamps
        )
    except (OSError, RuntimeError) as exc:
        return replace(
            failed, reason=f"remote assets deleted, local removal failed: {exc}"
        )
    if left:
        # the journal keeps the target: a re-run compares what stays with it
        return replace(
            failed,
            reason=f"remote assets deleted; {len(left)} local entries the plan did "
            f"not vet stay, e.g. {left[0]}; a re-run handles them",
        )
    assert run.plan.journal is not None
    run.record(run.plan.journal.record_done, target.relpath)
    pruned = prune_empty_parents(run.plan.dandiset_directory, target.relpath)
    if pruned:
        lgr.debug("Removed the directories left empty: %s", ", ".join(pruned))
    if item.kept_remote:
        return TargetResult(
            target, TargetStatus.REMOTE_ONLY, _kept_reason(item), deleted, (), removed
        )
    if not removed and not deleted:
        return TargetResult(target, TargetStatus.NOTHING_TO_DO, "already gone")
    return TargetResult(target, TargetStatus.DELETED, None, deleted, (), removed)


def _kept_reason(item: PlanItem) -> str:
    """Name the assets a resumed target kept because its journal lacks them."""
    kept = sorted(a.path for a in item.kept_remote)
    shown = ", ".join(kept[:MAX_LISTED]) + (
        f" and {len(kept) - MAX_LISTED} more" if len(kept) > MAX_LISTED else ""
    )
    return (
        f"finished what the interrupted run journaled; {len(kept)} asset(s) that "
        f"appeared below it since are not its to delete and were kept: {shown} "
        "(--include-remote deletes them)"
    )


def _finish(future: Future, target: DeletionTarget, run: _Run) -> TargetResult:
    """The result of a finished target's future (a bug in it fails the target)."""
    try:
        return future.result()
    except Exception as exc:  # a bug: the target is not finished
        lgr.exception("Deleting %s failed", target.relpath)
        return TargetResult(target, TargetStatus.FAILED, f"{type(exc).__name__}: {exc}")


ABANDONED = (
    "interrupted twice: its requests in flight were abandoned; the local "
    "directory is kept"
)

#: called with each target's result as soon as it is known
ResultCallback = Callable[[TargetResult], None]


class _Lanes:
    """Up to ``width`` targets in flight, sharing the pool of request workers;
    each result is settled as soon as its target ends."""

    def __init__(
        self,
        run: _Run,
        width: int,
        pool: ThreadPoolExecutor,
        on_result: ResultCallback | None,
    ) -> None:
        self.run, self.width, self.pool = run, width, pool
        self.on_result = on_result
        self.in_flight: dict[Future, tuple[int, PlanItem]] = {}
        self.results: dict[int, TargetResult] = {}

    def settled(self, index: int, result: TargetResult) -> None:
        self.results[index] = result
        self.run.progress.target_ended(result)
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception:
                lgr.exception(
                    "Reporting the result of %s failed", result.target.relpath
                )

    def ended(self, index: int, target: DeletionTarget, result: TargetResult) -> None:
        lgr.debug("%s: %s (%s)", target.relpath, result.status.value, result.reason)
        try:
            self.run.plan.hooks.after_target(target, result)
        except Exception:
            lgr.exception("An after-target hook failed for %s", target.relpath)
        self.settled(index, result)

    def settle_some(self) -> None:
        """Wait until a target in flight ends (or a second Ctrl-C abandons them)."""
        while True:
            try:
                done, _ = wait(self.in_flight, timeout=0.1, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:  # outside the main thread's handler: wait on
                self.run.stop.set()
                continue
            if done or self.run.abandon.is_set():
                break
        for future in list(done or self.in_flight):
            index, item = self.in_flight.pop(future)
            if future.done():
                result = _finish(future, item.target, self.run)
            else:
                result = TargetResult(item.target, TargetStatus.FAILED, ABANDONED)
            self.ended(index, item.target, result)

    def start(self, index: int, item: PlanItem) -> None:
        """Start a target once a lane is free, unless Ctrl-C or a hook stops it."""
        while len(self.in_flight) >= self.width:
            self.settle_some()
        target = item.target
        if self.run.stopping:
            reason = f"{self.run.stopping} before it started"
            self.settled(index, TargetResult(target, TargetStatus.FAILED, reason))
            return
        try:
            self.run.plan.hooks.before_target(target)
        except Exception as exc:
            result = TargetResult(
                target, TargetStatus.REFUSED, f"blocked by a before-hook: {exc}"
            )
            self.ended(index, target, result)
            return
        self.in_flight[self.pool.submit(_run_target, self.run, item)] = (index, item)


def execute_plan(
    plan: DeletionPlan,
    on_result: ResultCallback | None = None,
    progress: DeletionProgress | None = None,
) -> DeletionReport:
    """Carry out a plan made without ``dry_run``.

    Targets start in plan order, up to ``jobs`` of them at once; their asset
    deletions share the ``jobs`` request workers, and each target's final check
    and local removal run as soon as its own assets are gone, so no target
    waits for another.  The plan's hooks are called from the calling thread:
    ``before_target`` in plan order, ``after_target`` as each target ends.
    Ctrl-C stops new deletions, lets requests in flight finish, keeps every
    unfinished target's local directory and returns the partial report
    (``interrupted``).

    Parameters
    ----------
    plan
        A plan made without ``dry_run``.
    on_result
        Called from the calling thread with each target's result as soon as it
        is known (the refused ones first), e.g. to print the report as it grows.
    progress
        Told of each asset deleted and each target ended (from worker threads).

    Returns
    -------
    DeletionReport
        The results in plan order.
    """
    if plan.options.dry_run:
        plan.close()
        raise ValueError("A dry-run plan cannot be executed")
    report = plan.report()
    jobs = plan.options.jobs
    pool = ThreadPoolExecutor(max_workers=jobs)
    lanes_pool = ThreadPoolExecutor(max_workers=jobs)
    run = _Run(plan, plan.session, pool, progress=progress or DeletionProgress())
    lanes = _Lanes(run, jobs, lanes_pool, on_result)
    try:
        with _ctrl_c_stops(run):
            for index, item in enumerate(plan.items):
                if item.verdict is not None:
                    lanes.settled(index, item.verdict)
            run.progress.deleting(plan.to_delete)
            for index, item in enumerate(plan.items):
                if item.verdict is None:
                    lanes.start(index, item)
            while lanes.in_flight:
                lanes.settle_some()
    finally:
        # abandoned requests are not waited for; nothing new starts either way
        for executor in (lanes_pool, pool):
            executor.shutdown(wait=not run.abandon.is_set(), cancel_futures=True)
        plan.close()
    report.results = [lanes.results[i] for i in range(len(plan.items))]
    report.interrupted = run.stop.is_set()
    report.abandoned = run.abandon.is_set()
    report.terminated = run.terminated
    try:
        plan.hooks.run_finished(report)
    except Exception:
        lgr.exception("An end-of-run hook failed")
    return report
