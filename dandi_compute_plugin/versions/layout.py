"""The layout rule of compute-derivative dandisets: version names and directories.

A compute-derivative dandiset is laid out in two forms, side by side::

    derivatives/dandiset-{source id}/sub-{subject}/[ses-{session}/]pipeline-{name}/
        version-{version}/[params-..._config-..._attempt-{n}/]{code,logs,...}   nested
        version-{version}_codebase-{c}_params-{p}_config-{k}_attempt-{n}/{...}  flat

A *version directory* is either a nested ``version-{version}`` directory or a flat
*job capsule*, whose name carries its version between ``version-`` and
``_codebase-``.  "Version V" means every version directory whose version is exactly
``V`` or starts with ``V+`` (hash-suffixed variants such as ``v1.1.1+b268fd2`` or
``v1.1.1+b268fd2+b268fd2``).  ``V.1`` and ``V-rc`` are other versions.  A name that
starts with ``version-`` but fits neither form (a capsule name with a part missing)
is never selected.  This module holds the one implementation of that rule
(:func:`parse_version_name`, :func:`version_name_matches`) and of the shape of a
version directory's path (:func:`version_directory_parts`), used by the local walk,
the remote scan over asset paths and the deletion's checks before it removes
anything.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import re
from typing import Any, NamedTuple

from ..errors import InvalidVersionError

VERSION_PREFIX = "version-"
DERIVATIVES = "derivatives"
DANDISET_PREFIX = "dandiset-"
#: what separates a flat capsule's version from the rest of its name
CODEBASE_SEPARATOR = "_codebase-"
_FORBIDDEN = ("/", "\\", "\x00")
_FLAT_NAME = re.compile(
    # the version is the text before the *first* "_codebase-"
    r"version-(?P<version>(?:(?!_codebase-).)+)_codebase-(?P<codebase>[^_/]+)"
    r"_params-(?P<params>[^_/]+)"
    r"_config-(?P<config>[^_/]+)_attempt-(?P<attempt>[0-9]+)"
)
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


class VersionName(NamedTuple):
    """What the name of a version directory says.

    Attributes
    ----------
    version
        The full version, suffix included (``v1.1.1+b268fd2``).
    layout
        ``"nested"`` (``version-{version}``) or ``"flat"`` (a job capsule).
    codebase, params, config, attempt
        The other parts of a flat capsule's name; ``None`` for a nested directory.
    """

    version: str
    layout: str
    codebase: str | None = None
    params: str | None = None
    config: str | None = None
    attempt: int | None = None


def parse_version_name(name: str) -> VersionName | None:
    """Read a directory name of either form of a version directory.

    Parameters
    ----------
    name
        A directory name, e.g. ``version-v1.1.1+b268fd2`` or
        ``version-v1.1.1_codebase-v0.3.0_params-98fd947_config-6568dda_attempt-2``.

    Returns
    -------
    VersionName or None
        None when ``name`` does not start with ``version-`` or fits neither form
        (an empty version, or a capsule name with a part missing).
    """
    if not name.startswith(VERSION_PREFIX) or name == VERSION_PREFIX:
        return None
    if CODEBASE_SEPARATOR not in name:
        return VersionName(name[len(VERSION_PREFIX) :], "nested")
    flat = _FLAT_NAME.fullmatch(name)
    if flat is None:
        return None
    return VersionName(
        flat["version"],
        "flat",
        flat["codebase"],
        flat["params"],
        flat["config"],
        int(flat["attempt"]),
    )


def fits_a_form(name: str) -> bool:
    """Tell whether a ``version-*`` directory name fits the nested or flat form.

    :func:`parse_version_name` without building its result: the walk asks this
    of every ``version-*`` directory of a clone.
    """
    if CODEBASE_SEPARATOR not in name:
        return name != VERSION_PREFIX and name.startswith(VERSION_PREFIX)
    return _FLAT_NAME.fullmatch(name) is not None


def version_name_matches(name: str, version: str) -> bool:
    """Tell whether a directory ``name`` belongs to pipeline version ``version``.

    Parameters
    ----------
    name
        A directory name, e.g. ``version-v1.1.1+b268fd2`` or a flat capsule
        ``version-v1.1.1_codebase-v0.3.0_params-..._config-..._attempt-1``.
    version
        A validated version, e.g. ``v1.1.1``.

    Returns
    -------
    bool
        True when the name fits a form and its version is ``version`` or starts
        with ``version+``.
    """
    exact, variant, capsule = version_names(version)
    if name == exact:
        return True
    return (name.startswith(variant) or name.startswith(capsule)) and fits_a_form(name)


def version_names(version: str) -> tuple[str, str, str]:
    """The names that may belong to ``version``: the nested directory's exact
    name, the prefix of its variants and the prefix of its flat capsules.

    For loops that test many names: a name that starts with none of them (and
    is not the exact one) is of another version; one that does still has to fit
    a form (:func:`version_name_matches`).
    """
    exact = VERSION_PREFIX + version
    return exact, exact + "+", exact + CODEBASE_SEPARATOR


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
    layout
        ``"nested"`` (``version-{version}``) or ``"flat"`` (a job capsule).
    capsule
        For a flat capsule, what its name says (:class:`VersionName`: codebase,
        params, config, attempt); ``None`` for a nested directory.
    """

    path: Path
    relpath: str
    dandiset: str
    subject: str | None
    session: str | None
    pipeline: str | None
    version: str
    layout: str = "nested"
    capsule: VersionName | None = None

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
        name = parse_version_name(parts[-1])
        if name is None:
            raise ValueError(
                f"Not a version directory: {parts[-1]!r} fits neither the nested "
                "nor the flat form"
            )
        return cls(
            path=Path(os.path.join(dandiset_directory, relpath)),
            relpath=relpath,
            dandiset=parts[1][len(DANDISET_PREFIX) :],
            subject=subject,
            session=session,
            pipeline=pipeline,
            version=name.version,
            layout=name.layout,
            capsule=name if name.layout == "flat" else None,
        )

    def as_record(self) -> dict[str, Any]:
        """Return the output record: ``path`` (relative, POSIX), the labels and
        ``layout``; a flat capsule's also ``codebase``, ``params``, ``config`` and
        ``attempt``."""
        record = {
            "path": self.relpath,
            "dandiset": self.dandiset,
            "subject": self.subject,
            "session": self.session,
            "pipeline": self.pipeline,
            "version": self.version,
            "layout": self.layout,
        }
        if self.capsule is not None:
            record["codebase"] = self.capsule.codebase
            record["params"] = self.capsule.params
            record["config"] = self.capsule.config
            record["attempt"] = self.capsule.attempt
        return record


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
    relpath = first_version_directory(asset_path)
    if relpath is None:
        return None
    if version_name_matches(relpath[relpath.rindex("/") + 1 :], version):
        return relpath
    return None


def first_version_directory(asset_path: str) -> str | None:
    """Return the ``version-*`` directory, of any version, that holds an asset.

    The first ``version-*`` directory on the way down below
    ``derivatives/dandiset-*/`` (the walk never descends into one); None when
    there is none.  Its name may fit neither form (:func:`fits_a_form`).
    """
    parts = asset_path.split("/")
    if len(parts) < 4 or parts[0] != DERIVATIVES:
        return None
    if not parts[1].startswith(DANDISET_PREFIX):
        return None
    # the last part is the asset itself (a file), never a directory
    for i in range(2, len(parts) - 1):
        if parts[i].startswith(VERSION_PREFIX):
            return "/".join(parts[: i + 1])
    return None
