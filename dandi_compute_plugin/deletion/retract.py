"""Retract one target of a plan: remote first, then local.

Every remote asset of the target is deleted first (up to ``jobs`` at once, each
outcome journaled after an intent made durable before the first request); only
when each one is confirmed gone (204 or 404) *and* a fresh listing of the
directory's path is empty is the local directory removed: exactly the objects
the plan vetted, then the directories that became empty (:mod:`.local`);
anything else stays and the target is reported failed.  A resumed target keeps
the assets its journal did not record.  :mod:`.execute` runs the targets.

How many ``DELETE`` requests are in flight at once is the run's
:class:`~.pace.DeletePace`: crowded deletions in one draft deadlock in the
archive's database.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
import logging
import threading
from typing import Any

from ..errors import ArchiveError
from .archive import ArchiveSession, describe_error
from .client import QUOTED_CHARS, safe_text
from .local import prune_empty_parents, remove_vetted
from .model import (
    MAX_LISTED,
    AssetFailure,
    DeletionProgress,
    PlannedAsset,
    TargetResult,
    TargetStatus,
)
from .pace import Crowded, DeletePace, delete_paced
from .plan import DeletionPlan
from .verdict import PlanItem

lgr = logging.getLogger("dandi.compute")


@dataclass
class Run:
    """What the targets of one execution share: its plan, its session, the
    pool of request workers, and why it is stopping (Ctrl-C, SIGTERM, a
    journal that cannot be written)."""

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
    #: how many DELETE requests may be in flight (set by the execution)
    pace: DeletePace | None = None

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


def retract(run: Run, item: PlanItem) -> TargetResult:
    """Remote deletions, their confirmation, then the local removal.

    Parameters
    ----------
    run
        What the targets of the execution share (its journal, its session,
        whether it is stopping).
    item
        A target of the plan without a verdict.

    Returns
    -------
    TargetResult
        ``failed`` (the local directory kept) unless every remote asset is
        confirmed gone and the local removal left nothing the plan did not
        vet.
    """
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


def _delete_remote(run: Run, item: PlanItem) -> tuple[int, list[AssetFailure]]:
    """Delete the target's remote assets, up to ``jobs`` at once; each outcome is
    journaled.  Returns the number confirmed gone and the failures (assets not
    attempted after Ctrl-C included)."""
    journal, target = run.plan.journal, item.target
    assert journal is not None
    if not run.record(
        journal.record_intents,
        target.relpath,
        target.assets,
        item.local_mtimes,
        item.zarr_members,
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


def _delete_one(run: Run, asset: PlannedAsset) -> bool:
    """Delete one asset; False when the run is stopping and it was not attempted."""
    if run.stopping:
        return False
    session = run.session
    assert session is not None and run.pace is not None
    timeout = run.plan.options.timeout
    try:
        if not delete_paced(
            run.pace, lambda: session.delete_asset(asset), lambda: run.stopping, timeout
        ):
            return False
    except Crowded as exc:  # as the client describes a failure (redacted first)
        quoted = safe_text(exc.body, QUOTED_CHARS)
        raise ArchiveError(
            f"HTTP {exc.status}" + (f": {quoted}" if quoted else "")
        ) from None
    run.progress.asset_deleted(asset)
    return True


def _remote_left(run: Run, item: PlanItem) -> str | None:
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


def _kept_reason(item: PlanItem) -> str:
    """Name the assets a resumed target kept because its journal lacks them."""
    kept = sorted(a.path for a in item.kept_remote)
    shown = ", ".join(kept[:MAX_LISTED]) + (
        f" and {len(kept) - MAX_LISTED} more" if len(kept) > MAX_LISTED else ""
    )
    return (
        f"finished what the interrupted run journaled; {len(kept)} asset(s) that "
        f"appeared below it since are not its to delete and were kept: {shown}; "
        "--include-remote (include_remote=True in Python) deletes them"
    )
