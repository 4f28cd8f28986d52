"""The layout rule of compute-derivative dandisets: version names and directories.

A compute-derivative dandiset is laid out as::

    derivatives/dandiset-{source id}/sub-{subject}/[ses-{session}/]pipeline-{name}/
        version-{version}/[params-..._config-..._attempt-{n}/]{code,logs,output,...}

"Version V" means the directory named exactly ``version-V`` and every directory
whose name starts with ``version-V+`` (hash-suffixed variants such as
``version-v1.1.1+b268fd2`` or ``version-v1.1.1+b268fd2+b268fd2``).  ``version-V.1``
and ``version-V-rc`` are other versions.  This module holds the one implementation
of that rule (:func:`version_names`) and of the shape of a version directory's path
(:func:`version_directory_parts`), used by the local walk, the remote scan over asset
paths and the deletion's checks before it removes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
from typing import Any

from ..errors import InvalidVersionError

VERSION_PREFIX = "version-"
DERIVATIVES = "derivatives"
DANDISET_PREFIX = "dandiset-"
_FORBIDDEN = ("/", "\\", "\x00")
#: the longest directory name (bytes) of common file systems (NAME_MAX)
NAME_MAX = 255


def prefix_hint(version: str) -> str:
    """A hint for a VERSION written with its directory's ``version-`` prefix.

    Returns
    -------
    str
        `` (VERSION is given without 'version-': did you mean 'v1.1.1'?)``, or
        "" when ``version`` does not start with ``version-``.
    """
    if not version.startswith(VERSION_PREFIX) or version == VERSION_PREFIX:
        return ""
    bare = version[len(VERSION_PREFIX) :]
    return f" (VERSION is given without {VERSION_PREFIX!r}: did you mean {bare!r}?)"


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
        parts = version_directory_parts(
            "/".join(p for p in relpath.split("/") if p not in ("", "."))
        )
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


def version_directory_parts(relpath: str) -> list[str]:
    """Check the shape of a version directory's path and return its parts.

    Parameters
    ----------
    relpath
        A POSIX path relative to the dandiset's top directory.

    Returns
    -------
    list of str
        ``["derivatives", "dandiset-{id}", ..., "version-{version}"]``.

    Raises
    ------
    ValueError
        When the path is not ``derivatives/dandiset-*/.../version-*`` or has an
        empty, ``.`` or ``..`` part.
    """
    parts = relpath.split("/")
    if (
        len(parts) < 3
        or parts[0] != DERIVATIVES
        or not parts[1].startswith(DANDISET_PREFIX)
        or not parts[-1].startswith(VERSION_PREFIX)
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise ValueError(f"Not a version directory path: {relpath!r}")
    return parts


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
