"""Plan a deletion: gather the targets of a version, then plan each one.

:func:`plan_deletion` changes nothing.  Without ``dry_run`` it authenticates
first, so that a missing or rejected API key stops the run before any change.
Its targets come from four sources:

- the version directories the scan of the clone finds (a directory the scan
  cannot read is a *scan error*: version directories below it may exist, so the
  report is not ok, exit status 1, and names it);
- those a hook adds (:mod:`.targets`);
- a directory of the version that an interrupted run left unfinished in the
  journal, and that is gone locally (the run was killed during or right after
  its local removal): its remaining remote assets (usually none) are deleted and
  the journal is finished, instead of keeping it forever;
- the version directories of the archive's listing that the clone lacks
  (remote-only), or holds in a form the scan does not enter.

Each one is then planned the same way, with its :class:`~.verdict.Location`
(:func:`.verdict.plan_directory`: its place, its files, the refusals and the
hooks' vetoes); directories nested in one another are both refused.
"""

from __future__ import annotations

from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
import logging
from pathlib import Path
from typing import Any

from ..defaults import dandi_instance
from ..errors import ArchiveError
from ..plugins import PluginHooks, check_disabled
from ..versions import (
    VersionDirectory,
    iter_version_directories,
    validate_version,
)
from .archive import ArchiveSession, describe_error
from .journal import Journal, unfinished_targets
from .local import mount_points, overlapping
from .model import (
    DeletionProgress,
    DeletionReport,
    DeletionTarget,
    TargetResult,
    TargetStatus,
)
from .options import DeletionOptions
from .targets import (
    dandiset_id_of,
    hook_added_directories,
    journaled_and_gone,
    remote_only_directories,
    scan_error_recorder,
)
from .verdict import Location, PlanContext, PlanItem, plan_directory

lgr = logging.getLogger("dandi.compute")

#: how many directories the confirmation lists by name, of each kind
PROMPT_LISTED = 20


@dataclass
class DeletionPlan:
    """What a run would do; :func:`~.execute.execute_plan` does it.

    ``items`` are sorted by path; those without a ``verdict`` are to be deleted.
    ``hooks`` are the policy hooks the plan was made with: the execution calls
    the same ones.
    """

    dandiset_directory: Path
    version: str
    options: DeletionOptions
    hooks: PluginHooks
    dandiset_id: str | None = None
    session: ArchiveSession | None = None
    journal: Journal | None = None
    items: list[PlanItem] = field(default_factory=list)
    #: directories the scan could not read (``"relpath: reason"``)
    scan_errors: list[str] = field(default_factory=list)

    @property
    def to_delete(self) -> list[DeletionTarget]:
        """The targets that are neither refused nor failed."""
        return [i.target for i in self.items if i.verdict is None]

    def summary(self) -> str:
        """What a confirmation asks about: directories, assets, bytes."""
        todo = self.to_delete
        api = self.session.instance.api if self.session else "?"
        text = (
            f"Delete {len(todo)} version directories of {self.version} from dandiset "
            f"{self.dandiset_id} on {api}: {sum(len(t.assets) for t in todo)} remote "
            f"assets ({_size(sum(t.remote_bytes for t in todo))}), then "
            f"{sum(t.local_files for t in todo)} local files "
            f"({_size(sum(t.local_bytes for t in todo))})"
        )
        refused = len(self.items) - len(todo)
        if refused:
            text += f"; {refused} more directories are refused or failed"
        return text + "?"

    def overview(self, limit: int = PROMPT_LISTED) -> list[str]:
        """What a confirmation shows above its question: the directories to
        delete (up to ``limit``) with their assets and sizes, then those refused
        or failed with the reason."""
        todo = self.to_delete
        lines = [f"To delete ({len(todo)}):"] if todo else []
        for t in todo[:limit]:
            lines.append(
                f"  {t.relpath}: {len(t.assets)} remote assets "
                f"({_size(t.remote_bytes, exact=False)}), {t.local_files} local "
                f"files ({_size(t.local_bytes, exact=False)})"
            )
        if len(todo) > limit:
            lines.append(f"  ... and {len(todo) - limit} more")
        kept = [i for i in self.items if i.verdict is not None]
        if kept:
            lines.append(f"Kept ({len(kept)}):")
        for item in kept[:limit]:
            assert item.verdict is not None
            reason = item.verdict.reason or ""
            reason = reason if len(reason) <= 200 else reason[:199] + "…"
            lines.append(f"  {item.target.relpath}: {item.verdict.status}: {reason}")
        if len(kept) > limit:
            lines.append(f"  ... and {len(kept) - limit} more")
        return lines

    def report(self) -> DeletionReport:
        """The report of the plan itself (dry run, or before execution)."""
        results = [
            i.verdict or TargetResult(i.target, TargetStatus.PLANNED)
            for i in self.items
        ]
        return DeletionReport(
            dandiset_directory=self.dandiset_directory,
            version=self.version,
            dandiset_id=self.dandiset_id,
            api_url=self.session.instance.api if self.session else None,
            dry_run=self.options.dry_run,
            results=results,
            scan_errors=list(self.scan_errors),
        )

    def close(self) -> None:
        """Release the journal (without a run: nothing changed)."""
        if self.journal is not None:
            self.journal.close()
            self.journal = None


