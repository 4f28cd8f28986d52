"""Every pipeline version of a clone at a glance, and the versions close to a typo.

:func:`version_overview` walks a clone once (the walk of the scans, before any
version is chosen) and gives one :class:`VersionSummary` per pipeline and
version: nested directories and flat capsules alike, a version's hash-suffixed
variants under their version (``v1.1.1+b268fd2`` counts as ``v1.1.1``, the way
``delete-version v1.1.1`` takes it).  Given the assets of the archive's manifest
and the directories a deletion journal keeps unfinished, each row also says
where the version is: in the clone only, on the archive only, or both, and
whether a deletion of it is half done.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
import difflib
import os
from pathlib import Path
import re
import stat
from typing import Any, Protocol

from .layout import (
    VersionDirectory,
    first_version_directory,
    parse_version_name,
)
from .walk import OnError, walk_version_named

#: how many hints a typo gets
MAX_HINTS = 3


class _Asset(Protocol):
    path: str
    content_size: int


@dataclass
class VersionSummary:
    """One pipeline version of a clone (and of the archive).

    Attributes
    ----------
    pipeline
        The ``pipeline-`` label (None when the path has no such level).
    version
        The version without hash suffix: what ``delete-version`` is given.
    variants
        The full versions found (``v1.1.1``, ``v1.1.1+b268fd2``...), sorted.
    directories, attempts
        Local version directories (nested ones and flat capsules) and attempts
        (a flat capsule is one; a nested directory counts its ``*_attempt-N``
        subdirectories, or one when it has none).
    files, bytes
        Regular files and their size below those directories (None unless
        sizes were asked for).
    remote_directories, remote_assets, remote_bytes
        The archive's side (None unless the manifest's assets were given).
    pending
        Directories of the version that a deletion journal keeps unfinished.
    """

    pipeline: str | None
    version: str
    variants: set[str] = field(default_factory=set)
    directories: int = 0
    attempts: int = 0
    files: int | None = None
    bytes: int | None = None
    remote_directories: int | None = None
    remote_assets: int | None = None
    remote_bytes: int | None = None
    pending: int = 0

    @property
    def where(self) -> str:
        """``local``, ``archive``, ``both`` (or ``local`` with no archive data)."""
        remote = bool(self.remote_directories)
        if self.directories and remote:
            return "both"
        return "archive" if remote else "local"

    def as_record(self) -> dict[str, Any]:
        """The output record (JSON-serialisable); archive fields only when known."""
        record: dict[str, Any] = {
            "pipeline": self.pipeline,
            "version": self.version,
            "variants": sorted(self.variants),
            "directories": self.directories,
            "attempts": self.attempts,
        }
        if self.files is not None:
            record["files"] = self.files
            record["bytes"] = self.bytes
        if self.remote_directories is not None:
            record["remote_directories"] = self.remote_directories
            record["remote_assets"] = self.remote_assets
            record["remote_bytes"] = self.remote_bytes
            record["where"] = self.where
        record["pending"] = self.pending
        return record


def base_version(version: str) -> str:
    """The version without its hash suffix (``v1.1.1+b268fd2`` -> ``v1.1.1``)."""
    return version.split("+", 1)[0] or version


def natural_key(text: str | None) -> tuple:
    """Sort ``v1.1.10`` after ``v1.1.9``: digit runs compare as numbers."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", text or "")
        if part
    )


