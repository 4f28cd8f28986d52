"""Where the targets of a deletion come from, besides the scan of the clone.

- the hooks' ``extra_targets``, validated like scanned directories (one rule
  for every target's place: :mod:`.local.place`);
- directories an interrupted run left unfinished in the journal and that are gone
  locally;
- version directories on the archive that the clone lacks (remote-only);
- and the directories the scan could not read (scan errors, recorded).
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import os
from pathlib import Path

from ..errors import NotADandisetError, UnsafePathError
from ..plugins import PluginHooks
from ..versions import VersionDirectory, version_name_matches
from .local import ABSENT, locate

lgr = logging.getLogger("dandi.compute")


def dandiset_id_of(top: Path) -> str:
    from dandi.dandiset import Dandiset

    try:
        identifier = Dandiset(top).identifier
    except Exception as exc:
        raise NotADandisetError(
            f"Cannot read the dandiset id of {top}: {exc}"
        ) from None
    if not identifier:
        raise NotADandisetError(f"{top}/dandiset.yaml names no dandiset identifier")
    return identifier


def hook_added_directories(
    top: Path, version: str, hooks: PluginHooks
) -> list[VersionDirectory]:
    """The hooks' added targets of ``version`` that are not known to be absent.

    Their place is checked later with every other target's (:func:`place_of`);
    one the clone does not hold is ignored, with a warning (it may still be a
    remote-only directory of the archive's listing).
    """
    extra = []
    for path in hooks.extra_targets(top, version):
        rel = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(top)))
        relpath = rel.as_posix()
        try:
            vd = VersionDirectory.from_relpath(top, relpath)
        except ValueError as exc:
            lgr.warning("Ignoring the added target %s: %s", path, exc)
            continue
        if vd.relpath != relpath or not version_name_matches(vd.path.name, version):
            lgr.warning("Ignoring the added target %s: not version %s", path, version)
            continue
        try:
            absent = locate(top, relpath) == ABSENT
        except UnsafePathError:
            absent = False  # refused with the reason when it is planned
        if absent:
            lgr.warning("Ignoring the added target %s: not in the clone", path)
            continue
        extra.append(vd)
    return extra


def place_of(top: Path, relpath: str, mounts: frozenset[str]) -> str | None:
    """Why a target's place is refused (see :mod:`.local.place`), or None.

    ``"absent"`` is a refusal too for a target that should be in the clone.
    """
    try:
        if locate(top, relpath, mounts) == ABSENT:
            return "no longer in the clone (gone since the scan)"
    except UnsafePathError as exc:
        return str(exc)
    return None


def journaled_and_gone(
    top: Path, version: str, found: dict[str, VersionDirectory], pending: set[str]
) -> list[VersionDirectory]:
    """Unfinished targets of the journal, of ``version``, gone locally.

    The scan cannot find them any more, yet the journal holds them (and counts
    their assets as uploaded) until a run finishes them.  A journaled directory
    that is not known to be absent (it exists in some form, or a link or an
    unreadable directory on the way hides it) is left alone.
    """
    gone = []
    for relpath in sorted(pending):
        if relpath in found:
            continue
        try:
            vd = VersionDirectory.from_relpath(top, relpath)
        except ValueError:
            continue
        if vd.relpath != relpath or not version_name_matches(
            relpath.rsplit("/", 1)[-1], version
        ):
            continue
        if _absent(top, relpath):
            gone.append(vd)
    return gone


def scan_error_recorder(top: Path, errors: list[str]) -> Callable[[OSError], None]:
    def record(exc: OSError) -> None:
        where = exc.filename
        if where is not None:
            where = Path(os.path.relpath(where, top)).as_posix()
        text = f"{where}: {exc.strerror or exc}"
        lgr.warning(
            "Cannot read %s: version directories below it are not deleted", text
        )
        errors.append(text)

    return record


def remote_only_directories(
    top: Path, relpaths: set[str]
) -> tuple[list[VersionDirectory], dict[str, tuple[VersionDirectory, str]]]:
    """Sort the version directories that the archive has and the scan did not
    find: on the archive only, or in the clone after all.

    Parameters
    ----------
    top
        The clone.
    relpaths
        Their paths relative to the clone.

    Returns
    -------
    tuple
        The remote-only directories (known to be absent: every component
        above the missing one is a real directory); and ``{relpath:
        (directory, why)}`` of those present in the clone in a form the scan
        does not enter, or whose local state cannot be established (a link, a
        dangling link or an unreadable directory on the way): their local
        content is unknown, so they must be refused.
    """
    remote_only, unscanned = [], {}
    for relpath in sorted(relpaths):
        try:
            vd = VersionDirectory.from_relpath(top, relpath)
        except ValueError as exc:
            lgr.warning("Ignoring the remote directory %s: %s", relpath, exc)
            continue
        try:
            if locate(top, vd.relpath) == ABSENT:
                remote_only.append(vd)
                continue
            why = "a directory the scan skips (hidden)"
        except UnsafePathError as exc:
            why = str(exc)
        unscanned[vd.relpath] = (vd, why)
    return remote_only, unscanned


def _absent(top: Path, relpath: str) -> bool:
    """True only when ``relpath`` is known not to exist (:func:`locate`)."""
    try:
        return locate(top, relpath) == ABSENT
    except UnsafePathError:
        return False