def _size(n: int, exact: bool = True) -> str:
    import humanize

    if not exact:
        return humanize.naturalsize(n)
    return f"{n} bytes" if n < 1000 else f"{humanize.naturalsize(n)}, {n} bytes"


def plan_deletion(
    dandiset_directory: str | Path,
    version: str,
    options: DeletionOptions | None = None,
    *,
    progress: DeletionProgress | None = None,
    session: ArchiveSession | None = None,
    only: Collection[str] | None = None,
    **changes: Any,
) -> DeletionPlan:
    """Find the targets of ``version`` and what deleting each would take.

    Changes nothing.  Unless ``dry_run``, authenticates first (no key and no
    terminal, or a rejected key: an error, before any change) and takes the
    clone's journal lock, held until :func:`~.execute.execute_plan` or
    :meth:`DeletionPlan.close`.

    Parameters
    ----------
    dandiset_directory
        The local clone (its ``dandiset.yaml`` names the dandiset).
    version
        The pipeline version, e.g. ``v1.1.1``.
    options
        How to run (default: :class:`~.options.DeletionOptions` ()).
    progress
        Told how many directories are planned, and of each one planned.
    session
        An open session on the clone's dandiset, made with ``options`` (its
        instance, key, jobs and timeout), instead of a new one.
    only
        Plan only these targets (relative paths); the others of the version
        are left out of the plan.  What concerns the version as a whole (the
        listing, directories nested in one another) still sees every target.
    **changes
        Fields of :class:`~.options.DeletionOptions` to set, e.g. ``dry_run=True``.

    Returns
    -------
    DeletionPlan
        With the hook plugins of the ``dandi_compute`` entry points plus
        ``options.plugins``, without ``options.disable_plugins``.
    """
    options = replace(options or DeletionOptions(), **changes)
    validate_version(version)
    top = Path(dandiset_directory)
    check_disabled(options.disable_plugins, options.plugins)
    hooks = PluginHooks(options.plugins, options.disable_plugins)
    plan = DeletionPlan(top, version, options, hooks)
    found = _scanned_and_added(plan)
    # read (and checked) before anything: a damaged journal stops the run here
    pending = unfinished_targets(top)
    gone = journaled_and_gone(top, version, found, pending)
    plan.dandiset_id = dandiset_id_of(top)
    try:
        _open_archive_and_journal(plan, session)
        directories, locations, shared = _gather(plan, found, gone)
        if only is not None:
            directories = [d for d in directories if d.relpath in only]
        _plan_items(
            plan, directories, locations, shared, progress or DeletionProgress()
        )
    except BaseException:
        plan.close()
        raise
    return plan


def _scanned_and_added(plan: DeletionPlan) -> dict[str, VersionDirectory]:
    """``{relpath: directory}`` of the version directories the scan finds in
    the clone (recording those it cannot read), then of those hooks add."""
    top, version = plan.dandiset_directory, plan.version
    found = {
        vd.relpath: vd
        for vd in iter_version_directories(
            top, version, scan_error_recorder(top, plan.scan_errors)
        )
    }
    for vd in hook_added_directories(top, version, plan.hooks):
        found.setdefault(vd.relpath, vd)
    return found


