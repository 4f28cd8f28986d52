"""Pipeline version names and the version-directory walker.

A compute-derivative dandiset is laid out as::

    derivatives/dandiset-{source id}/sub-{subject}/[ses-{session}/]pipeline-{name}/
        version-{version}/[params-..._config-..._attempt-{n}/]{code,logs,output,...}

"Version V" means the directory named exactly ``version-V`` and every directory
whose name starts with ``version-V+`` (hash-suffixed variants such as
``version-v1.1.1+b268fd2`` or ``version-v1.1.1+b268fd2+b268fd2``).  ``version-V.1``
and ``version-V-rc`` are other versions.  This module holds the one implementation
of that rule (:func:`version_name_matches`), used by the local scan here and by the
remote scan over manifest paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
import logging
import os
from pathlib import Path
from typing import Any

lgr = logging.getLogger("dandi.compute")

VERSION_PREFIX = "version-"
DERIVATIVES = "derivatives"
DANDISET_PREFIX = "dandiset-"
_FORBIDDEN = ("/", "\\", "\x00")
#: the longest directory name (bytes) of common file systems (NAME_MAX)
NAME_MAX = 255


class InvalidVersionError(ValueError):
    """A VERSION argument that cannot name a pipeline version."""


def validate_version(version: str) -> str:
    """Check that ``version`` can name a pipeline version and return it unchanged.

    Parameters
    ----------
    version
        The version as given by the user, without the ``version-`` prefix
        (``v1.1.1``, ``v1.1.1+b268fd2``).  Glob characters carry no special meaning.

    Returns
    -------
    str
        ``version``, unchanged.

    Raises
    ------
    InvalidVersionError
        When ``version`` is not a string, is empty, is ``.`` or ``..``, contains
        ``/``, ``\\`` or a NUL byte, or is too long for a directory name
        ``version-VERSION`` (more than 255 bytes).
    """
    if not isinstance(version, str):
        raise InvalidVersionError(
            f"VERSION must be a string, not {type(version).__name__}"
        )
    if not version:
        raise InvalidVersionError("VERSION must not be empty")
    if version in (".", ".."):
        raise InvalidVersionError(f"VERSION must not be {version!r}")
    for char in _FORBIDDEN:
        if char in version:
            shown = {"\x00": "a NUL byte"}.get(char, repr(char))
            raise InvalidVersionError(
                f"VERSION must not contain {shown}: {version[:80]!r}"
            )
    try:
        size = len(os.fsencode(VERSION_PREFIX + version))
    except UnicodeError:  # a lone surrogate: no file name either way
        size = len((VERSION_PREFIX + version).encode("utf-8", "surrogatepass"))
    if size > NAME_MAX:
        raise InvalidVersionError(
            f"VERSION is too long ({len(version)} characters): no directory name "
            f"{VERSION_PREFIX}VERSION can hold it ({size} bytes, at most {NAME_MAX}); "
            f"it starts with {version[:40]!r}"
        )
    return version


def version_name_matches(name: str, version: str) -> bool:
    """Tell whether a directory ``name`` belongs to pipeline version ``version``.

    Parameters
    ----------
    name
        A directory name, e.g. ``version-v1.1.1+b268fd2``.
    version
        A validated version, e.g. ``v1.1.1``.

    Returns
    -------
    bool
        True for ``version-{version}`` and ``version-{version}+...``.
    """
    exact, variant = version_names(version)
    return name == exact or name.startswith(variant)


def version_names(version: str) -> tuple[str, str]:
    """The exact directory name of ``version`` and the prefix of its variants.

    The rule of :func:`version_name_matches` as two strings, for loops that
    test many names: ``name == exact or name.startswith(variant)``.
    """
    exact = VERSION_PREFIX + version
    return exact, exact + "+"


@dataclass(frozen=True)
class VersionDirectory:
    """A pipeline version directory of a compute-derivative dandiset.

    Attributes
    ----------
    path
        The directory on disk (``dandiset_directory / relpath``), or for a remote
        scan the path the directory would have in a clone.
    relpath
        POSIX path relative to the dandiset's top directory.
    dandiset
        The source dandiset id, from ``dandiset-{id}``.
    subject, session, pipeline
        The labels of the ``sub-``, ``ses-`` and ``pipeline-`` levels, without their
        prefix; ``None`` when the level is absent (``session`` often is).
    version
        The full version string of the directory name, suffix included
        (``v1.1.1+b268fd2``).
    """

    path: Path
    relpath: str
    dandiset: str
    subject: str | None
    session: str | None
    pipeline: str | None
    version: str

    @classmethod
    def from_relpath(
        cls, dandiset_directory: str | Path, relpath: str
    ) -> VersionDirectory:
        """Build from a POSIX path relative to the dandiset's top directory.

        Parameters
        ----------
        dandiset_directory
            The dandiset's top directory.
        relpath
            ``derivatives/dandiset-{id}/.../version-{version}``.

        Returns
        -------
        VersionDirectory
        """
        # plain string work: this runs once per directory of large scans
        parts = [p for p in relpath.split("/") if p not in ("", ".")]
        if (
            len(parts) < 3
            or parts[0] != DERIVATIVES
            or not parts[1].startswith(DANDISET_PREFIX)
            or not parts[-1].startswith(VERSION_PREFIX)
            or ".." in parts
        ):
            raise ValueError(f"Not a version directory path: {relpath!r}")
        subject = session = pipeline = None
        for part in parts[2:-1]:
            if part.startswith("sub-") and subject is None:
                subject = part[4:]
            elif part.startswith("ses-") and session is None:
                session = part[4:]
            elif part.startswith("pipeline-") and pipeline is None:
                pipeline = part[9:]
        relpath = "/".join(parts)
        return cls(
            path=Path(os.path.join(dandiset_directory, relpath)),
            relpath=relpath,
            dandiset=parts[1][len(DANDISET_PREFIX) :],
            subject=subject,
            session=session,
            pipeline=pipeline,
            version=parts[-1][len(VERSION_PREFIX) :],
        )

    def as_record(self) -> dict[str, Any]:
        """Return the output record: ``path`` (relative, POSIX) and the labels."""
        return {
            "path": self.relpath,
            "dandiset": self.dandiset,
            "subject": self.subject,
            "session": self.session,
            "pipeline": self.pipeline,
            "version": self.version,
        }


def version_directory_of(asset_path: str, version: str) -> str | None:
    """Return the version directory of version ``version`` that holds an asset.

    The remote counterpart of :func:`iter_version_directories`: the same rule
    applied to a POSIX asset path from a manifest or the API.

    Parameters
    ----------
    asset_path
        An asset path relative to the dandiset, e.g.
        ``derivatives/dandiset-000233/sub-1/pipeline-p/version-v1+abc/code/x.sh``.
    version
        A validated version.

    Returns
    -------
    str or None
        The directory's relative path, or None when the asset is not inside a
        directory of that version below ``derivatives/dandiset-*/``.
    """
    parts = asset_path.split("/")
    if len(parts) < 4 or parts[0] != DERIVATIVES:
        return None
    if not parts[1].startswith(DANDISET_PREFIX):
        return None
    # The first version-* directory on the way down is the version directory;
    # the last part is the asset itself (a file), never a directory.
    for i in range(2, len(parts) - 1):
        if parts[i].startswith(VERSION_PREFIX):
            if version_name_matches(parts[i], version):
                return "/".join(parts[: i + 1])
            return None
    return None


def _log_walk_error(exc: OSError) -> None:
    lgr.warning("Skipping %s: %s", exc.filename, exc.strerror or exc)


def iter_version_directories(
    dandiset_directory: str | Path,
    version: str,
    on_error: Callable[[OSError], None] | None = None,
) -> Iterator[VersionDirectory]:
    """Yield the directories of ``version`` below ``derivatives/dandiset-*/``.

    The walk uses :func:`os.scandir`, never follows symbolic links (a link named
    like a version directory is not a match; a warning says so), never descends
    into any ``version-*`` directory (its content goes with it) and skips hidden
    entries.
    The order is the walk's; :func:`scan_version_directories` sorts.

    Parameters
    ----------
    dandiset_directory
        The top directory of a local clone of the dandiset.
    version
        The pipeline version, e.g. ``v1.1.1``; validated by :func:`validate_version`.
    on_error
        Called with the :class:`OSError` of a directory that cannot be read (it is
        skipped); by default a warning is logged.

    Yields
    ------
    VersionDirectory

    Raises
    ------
    InvalidVersionError
        For an invalid ``version``.
    FileNotFoundError, NotADirectoryError
        When ``dandiset_directory`` is missing or not a directory.
    """
    top = os.fspath(dandiset_directory)
    for relpath in _walk(top, version, on_error):
        yield VersionDirectory.from_relpath(top, relpath)


def _walk(
    dandiset_directory: str,
    version: str,
    on_error: Callable[[OSError], None] | None,
) -> Iterator[str]:
    """Yield the relative POSIX paths of the directories of ``version``."""
    validate_version(version)
    top = Path(dandiset_directory)
    if not top.is_dir():
        if top.exists() or top.is_symlink():
            raise NotADirectoryError(f"Not a directory: {str(top)!r}")
        raise FileNotFoundError(f"No such dandiset directory: {str(top)!r}")
    on_error = on_error or _log_walk_error
    lgr.debug("Scanning %s for directories of version %r", top, version)
    # strings, not Path: Path("./x") drops the "./" that os.scandir keeps
    prefix = os.path.join(dandiset_directory, "")
    derivatives = prefix + DERIVATIVES
    if os.path.islink(derivatives):
        lgr.warning(
            "%s is a symbolic link: not followed, so no version directories",
            derivatives,
        )
        return
    if not os.path.isdir(derivatives):
        lgr.info("%s has no %s/ directory: no version directories", top, DERIVATIVES)
        return
    start = len(prefix)
    exact, variant = version_names(version)
    stack: list[str] = []
    try:
        with os.scandir(derivatives) as it:
            for entry in it:
                if entry.name.startswith(DANDISET_PREFIX) and entry.is_dir(
                    follow_symlinks=False
                ):
                    stack.append(entry.path)
    except OSError as exc:
        on_error(exc)
        return
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as it:
                # d_type only: no stat call, and links are never directories here
                entries = []
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        if e.name[0] != ".":
                            entries.append((e.name, e.path))
                    elif (
                        e.name.startswith(VERSION_PREFIX)
                        and e.is_symlink()
                        and version_name_matches(e.name, version)
                    ):
                        lgr.warning(
                            "Not following the symbolic link %s: named like a "
                            "directory of version %s, it is not one",
                            e.path,
                            version,
                        )
        except OSError as exc:
            on_error(exc)
            continue
        for name, path in entries:
            if name.startswith(VERSION_PREFIX):
                if name == exact or name.startswith(variant):
                    yield path[start:]
                # never descend into a version directory
                continue
            stack.append(path)


def scan_version_directories(
    dandiset_directory: str | Path, version: str
) -> list[Path]:
    """Return the sorted paths of the directories of pipeline version ``version``.

    Seed-compatible: every directory named ``version-{version}`` or starting with
    ``version-{version}+`` at any depth below ``dandiset_directory/derivatives/
    dandiset-*/``.  See :func:`iter_version_directories` for the walk's rules.

    Parameters
    ----------
    dandiset_directory
        The top directory of a local clone of the dandiset.
    version
        The pipeline version, e.g. ``v1.1.1``.

    Returns
    -------
    list of pathlib.Path
        Sorted; empty when there is no ``derivatives/`` directory.
    """
    top = os.fspath(dandiset_directory)
    found = list(_walk(top, version, None))
    # the order of Path objects below one top directory: by path components
    found.sort(key=lambda relpath: relpath.split("/"))
    return [Path(os.path.join(top, relpath)) for relpath in found]
