"""What a valid asset record of a manifest is: the checks, one record at a time.

A record must be an object with a relative, normalised ``path``, a ``contentSize``
in bytes (an int from 0 to 2**63 - 1, or a string of digits), an ISO 8601
``dateModified`` and a blob or Zarr URL in ``contentUrl``; the failure names the
record (numbered from 1) and, when known, its path.  Where this is stricter than
``dandi_compute_code.dandiset``, the API documentation lists each difference.
"""

from __future__ import annotations

from datetime import datetime

from ..errors import ManifestFormatError
from .records import Fields

#: the largest ``contentSize`` accepted (the largest file size of POSIX's off_t)
MAX_SIZE = (1 << 63) - 1
#: a string of more digits is too large, whatever its leading zeros
MAX_SIZE_DIGITS = 64


def _path_problem(path: object) -> str | None:
    if type(path) is not str:
        return f"'path' is {_json_type(path)}, not a string"
    if not path:
        return "'path' is empty"
    if path[0] == "/" or "\x00" in path:
        return f"'path' is not a relative POSIX path: {path!r}"
    # "", "." and ".." components show as "//", a "/" at the end, or a "." first
    if ("//" in path or path[-1] == "/" or path[0] == "." or "/." in path) and any(
        part in ("", ".", "..") for part in path.split("/")
    ):
        return f"'path' has an empty, '.' or '..' component: {path!r}"
    return None


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number"


def content_id_of(content_urls: object) -> str | None:
    """Return the blob or zarr id of an asset record's ``contentUrl``.

    The rule of ``dandi_compute_code.dandiset``, exactly: the first string of
    the list that contains ``/blobs/`` or ``/zarr/`` gives
    ``url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]`` (a fragment stays).

    Parameters
    ----------
    content_urls
        The record's ``contentUrl`` value (a list of URLs).

    Returns
    -------
    str or None
        The id; None when no URL contains ``/blobs/`` or ``/zarr/``, or the
        first that does gives an empty id.
    """
    if type(content_urls) is not list:
        return None
    for url in content_urls:
        if type(url) is str and ("/blobs/" in url or "/zarr/" in url):
            return url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or None
    return None


def _size_of(record: dict, number: int | None, source: str, path: str) -> int:
    """The record's ``contentSize`` as an int (a string of digits is replaced
    by its int in ``record``, as the original does)."""
    size = record.get("contentSize")
    if type(size) is str and size.isdigit():
        if len(size) > MAX_SIZE_DIGITS:  # before int(): its cost grows fast
            problem = f"'contentSize' is too large: {size[:30]!r}..."
            raise ManifestFormatError(source, problem, number, path)
        try:
            size = record["contentSize"] = int(size)
        except ValueError:  # digits int() refuses, e.g. superscripts
            problem = f"'contentSize' is not a size in bytes: {size!r}"
            raise ManifestFormatError(source, problem, number, path) from None
    if type(size) is int and 0 <= size <= MAX_SIZE:
        return size
    if "contentSize" not in record:
        problem = "'contentSize' is missing"
    elif type(size) is not int:
        problem = f"'contentSize' is not a size in bytes: {str(size)[:100]!r}"
    elif size < 0:
        problem = f"'contentSize' is negative: {size}"
    else:
        problem = f"'contentSize' is larger than {MAX_SIZE} bytes"
    raise ManifestFormatError(source, problem, number, path)


def check_record(record: object, number: int | None, source: str) -> Fields:
    """Check one asset record; return its path, date, size and content id.

    Parameters
    ----------
    record
        One element of the manifest's array.
    number
        Its number in the manifest (from 1), for the error message.
    source
        Where the manifest came from, for the error message.

    Returns
    -------
    Fields
        ``(path, date_modified, content_size, content_id)``; a ``contentSize``
        written as a string of digits is returned as an int, and replaced by it
        in ``record`` (as ``dandi_compute_code.dandiset`` does).

    Raises
    ------
    ManifestFormatError
        When the record is not an object, or its ``path``, ``contentSize`` (an int
        or a string of digits), ``dateModified`` (ISO 8601) or blob/zarr
        ``contentUrl`` is missing or invalid.
    """
    if type(record) is not dict:
        raise ManifestFormatError(
            source, f"{_json_type(record)}, not an object", number
        )
    path = record.get("path")
    problem = _path_problem(path) if "path" in record else "'path' is missing"
    if problem:
        raise ManifestFormatError(source, problem, number)
    size = _size_of(record, number, source, path)  # type: ignore[arg-type]
    date = record.get("dateModified")
    try:
        _fromisoformat(date)
        if "\x00" in date:  # the index separates its fields with NUL
            raise ValueError(date)
    except (TypeError, ValueError):
        problem = (
            "'dateModified' is missing"
            if "dateModified" not in record
            else f"'dateModified' is not an ISO 8601 date: {date!r}"
        )
        raise ManifestFormatError(source, problem, number, path) from None
    content_id = content_id_of(record.get("contentUrl"))
    if content_id is None or "\x00" in content_id:
        problem = (
            "no blob or zarr URL in 'contentUrl': "
            if content_id is None
            else "a NUL character in the content id of 'contentUrl': "
        )
        raise ManifestFormatError(
            source,
            problem + f"{str(record.get('contentUrl', '(missing)'))[:300]}",
            number,
            path,
        )
    return path, date, size, content_id  # type: ignore[return-value]


_fromisoformat = datetime.fromisoformat