def _open_archive_and_journal(
    plan: DeletionPlan, session: ArchiveSession | None
) -> None:
    """The archive session (``session``, or a new one authenticated unless a
    dry run), then the journal, which must belong to that instance, dandiset
    and clone."""
    options = plan.options
    assert plan.dandiset_id is not None
    if session is not None and session.dandiset.identifier != plan.dandiset_id:
        raise ValueError(
            f"the session is on dandiset {session.dandiset.identifier}, the clone's "
            f"is {plan.dandiset_id}"
        )
    plan.session = session or ArchiveSession(
        options.dandi_instance or dandi_instance(),
        plan.dandiset_id,
        authenticate=not options.dry_run,
        jobs=options.jobs,
        timeout=options.timeout,
    )
    plan.journal = Journal(
        plan.dandiset_directory,
        api_url=plan.session.instance.api,
        dandiset_id=plan.dandiset_id,
        writable=not options.dry_run,
    )


def _gather(
    plan: DeletionPlan,
    found: dict[str, VersionDirectory],
    gone: list[VersionDirectory],
) -> tuple[list[VersionDirectory], dict[str, Location], PlanContext]:
    """Every target, sorted, with its location, and what their plans share:
    those ``found`` in the clone, the journaled ones ``gone`` from it that are
    still unfinished, and the archive's that the clone lacks."""
    assert plan.journal is not None
    # read again under the lock: another run may have finished some meanwhile
    gone_paths = {vd.relpath for vd in gone} & plan.journal.pending_targets
    try:
        remote, remote_error = _list_version(plan), None
    except ArchiveError as exc:  # every target fails, naming why
        remote, remote_error = {}, exc
    where = dict.fromkeys(found, Location.LOCAL)
    where.update(dict.fromkeys(gone_paths, Location.GONE))
    found.update((vd.relpath, vd) for vd in gone if vd.relpath in gone_paths)
    top = plan.dandiset_directory
    reasons = _add_archive_directories(top, remote, found, where)
    shared = PlanContext(
        top,
        plan.options,
        plan.hooks,
        plan.journal,
        remote=remote,
        remote_error=remote_error,
        mounts=mount_points(),
        reasons=reasons,
    )
    return sorted(found.values(), key=lambda v: v.relpath), where, shared


def _list_version(plan: DeletionPlan) -> dict[str, list[Any]]:
    """The remote assets of the version's directories (unchecked results).

    Raises
    ------
    ArchiveError
        Why they could not be listed, redacted (every target then fails).
    """
    assert plan.session is not None
    try:
        return plan.session.assets_of_version(
            plan.version, metadata=plan.options.verify == "digest"
        )
    except Exception as exc:  # requests' errors are OSErrors too: apart
        reason = plan.session.redact(describe_error(exc))
    # raised outside the handler: the unredacted error is not its context
    raise ArchiveError(reason)


def _add_archive_directories(
    top: Path,
    remote: dict[str, list[Any]],
    found: dict[str, VersionDirectory],
    where: dict[str, Location],
) -> dict[str, str]:
    """Add the archive's directories that the clone lacks to ``found`` and
    ``where``; return why targets are refused before their content matters:
    those the scan did not enter, and those nested in one another."""
    reasons: dict[str, str] = {}
    extra, unscanned = remote_only_directories(top, set(remote) - set(found))
    for vd in extra:
        found[vd.relpath], where[vd.relpath] = vd, Location.REMOTE_ONLY
    for relpath, (vd, why) in unscanned.items():
        found[relpath], where[relpath], reasons[relpath] = vd, Location.UNSCANNED, why
    for relpath, why in overlapping(found).items():
        reasons[relpath] = "; ".join(filter(None, [reasons.get(relpath), why]))
    return reasons


def _plan_items(
    plan: DeletionPlan,
    directories: list[VersionDirectory],
    where: dict[str, Location],
    shared: PlanContext,
    progress: DeletionProgress,
) -> None:
    """Plan every directory, ``jobs`` at once (local digests are the work)."""

    def plan_one(vd: VersionDirectory) -> PlanItem:
        item = plan_directory(vd, where[vd.relpath], shared)
        progress.planned(item.target)
        return item

    progress.planning(len(directories))
    pool = ThreadPoolExecutor(max_workers=plan.options.jobs)
    try:
        plan.items.extend(pool.map(plan_one, directories))
    except BaseException:  # Ctrl-C: the plans not started are not waited for
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    plan.items.sort(key=lambda i: i.target.relpath)
