"""Where the targets of a deletion come from, besides the scan of the clone.

- the hooks' ``extra_targets``, validated like scanned directories;
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

from ..plugins import PluginHooks
from ..versions import VersionDirectory, version_name_matches
from .local import check_removable

lgr = logging.getLogger("dandi.compute")


def dandiset_id_of(top: Path) -> str:
    from dandi.dandiset import Dandiset

    try:
        identifier = Dandiset(top).identifier
    except Exception as exc:
        raise ValueError(f"Cannot read the dandiset id of {top}: {exc}") from None
    if not identifier:
        raise ValueError(f"{top}/dandiset.yaml names no dandiset identifier")
    return identifier


def hook_added_directories(
    top: Path, version: str, hooks: PluginHooks
) -> list[VersionDirectory]:
    """Validate hook-added targets exactly like scanned ones."""
    extra = []
    for path in hooks.extra_targets(top, version):
        rel = Path(os.path.relpath(os.path.abspath(path), os.path.abspath(top)))
        relpath = rel.as_posix()
        try:
            check_removable(top, relpath)
            vd = VersionDirectory.from_relpath(top, relpath)
        except (OSError, ValueError, RuntimeError) as exc:
            lgr.warning("Ignoring the added target %s: %s", path, exc)
            continue
        if not version_name_matches(Path(relpath).name, version):
            lgr.warning("Ignoring the added target %s: not version %s", path, version)
            continue
        extra.append(vd)
    return extra


def journaled_and_gone(
    top: Path, version: str, found: dict[str, VersionDirectory], pending: set[str]
) -> list[VersionDirectory]:
    """Unfinished targets of the journal, of ``version``, gone locally.

    The scan cannot find them any more, yet the journal holds them (and counts
    their assets as uploaded) until a run finishes them.  A journaled directory
    that still exists in some form (say, a symbolic link now) is left alone.
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
        if _absent(vd.path):
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
) -> tuple[list[VersionDirectory], list[VersionDirectory]]:
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
    tuple of (list of VersionDirectory, list of VersionDirectory)
        The remote-only directories; and those present in the clone in a form
        the scan does not enter (a symbolic link, or below a directory it cannot
        read): their local content is unknown, so they must be refused.
    """
    remote_only, unscanned = [], []
    for relpath in sorted(relpaths):
        try:
            vd = VersionDirectory.from_relpath(top, relpath)
        except ValueError as exc:
            lgr.warning("Ignoring the remote directory %s: %s", relpath, exc)
            continue
        (remote_only if _absent(vd.path) else unscanned).append(vd)
    return remote_only, unscanned


def _absent(path: Path) -> bool:
    """True only when ``path`` is known not to exist: a directory that cannot
    be searched hides what is below it, which then counts as present."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:  # permission denied, and the like
        return False
    return False
