"""Plan a deletion: the targets of a version, what each holds here and remotely.

:func:`plan_deletion` changes nothing.  For every version directory of the scan
and every one a hook adds, it checks its place (one rule for every target, also
the resumed and remote-only ones: :mod:`.local.place`; nested targets are both
refused), lists the local files and
the remote assets below the directory's path, finds the local files the server
lacks (what the journal shows deleted by an interrupted run counts as on the
server) and consults the vetoes.  Without ``dry_run`` it authenticates first, so
that a missing or rejected API key stops the run before any change.

Two more sources of targets and of failure:

- a directory of the version that an interrupted run left unfinished in the
  journal, and that is gone locally (the run was killed during or right after its
  local removal), is a target too: its remaining remote assets (usually none) are
  deleted and the journal is finished, instead of keeping it forever;
- a directory the scan cannot read is a *scan error*: version directories below it
  may exist, so the report is not ok (exit status 1) and names it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
import logging
import os
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
from .journal import Journal, journal_path, pending_targets
from .journal_format import read_records
from .listing import checked_assets
from .local import (
    Expected,
    Inventory,
    find_unuploaded,
    inventory,
    local_digest,
    mount_points,
    needs_digest,
    overlapping,
)
from .model import (
    MAX_LISTED,
    DeletionOptions,
    DeletionProgress,
    DeletionReport,
    DeletionTarget,
    PlanItem,
    PlannedAsset,
    TargetResult,
    TargetStatus,
)
from .targets import (
    dandiset_id_of,
    hook_added_directories,
    journaled_and_gone,
    place_of,
    remote_only_directories,
    scan_error_recorder,
)

lgr = logging.getLogger("dandi.compute")

#: how many directories the confirmation lists by name, of each kind
PROMPT_LISTED = 20

#: the remote assets of a version by directory, or why they could not be listed
Listing = dict[str, list[Any]] | str


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


#: where a target's directory is: in the clone, gone from it after an
#: interrupted run, on the archive only, in the clone in a form the scan does
#: not enter (a symbolic link, below an unreadable directory), or in a place a
#: target must not be (:mod:`.local.place`)
LOCAL, GONE, REMOTE_ONLY, UNSCANNED = "local", "gone", "remote-only", "unscanned"
UNSAFE = "unsafe"


@dataclass(frozen=True)
class _Context:
    """What every directory's plan shares."""

    listed: Listing
    #: the mount table, read once
    mounts: frozenset[str]
    #: why a directory is refused before its content matters: ``{relpath: why}``
    reasons: dict[str, str]


def _plan_item(
    plan: DeletionPlan, vd: VersionDirectory, where: str, ctx: _Context
) -> PlanItem:
    """Plan one directory: its local files, its remote assets, the verdicts."""
    journal, verify = plan.journal, plan.options.verify
    assert journal is not None
    base = DeletionTarget(vd)
    reasons = [ctx.reasons[vd.relpath]] if vd.relpath in ctx.reasons else []
    if where == LOCAL:
        unsafe = place_of(plan.dandiset_directory, vd.relpath, ctx.mounts)
        if unsafe is not None:
            where, reasons = UNSAFE, [unsafe, *reasons]
    try:
        local = (
            Inventory()
            if where != LOCAL
            else inventory(plan.dandiset_directory, vd.relpath)
        )
    except OSError as exc:
        return _failed(base, "cannot read the local directory", exc)
    try:
        if isinstance(ctx.listed, str):
            raise ArchiveError(ctx.listed)
        remote = checked_assets(ctx.listed.get(vd.relpath, ()), vd.relpath + "/")
    except ArchiveError as exc:
        reason = f"cannot list the remote assets: {exc}"
        return PlanItem(base, TargetResult(base, TargetStatus.FAILED, reason))
    remote, kept = _journaled_only(plan, vd.relpath, remote, where)
    expected = journal.expected()
    expected.update((a.path, Expected(a.size, a.digest)) for a in remote)
    try:
        digests = _local_digests(plan, local, expected)
    except OSError as exc:
        return _failed(base, "cannot read a local file", exc)
    missing = find_unuploaded(local.files, expected, verify, digests)
    target = replace(
        base,
        assets=tuple(remote),
        local_files=sum(f.files for f in local.files),
        local_bytes=sum(f.bytes for f in local.files),
        unuploaded=tuple(
            sorted([(m.path, m.reason) for m in missing] + local.local_only)
        ),
    )
    item = PlanItem(target, local=local, kept_remote=kept)
    item.verdict = _not_in_the_clone(plan, target, where, reasons)
    if item.verdict is None:
        vetoes = _vetoes(plan.hooks, target)
        reasons = reasons + _refusals(plan, target, local, vetoed=bool(vetoes)) + vetoes
        if reasons:
            item.verdict = TargetResult(
                target, TargetStatus.REFUSED, "; ".join(reasons)
            )
    return item


