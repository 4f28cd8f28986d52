"""One directory of a plan: where it is, what it holds, and the verdict on it.

Every target, whatever brought it into the plan (the scan, a hook, the journal
of an interrupted run, the archive's listing), is planned here the same way by
:func:`plan_directory`:

1. its place is checked (one rule for every target: :func:`.targets.place_of`);
2. its local files are listed, and the remote assets below its path are checked
   (:func:`.listing.checked_assets`); a resumed target whose directory is gone
   keeps only the assets its journal recorded;
3. the local files are compared with those assets (digests or sizes): what the
   server lacks is *un-uploaded* (what the journal shows deleted by an
   interrupted run counts as on the server);
4. the verdict: a directory that is not planned from its local content (an
   unsafe place, one the scan does not enter, a remote-only one not asked for)
   is kept; any other is refused for a file system mounted inside it, for
   un-uploaded files, or by the hooks' vetoes.  No verdict: it is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
import enum
import os
from pathlib import Path
from typing import Any

from ..errors import ArchiveError
from ..plugins import PluginHooks
from ..versions import VersionDirectory
from .journal import Journal
from .listing import checked_assets
from .local import (
    Expected,
    Inventory,
    Stamp,
    find_unuploaded,
    inventory,
    local_digest,
    needs_digest,
)
from .model import (
    MAX_LISTED,
    DeletionTarget,
    PlannedAsset,
    TargetResult,
    TargetStatus,
)
from .options import DeletionOptions
from .targets import place_of


class Location(enum.Enum):
    """Where a target's directory is."""

    #: in the clone (found by the scan, or added by a hook)
    LOCAL = "local"
    #: gone from the clone after an interrupted run that journaled it
    GONE = "gone"
    #: on the archive only, not in the clone
    REMOTE_ONLY = "remote-only"
    #: on the archive, and in the clone in a form the scan does not enter (a
    #: symbolic link, below an unreadable directory)
    UNSCANNED = "unscanned"
    #: in a place a target must not be (:mod:`.local.place`): found when a
    #: directory of the clone is planned
    UNSAFE = "unsafe"


@dataclass
class PlanItem:
    """A target of a plan: what it holds locally, and a verdict if refused."""

    target: DeletionTarget
    verdict: TargetResult | None = None
    #: what the local directory held: the removal touches only that
    local: Inventory = field(default_factory=Inventory)
    #: remote assets below a resumed target that its journal did not record
    #: (they appeared since): kept, unless remote-only directories are deleted
    kept_remote: tuple[PlannedAsset, ...] = ()
    #: ``{Zarr path: {path inside it: Stamp}}`` of the Zarrs whose checksum
    #: matched the archive's: the files it covered, for the journal
    zarr_members: dict[str, dict[str, Stamp]] = field(default_factory=dict)

    @property
    def local_mtimes(self) -> dict[str, int | None]:
        """``{path: mtime_ns}`` of the local files seen (the journal's intents)."""
        return {f.path: f.mtime_ns for f in self.local.files}


@dataclass(frozen=True)
class PlanContext:
    """What every directory of one plan is planned with."""

    #: the clone's top directory
    top: Path
    options: DeletionOptions
    hooks: PluginHooks
    journal: Journal
    #: the results of the version's remote listing, by directory (unchecked)
    remote: dict[str, list[Any]]
    #: why the version's assets could not be listed: every directory fails
    remote_error: ArchiveError | None
    #: the mount table, read once
    mounts: frozenset[str]
    #: why a directory is refused before its content matters: ``{relpath: why}``
    reasons: dict[str, str]


def plan_directory(
    directory: VersionDirectory, location: Location, shared: PlanContext
) -> PlanItem:
    """Plan one directory: its local files, its remote assets, the verdict.

    Parameters
    ----------
    directory
        The version directory.
    location
        Where it was found (:attr:`Location.UNSAFE` is found here).
    shared
        What every directory of the plan shares.

    Returns
    -------
    PlanItem
        With a verdict when the directory is kept, refused, or failed.
    """
    relpath, base = directory.relpath, DeletionTarget(directory)
    reasons = [shared.reasons[relpath]] if relpath in shared.reasons else []
    if location is Location.LOCAL:
        unsafe = place_of(shared.top, relpath, shared.mounts)
        if unsafe is not None:
            location, reasons = Location.UNSAFE, [unsafe, *reasons]
    try:
        local = (
            inventory(shared.top, relpath)
            if location is Location.LOCAL
            else Inventory()
        )
    except OSError as exc:
        return _failed(base, "cannot read the local directory", exc)
    if shared.remote_error is not None:
        return _unlisted(base, shared.remote_error)
    try:
        remote = checked_assets(shared.remote.get(relpath, ()), relpath + "/")
    except ArchiveError as exc:
        return _unlisted(base, exc)
    remote, kept = _journaled_only(shared, relpath, remote, location)
    try:
        target, members = _compared(shared, base, local, remote)
    except OSError as exc:
        return _failed(base, "cannot read a local file", exc)
    item = PlanItem(target, local=local, kept_remote=kept, zarr_members=members)
    item.verdict = _verdict(shared, target, local, location, reasons)
    return item


