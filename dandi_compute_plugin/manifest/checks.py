"""What a valid asset record of a manifest is: the checks, one record at a time.

A record must be an object with a relative, normalised ``path``, a ``contentSize``
in bytes (an int, or a string of digits), an ISO 8601 ``dateModified`` and a blob or
Zarr URL in ``contentUrl``; the failure names the record (numbered from 1) and,
when known, its path.
"""

from __future__ import annotations

from datetime import datetime

from ..errors import ManifestFormatError
from .records import Fields


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

    Parameters
    ----------
    content_urls
        The record's ``contentUrl`` value (a list of URLs).

    Returns
    -------
    str or None
        The last path component (query and fragment dropped) of the first URL that
        contains ``/blobs/`` or ``/zarr/``; None when there is none.
    """
    if type(content_urls) is not list:
        return None
    for url in content_urls:
        if type(url) is str and ("/blobs/" in url or "/zarr/" in url):
            if "?" in url or "#" in url:
                url = url.split("?", 1)[0].split("#", 1)[0]
            last = url.rstrip("/").rpartition("/")[2]
            if last and last != "blobs" and last != "zarr" and "\x00" not in last:
                return last
    return None


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
    size = record.get("contentSize")
    if type(size) is not int or size < 0:
        if type(size) is str and size.isascii() and size.isdigit():
            # as the original does: the record holds the int too
            size = record["contentSize"] = int(size)
        else:
            problem = (
                "'contentSize' is missing"
                if "contentSize" not in record
                else f"'contentSize' is not a size in bytes: {size!r}"
                if type(size) is not int
                else f"'contentSize' is negative: {size}"
            )
            raise ManifestFormatError(source, problem, number, path)
    date = record.get("dateModified")
    try:
        _fromisoformat(date)
    except (TypeError, ValueError):
        problem = (
            "'dateModified' is missing"
            if "dateModified" not in record
            else f"'dateModified' is not an ISO 8601 date: {date!r}"
        )
        raise ManifestFormatError(source, problem, number, path) from None
    content_id = content_id_of(record.get("contentUrl"))
    if content_id is None:
        raise ManifestFormatError(
            source,
            "no blob or zarr URL in 'contentUrl': "
            f"{str(record.get('contentUrl', '(missing)'))[:300]}",
            number,
            path,
        )
    return path, date, size, content_id  # type: ignore[return-value]


_fromisoformat = datetime.fromisoformat
