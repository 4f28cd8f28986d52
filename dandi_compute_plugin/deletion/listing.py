"""What the archive lists below a path, checked before anything is built from it.

Nothing the server sends goes into a URL or a path unchecked: an asset id must be
a UUID (blob and Zarr ids too), an asset path must be normalised, relative and
below the directory's prefix, a size a whole number.  A listing that breaks these
rules fails its directory -- it is never "mostly" used.  The server's ``path``
filter is a case-insensitive prefix: assets whose path only matches in another
case belong to another directory and are left out.
"""

from __future__ import annotations

from collections.abc import Iterable
import logging
import re
from typing import Any

from ..errors import ArchiveError
from ..versions import version_directory_of
from .model import PlannedAsset
from .secrets import redact

lgr = logging.getLogger("dandi.compute")

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DIGEST = re.compile(r"[0-9a-f]{32}-[0-9]+|[0-9a-f]{32}(-[0-9]+--[0-9]+)?")
ETAG_KEY = "dandi:dandi-etag"
ZARR_KEY = "dandi:dandi-zarr-checksum"


def _quoted(value: object, limit: int = 80) -> str:
    """``value`` for a message: the API key redacted *before* it is cut (a
    server may echo the key into any field)."""
    return repr(redact(str(value))[:limit])


def is_uuid(value: object) -> bool:
    """Whether ``value`` is a UUID in the archive's spelling (lower-case hex)."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def path_problem(path: object, prefix: str) -> str | None:
    """Why ``path`` is not a safe asset path below ``prefix``, or None."""
    if not isinstance(path, str):
        return f"an asset path that is not a string: {path!r}"
    parts = path.split("/")
    if not path.startswith(prefix) or any(p in ("", ".", "..") for p in parts):
        return f"an asset path that is not normalised below {prefix}: {path!r}"
    if "\x00" in path or "\\" in path:
        return f"an asset path with a NUL byte or a backslash: {path!r}"
    return None


def checked_assets(
    results: Iterable[dict[str, Any]], prefix: str
) -> list[PlannedAsset]:
    """Turn listing results into planned assets, checking every one.

    Parameters
    ----------
    results
        The ``results`` of the archive's asset listing (with or without
        ``metadata``).
    prefix
        The directory's path with a trailing ``/``.

    Returns
    -------
    list of PlannedAsset
        Sorted by path; assets whose path matches ``prefix`` in another case
        only are left out.

    Raises
    ------
    ArchiveError
        For the first result that breaks a rule, naming it.
    """
    found = []
    for data in results:
        path = data.get("path") if isinstance(data, dict) else None
        other_case = (
            isinstance(path, str)
            and not path.startswith(prefix)
            and path.lower().startswith(prefix.lower())
        )
        if other_case:
            lgr.debug("Not under %s (case differs): %s", prefix, path)
            continue
        found.append(_checked(data, prefix))
    return sorted(found, key=lambda a: a.path)


def _checked(data: Any, prefix: str) -> PlannedAsset:
    if not isinstance(data, dict):
        raise ArchiveError(
            f"the server listed something that is not an asset: {_quoted(data)}"
        )
    problem = path_problem(data.get("path"), prefix)
    asset_id, size = data.get("asset_id"), data.get("size")
    if problem is None and not is_uuid(asset_id):
        problem = f"an asset id that is not a UUID: {_quoted(asset_id)}"
    for key in ("blob", "zarr"):
        if problem is None and data.get(key) is not None and not is_uuid(data[key]):
            problem = f"a {key} id that is not a UUID: {_quoted(data[key])}"
    if problem is None and (type(size) is not int or size < 0):
        problem = f"an asset size that is not a size: {_quoted(size)}"
    if problem is not None:
        raise ArchiveError(f"the server listed {problem}; nothing of it is used")
    zarr = data.get("zarr") is not None
    return PlannedAsset(data["path"], size, asset_id, _digest(data, zarr), zarr)


def _digest(data: dict[str, Any], zarr: bool) -> str | None:
    metadata = data.get("metadata")
    digests = metadata.get("digest") if isinstance(metadata, dict) else None
    value = (
        digests.get(ZARR_KEY if zarr else ETAG_KEY)
        if isinstance(digests, dict)
        else None
    )
    if isinstance(value, str) and _DIGEST.fullmatch(value):
        return value
    return None


def by_version_directory(results: Iterable[Any], version: str) -> dict[str, list[Any]]:
    """Sort the results of a listing of a version's assets by version directory.

    The server's ``glob`` filter is looser than the layout rule (it ignores case,
    and ``*`` matches ``/``): what is not inside a directory of ``version`` by the
    exact rule is left out.  The results are not checked here: each directory's
    are checked by :func:`checked_assets`, so that a bad one fails only its own
    directory.

    Raises
    ------
    ArchiveError
        For a result that is not an asset with a path at all.
    """
    groups: dict[str, list[Any]] = {}
    for data in results:
        path = data.get("path") if isinstance(data, dict) else None
        if not isinstance(path, str):
            raise ArchiveError(
                f"the server listed something that is not an asset: {_quoted(data)}"
            )
        relpath = version_directory_of(path, version)
        if relpath is None:
            lgr.debug("Not in a directory of version %s: %s", version, path)
            continue
        groups.setdefault(relpath, []).append(data)
    return groups
