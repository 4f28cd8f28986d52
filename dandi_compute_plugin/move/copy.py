"""The first half of a move: each directory's assets created in the target.

For every asset of a directory on the source's draft: an asset at the same path
on the target's draft with the same digest counts as copied already (a re-run, or
someone else's copy); one with another digest refuses the whole directory (never
overwritten); otherwise the asset is created in the target from the source's blob
and metadata (no content travels), or -- a Zarr belongs to one dandiset -- the
clone's copy of the Zarr is uploaded with dandi's own code, only when its
checksum is the archive's.  A fresh listing of the target then has to show every
asset at its path with the same digest before the source may lose it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
import os
from pathlib import Path

from ..deletion.local import local_digest
from ..deletion.model import PlannedAsset
from ..errors import ArchiveError
from .session import MoveSession, metadata_for_copy

#: how many paths a reason names
SHOWN = 3


@dataclass(frozen=True)
class CopyOutcome:
    """How one directory's copy into the target ended.

    Attributes
    ----------
    ok
        Every asset the source holds there is in the target with its digest.
    refused
        Nothing was created: the directory cannot be moved (see ``reason``).
    reason
        Why not ok.
    created
        Assets created from a blob by this run.
    uploaded
        Zarr assets uploaded from the clone by this run.
    already
        Assets the target held already with the same digest.
    """

    ok: bool
    refused: bool = False
    reason: str | None = None
    created: int = 0
    uploaded: int = 0
    already: int = 0


def _examples(paths: list[str]) -> str:
    more = len(paths) - SHOWN
    return ", ".join(paths[:SHOWN]) + (f" and {more} more" if more > 0 else "")


@dataclass
class DirectoryCopy:
    """One directory: what the source holds, what the target holds."""

    relpath: str
    #: the assets the deletion will remove (the plan's listing)
    assets: tuple[PlannedAsset, ...]
    source: dict[str, tuple[PlannedAsset, dict]]
    target: dict[str, tuple[PlannedAsset, dict]]

    def obstacles(self, clone: Path) -> str | None:
        """Why the directory cannot be moved, or None; changes nothing."""
        unknown = [a.path for a in self.assets if not self._same_source(a)]
        if unknown:
            return (
                f"{len(unknown)} assets changed on the source since the plan or "
                f"have no digest: {_examples(unknown)}"
            )
        taken = [
            a.path
            for a in self.assets
            if a.path in self.target and self.target[a.path][0].digest != a.digest
        ]
        if taken:
            zarrs = [p for p in taken if self.target[p][0].zarr]
            hint = (
                f"; {_examples(zarrs)} in the target is a Zarr: an upload an "
                "interrupted move left unfinished? Remove it there (or finish it "
                "with dandi upload) and run again"
                if zarrs
                else ""
            )
            return (
                f"{len(taken)} target paths hold other content (never overwritten): "
                f"{_examples(taken)}{hint}"
            )
        lacking = [z.path for z in self.missing() if z.zarr and not _held(clone, z)]
        if lacking:
            return (
                "a Zarr cannot be shared between dandisets and the clone does not "
                f"hold it with the archive's checksum: {_examples(lacking)}"
            )
        return None

    def _same_source(self, asset: PlannedAsset) -> bool:
        listed = self.source.get(asset.path)
        return (
            listed is not None
            and listed[0].asset_id == asset.asset_id
            and asset.digest is not None
            and listed[0].digest == asset.digest
        )

    def missing(self) -> list[PlannedAsset]:
        """The assets the target lacks."""
        return [a for a in self.assets if a.path not in self.target]

    def unconfirmed(self, listed: dict[str, tuple[PlannedAsset, dict]]) -> list[str]:
        """The paths a listing of the target does not show with their digest."""
        return [
            a.path
            for a in self.assets
            if a.path not in listed or listed[a.path][0].digest != a.digest
        ]


def _held(clone: Path, asset: PlannedAsset) -> bool:
    """Whether the clone holds the Zarr with the archive's checksum."""
    local = os.path.join(clone, *asset.path.split("/"))
    if os.path.islink(local) or not os.path.isdir(local):
        return False
    try:
        return local_digest(local, "zarr", None) == asset.digest
    except OSError:
        return False