def version_overview(
    dandiset_directory: str | os.PathLike,
    *,
    sizes: bool = False,
    assets: Iterable[_Asset] | None = None,
    pending: Iterable[str] = (),
    on_error: OnError | None = None,
) -> list[VersionSummary]:
    """One row per pipeline and version of a clone, sorted by pipeline, then
    version in natural order.

    Parameters
    ----------
    dandiset_directory
        The clone.
    sizes
        Also count the files and bytes below every version directory (walks
        into each: slower on large clones).
    assets
        The archive's assets (``.path``, ``.content_size``), e.g. of the manifest:
        fills the archive's side, and adds the versions the clone lacks.
    pending
        Relative paths of the directories a deletion journal keeps unfinished.
    on_error
        As for :func:`~.walk.iter_version_directories`.

    Returns
    -------
    list of VersionSummary
    """
    top = os.fspath(dandiset_directory)
    rows: dict[tuple[str | None, str], VersionSummary] = {}
    for name, relpath in walk_version_named(top, on_error):
        row = _row_of(rows, top, relpath)
        if row is None:
            continue
        row.directories += 1
        parsed = parse_version_name(name)
        row.attempts += 1 if parsed.layout == "flat" else _attempts(top, relpath)
        if sizes:
            files, size = _sizes(os.path.join(top, relpath))
            row.files = (row.files or 0) + files
            row.bytes = (row.bytes or 0) + size
    if sizes:
        for row in rows.values():
            row.files, row.bytes = row.files or 0, row.bytes or 0
    if assets is not None:
        _add_remote(rows, top, assets)
    for relpath in pending:
        row = _row_of(rows, top, relpath)
        if row is not None:
            row.pending += 1
    return sorted(
        rows.values(), key=lambda r: (natural_key(r.pipeline), natural_key(r.version))
    )


def _row_of(
    rows: dict[tuple[str | None, str], VersionSummary], top: str, relpath: str
) -> VersionSummary | None:
    """The row of a version directory (made when new); None for a name that
    fits neither form."""
    try:
        directory = VersionDirectory.from_relpath(top, relpath)
    except ValueError:
        return None
    key = (directory.pipeline, base_version(directory.version))
    row = rows.get(key)
    if row is None:
        row = rows[key] = VersionSummary(*key)
    row.variants.add(directory.version)
    return row


def _add_remote(
    rows: dict[tuple[str | None, str], VersionSummary],
    top: str,
    assets: Iterable[_Asset],
) -> None:
    directories: dict[str, VersionSummary] = {}
    for row in rows.values():
        row.remote_directories = row.remote_assets = row.remote_bytes = 0
    for asset in assets:
        relpath = first_version_directory(asset.path)
        if relpath is None:
            continue
        if relpath not in directories:
            row = _row_of(rows, top, relpath)
            if row is None:
                continue
            if row.remote_directories is None:  # a version the clone lacks
                row.remote_directories = row.remote_assets = row.remote_bytes = 0
            row.remote_directories += 1
            directories[relpath] = row
        row = directories[relpath]
        row.remote_assets = (row.remote_assets or 0) + 1
        row.remote_bytes = (row.remote_bytes or 0) + asset.content_size


def _attempts(top: str, relpath: str) -> int:
    """The ``*_attempt-N`` subdirectories of a nested version directory (one
    when it has none: the directory is the run)."""
    try:
        with os.scandir(os.path.join(top, relpath)) as it:
            found = sum(
                1
                for e in it
                if "_attempt-" in e.name and e.is_dir(follow_symlinks=False)
            )
    except OSError:
        return 1
    return found or 1


def _sizes(directory: str) -> tuple[int, int]:
    """Regular files below ``directory`` and their bytes (links not followed:
    ``os.walk`` does not descend into linked directories by default)."""
    files = size = 0
    for dirpath, _dirnames, filenames in os.walk(directory):
        for name in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):  # no link, FIFO, socket or device
                files += 1
                size += st.st_size
    return files, size


def close_versions(wanted: str, known: Iterable[str]) -> list[str]:
    """The known versions closest to ``wanted`` (a typo's hints), best first.

    Case is ignored when comparing (``V1.1.1`` finds ``v1.1.1``), and so is a
    missing or extra leading ``v``.
    """
    known = sorted(set(known))
    by_folded = {_fold(k): k for k in known}
    exact = by_folded.get(_fold(wanted))
    hints = [exact] if exact is not None and exact != wanted else []
    for folded in difflib.get_close_matches(
        _fold(wanted), list(by_folded), n=MAX_HINTS, cutoff=0.6
    ):
        if by_folded[folded] not in hints and by_folded[folded] != wanted:
            hints.append(by_folded[folded])
    return hints[:MAX_HINTS]


def _fold(version: str) -> str:
    return version.lower().removeprefix("v")


def known_versions(dandiset_directory: str | Path) -> list[str]:
    """Every version (without suffix) and full variant of a clone."""
    found: set[str] = set()
    for row in version_overview(dandiset_directory, on_error=lambda exc: None):
        found.add(row.version)
        found.update(row.variants)
    return sorted(found)