def _journaled_only(
    plan: DeletionPlan, relpath: str, remote: list[PlannedAsset], where: str
) -> tuple[list[PlannedAsset], tuple[PlannedAsset, ...]]:
    """A resumed target whose directory is gone deletes only what its journal
    recorded: the assets that appeared below it since (another id, even at a
    journaled path) are kept, unless remote-only directories are deleted."""
    if where != GONE or plan.options.include_remote:
        return remote, ()
    assert plan.journal is not None
    intended = plan.journal.intended.get(relpath, set())
    kept = tuple(a for a in remote if a.asset_id not in intended)
    return [a for a in remote if a.asset_id in intended], kept


def _not_in_the_clone(
    plan: DeletionPlan, target: DeletionTarget, where: str, reasons: list[str]
) -> TargetResult | None:
    """The verdict on a directory that is not planned from its local content."""
    if where == UNSAFE:
        reason = "; ".join(reasons) + ": nothing of it is touched"
        return TargetResult(target, TargetStatus.REFUSED, reason)
    if where == UNSCANNED:
        return TargetResult(
            target,
            TargetStatus.REFUSED,
            "on the archive, and in the clone in a form the scan does not enter "
            f"({'; '.join(reasons)}): kept",
        )
    if where == REMOTE_ONLY and not plan.options.include_remote:
        return TargetResult(
            target,
            TargetStatus.REMOTE_ONLY,
            "on the archive only, not in the clone: kept (--include-remote deletes it)",
        )
    return None


def _failed(target: DeletionTarget, what: str, exc: OSError) -> PlanItem:
    reason = f"{what}: {exc.strerror or exc}: {exc.filename}"
    return PlanItem(target, TargetResult(target, TargetStatus.FAILED, reason))


def _local_digests(
    plan: DeletionPlan, local: Inventory, expected: dict[str, Expected]
) -> dict[str, str]:
    """The digests the comparison needs (not where sizes already differ)."""
    top, verify = plan.dandiset_directory, plan.options.verify
    return {
        f.path: local_digest(os.path.join(top, *f.path.split("/")), f.kind, f.size)
        for f in local.files
        if needs_digest(f, expected.get(f.path), verify)
    }


def _refusals(
    plan: DeletionPlan, target: DeletionTarget, local: Inventory, vetoed: bool
) -> list[str]:
    """Why the plan itself refuses ``target``: un-uploaded files, mount points.

    The way past un-uploaded files is named only when no veto holds the target
    anyway."""
    reasons = []
    if local.mounts:
        reasons.append(
            f"another file system is mounted inside it, at {local.mounts[0]}"
            + (f" and {len(local.mounts) - 1} more" if len(local.mounts) > 1 else "")
            + ": the removal never crosses into it, so nothing of it is touched"
        )
    missing = target.unuploaded
    if not missing or plan.options.include_unuploaded:
        return reasons
    shown = "; ".join(f"{path} ({reason})" for path, reason in missing[:MAX_LISTED])
    more = len(missing) - MAX_LISTED
    reasons.append(
        f"{len(missing)} local file(s) not on the server: {shown}"
        + (f" and {more} more" if more > 0 else "")
        + (
            ""
            if vetoed
            else " (--include-unuploaded, include_unuploaded=True in Python, "
            "deletes them anyway)"
        )
    )
    return reasons