def plan_copy(
    source: MoveSession,
    target: MoveSession,
    relpath: str,
    assets: tuple[PlannedAsset, ...],
) -> DirectoryCopy:
    """List a directory on both sides (one listing each, with digests).

    Raises
    ------
    ArchiveError
        When a listing fails or breaks the listing rules.
    """
    listed = source.listed_under(relpath)
    return DirectoryCopy(
        relpath, _with_digests(assets, listed), listed, target.listed_under(relpath)
    )


def _with_digests(
    assets: tuple[PlannedAsset, ...], listed: dict[str, tuple[PlannedAsset, dict]]
) -> tuple[PlannedAsset, ...]:
    """The planned assets with the digests of the source's listing (a plan made
    with ``verify="size"`` listed none), where it lists the same asset with the
    same digest; the others stay as planned (an obstacle)."""

    def merged(asset: PlannedAsset) -> PlannedAsset:
        now = listed.get(asset.path)
        same = (
            now is not None
            and now[0].asset_id == asset.asset_id
            and asset.digest in (None, now[0].digest)
        )
        return now[0] if same else asset

    return tuple(merged(a) for a in assets)


def copy_directory(
    copy: DirectoryCopy,
    source: MoveSession,
    target: MoveSession,
    clone: Path,
    pool: ThreadPoolExecutor,
    jobs: int,
) -> CopyOutcome:
    """Create what the target lacks, then confirm it with a fresh listing.

    Blob assets are created by ``pool``'s workers; Zarr assets are uploaded one
    after the other (dandi's upload runs ``jobs`` threads of its own).
    """
    why = copy.obstacles(clone)
    if why is not None:
        return CopyOutcome(False, refused=True, reason=why)
    missing = copy.missing()
    already = len(copy.assets) - len(missing)
    blobs = [a for a in missing if not a.zarr]
    futures = [
        pool.submit(
            target.create_from_blob,
            metadata_for_copy(copy.source[a.path][1], a.path),
            copy.source[a.path][1]["blob"],
        )
        for a in blobs
    ]
    errors = []
    for asset, future in zip(blobs, futures, strict=True):
        try:
            future.result()
        except ArchiveError as exc:
            errors.append(f"{asset.path}: {exc}")
    created, uploaded = len(blobs) - len(errors), 0
    for zarr in (a for a in missing if a.zarr):
        local = os.path.join(clone, *zarr.path.split("/"))
        metadata = metadata_for_copy(copy.source[zarr.path][1], zarr.path)
        try:
            target.upload_zarr(local, metadata, jobs=jobs)
            uploaded += 1
        except ArchiveError as exc:
            errors.append(f"{zarr.path}: {exc}")
    counts = {"created": created, "uploaded": uploaded, "already": already}
    return _confirmed(copy, target, errors, counts)


def _confirmed(
    copy: DirectoryCopy, target: MoveSession, errors: list[str], counts: dict
) -> CopyOutcome:
    """The outcome once a fresh listing of the target is checked."""
    try:
        unconfirmed = copy.unconfirmed(target.listed_under(copy.relpath))
    except ArchiveError as exc:
        return CopyOutcome(False, reason=f"cannot list the target: {exc}", **counts)
    if not unconfirmed:
        return CopyOutcome(True, **counts)
    first = f"; {errors[0]}" if errors else ""
    return CopyOutcome(
        False,
        reason=f"{len(unconfirmed)} assets are not in the target with their digest "
        f"(e.g. {unconfirmed[0]}{first}); nothing of the source is deleted",
        **counts,
    )