def _journaled_only(
    shared: PlanContext,
    relpath: str,
    remote: list[PlannedAsset],
    location: Location,
) -> tuple[list[PlannedAsset], tuple[PlannedAsset, ...]]:
    """A resumed target whose directory is gone deletes only what its journal
    recorded: the assets that appeared below it since (another id, even at a
    journaled path) are kept, unless remote-only directories are deleted."""
    if location is not Location.GONE or shared.options.include_remote:
        return remote, ()
    intended = shared.journal.intended.get(relpath, set())
    kept = tuple(a for a in remote if a.asset_id not in intended)
    return [a for a in remote if a.asset_id in intended], kept


def _compared(
    shared: PlanContext,
    base: DeletionTarget,
    local: Inventory,
    remote: list[PlannedAsset],
) -> tuple[DeletionTarget, dict[str, dict[str, Stamp]]]:
    """The target with its remote assets, its local files and those of them
    the server lacks (un-uploaded); and the files of each Zarr whose checksum
    equals its asset's on the server."""
    expected = shared.journal.expected()
    expected.update((a.path, Expected(a.size, a.digest)) for a in remote)
    verify = shared.options.verify
    digests = _local_digests(shared, local, expected)
    missing = find_unuploaded(local.files, expected, verify, digests)
    on_server = {a.path: a.digest for a in remote}
    members = {
        f.path: dict(f.members)
        for f in local.files
        if f.kind == "zarr"
        and f.members is not None
        and f.path in digests
        and digests[f.path] == on_server.get(f.path)
    }
    return replace(
        base,
        assets=tuple(remote),
        local_files=sum(f.files for f in local.files),
        local_bytes=sum(f.bytes for f in local.files),
        unuploaded=tuple(
            sorted([(m.path, m.reason) for m in missing] + local.local_only)
        ),
    ), members


def _local_digests(
    shared: PlanContext, local: Inventory, expected: dict[str, Expected]
) -> dict[str, str]:
    """The digests the comparison needs (not where sizes already differ)."""
    top, verify = shared.top, shared.options.verify
    return {
        f.path: local_digest(os.path.join(top, *f.path.split("/")), f.kind, f.size)
        for f in local.files
        if needs_digest(f, expected.get(f.path), verify)
    }


def _verdict(
    shared: PlanContext,
    target: DeletionTarget,
    local: Inventory,
    location: Location,
    reasons: list[str],
) -> TargetResult | None:
    """Why ``target`` is kept or refused, or None: it is to be deleted.

    The hooks are asked only about a directory planned from its content."""
    kept = _not_in_the_clone(shared, target, location, reasons)
    if kept is not None:
        return kept
    vetoes = _vetoes(shared.hooks, target)
    reasons = reasons + _refusals(shared, target, local, vetoed=bool(vetoes)) + vetoes
    if reasons:
        return TargetResult(target, TargetStatus.REFUSED, "; ".join(reasons))
    return None


def _not_in_the_clone(
    shared: PlanContext,
    target: DeletionTarget,
    location: Location,
    reasons: list[str],
) -> TargetResult | None:
    """The verdict on a directory that is not planned from its local content."""
    if location is Location.UNSAFE:
        reason = "; ".join(reasons) + ": nothing of it is touched"
        return TargetResult(target, TargetStatus.REFUSED, reason)
    if location is Location.UNSCANNED:
        return TargetResult(
            target,
            TargetStatus.REFUSED,
            "on the archive, and in the clone in a form the scan does not enter "
            f"({'; '.join(reasons)}): kept",
        )
    if location is Location.REMOTE_ONLY and not shared.options.include_remote:
        return TargetResult(
            target,
            TargetStatus.REMOTE_ONLY,
            "on the archive only, not in the clone: kept; --include-remote "
            "(include_remote=True in Python) deletes it",
        )
    return None


def _refusals(
    shared: PlanContext, target: DeletionTarget, local: Inventory, vetoed: bool
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
    if not missing or shared.options.include_unuploaded:
        return reasons
    shown = "; ".join(f"{path} ({reason})" for path, reason in missing[:MAX_LISTED])
    more = len(missing) - MAX_LISTED
    reasons.append(
        f"{len(missing)} local file(s) not on the server: {shown}"
        + (f" and {more} more" if more > 0 else "")
        + (
            ""
            if vetoed
            else "; --include-unuploaded (include_unuploaded=True in Python) "
            "deletes them anyway"
        )
    )
    return reasons


def _vetoes(hooks: PluginHooks, target: DeletionTarget) -> list[str]:
    """The hooks' vetoes; failing to ask them blocks the target (fail closed)."""
    try:
        return [str(r) for r in hooks.veto(target) if r]
    except Exception as exc:
        return [f"the veto hooks failed, so the target is blocked: {exc}"]


def _failed(target: DeletionTarget, what: str, exc: OSError) -> PlanItem:
    reason = f"{what}: {exc.strerror or exc}: {exc.filename}"
    return PlanItem(target, TargetResult(target, TargetStatus.FAILED, reason))


def _unlisted(target: DeletionTarget, exc: ArchiveError) -> PlanItem:
    reason = f"cannot list the remote assets: {exc}"
    return PlanItem(target, TargetResult(target, TargetStatus.FAILED, reason))