def _vetoes(hooks: PluginHooks, target: DeletionTarget) -> list[str]:
    """The hooks' vetoes; failing to ask them blocks the target (fail closed)."""
    try:
        return [str(r) for r in hooks.veto(target) if r]
    except Exception as exc:
        return [f"the veto hooks failed, so the target is blocked: {exc}"]


def plan_deletion(
    dandiset_directory: str | Path,
    version: str,
    options: DeletionOptions | None = None,
    *,
    progress: DeletionProgress | None = None,
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
        How to run (default: :class:`~.model.DeletionOptions` ()).
    progress
        Told how many directories are planned, and of each one planned.
    **changes
        Fields of :class:`~.model.DeletionOptions` to set, e.g. ``dry_run=True``.

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
    found = {
        vd.relpath: vd
        for vd in iter_version_directories(
            top, version, scan_error_recorder(top, plan.scan_errors)
        )
    }
    for vd in hook_added_directories(top, version, hooks):
        found.setdefault(vd.relpath, vd)
    # read (and checked) before anything: a damaged journal stops the run here
    pending = pending_targets(read_records(journal_path(top))[1:])
    gone = journaled_and_gone(top, version, found, pending)
    plan.dandiset_id = dandiset_id_of(top)
    try:
        _open_archive_and_journal(plan)
        assert plan.journal is not None
        # read again under the lock: another run may have finished some meanwhile
        gone_paths = {vd.relpath for vd in gone} & plan.journal.pending_targets
        listed = _list_version(plan)
        where = dict.fromkeys(found, LOCAL) | dict.fromkeys(gone_paths, GONE)
        found.update((vd.relpath, vd) for vd in gone if vd.relpath in gone_paths)
        reasons = _add_archive_directories(top, listed, found, where)
        directories = sorted(found.values(), key=lambda v: v.relpath)
        ctx = _Context(listed, mount_points(), reasons)
        _plan_items(plan, directories, where, ctx, progress or DeletionProgress())
    except BaseException:
        plan.close()
        raise
    return plan


def _add_archive_directories(
    top: Path,
    listed: Listing,
    found: dict[str, VersionDirectory],
    where: dict[str, str],
) -> dict[str, str]:
    """Add the archive's directories that the clone lacks to ``found`` and
    ``where``; return why targets are refused before their content matters:
    those the scan did not enter, and those nested in one another."""
    reasons: dict[str, str] = {}
    if not isinstance(listed, str):
        extra, unscanned = remote_only_directories(top, set(listed) - set(found))
        for vd in extra:
            found[vd.relpath], where[vd.relpath] = vd, REMOTE_ONLY
        for relpath, (vd, why) in unscanned.items():
            found[relpath], where[relpath], reasons[relpath] = vd, UNSCANNED, why
    for relpath, why in overlapping(found).items():
        reasons[relpath] = "; ".join(filter(None, [reasons.get(relpath), why]))
    return reasons


def _list_version(plan: DeletionPlan) -> Listing:
    """The remote assets of the version's directories, or why they could not
    be listed (every target then fails)."""
    assert plan.session is not None
    try:
        return plan.session.assets_of_version(
            plan.version, metadata=plan.options.verify == "digest"
        )
    except Exception as exc:  # requests' errors are OSErrors too: apart
        return plan.session.redact(describe_error(exc))


def _open_archive_and_journal(plan: DeletionPlan) -> None:
    """The archive session (authenticated unless a dry run), then the journal,
    which must belong to that instance, dandiset and clone."""
    options = plan.options
    assert plan.dandiset_id is not None
    plan.session = ArchiveSession(
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


def _plan_items(
    plan: DeletionPlan,
    directories: list[VersionDirectory],
    where: dict[str, str],
    ctx: _Context,
    progress: DeletionProgress,
) -> None:
    """Plan every directory, ``jobs`` at once (local digests are the work)."""

    def plan_one(vd: VersionDirectory) -> PlanItem:
        item = _plan_item(plan, vd, where[vd.relpath], ctx)
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
