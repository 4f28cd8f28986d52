"""The cache's entries as a whole: listing them, choosing some, removing them.

``dandi compute cache info`` and ``dandi compute cache clear`` are these functions.
Listing only reads (``meta.json`` and the sizes of the files); removing takes each
entry's lock (:mod:`.files`), so that a run that is using the entry never
sees it half gone, and a download in progress keeps its temporaries.  Every
directory is opened as :mod:`.dirs` does: an entry that is a link, another
user's or writable by others is listed as ``unsafe`` and never removed; one
damaged entry is listed as such and never keeps the others from being listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
import json
import os
from pathlib import Path
import re
import stat
from typing import Any

from ...defaults import CACHE_CLEAR_LOCK_TIMEOUT, manifest_url_template
from ..location import MANIFEST_URL_TEMPLATES, is_url
from .dirs import EntryDirectory, UnsafeCacheError, open_entry_directory
from .entry import (
    ENTRIES_NAME,
    MAX_META_BYTES,
    META_NAME,
    cache_directory,
    entry_key,
)
from .files import TMP_SUFFIX, entry_lock, is_cache_file, sweep
from .meta import PARTS, meta_problem

#: the fields of :meth:`CacheEntryInfo.as_record`, in order
ENTRY_FIELDS = (
    "dandiset_id",
    "version",
    "status",
    "size",
    "records",
    "cached",
    "last_used",
    "etag",
    "last_modified",
    "url",
    "directory",
)


@dataclass(frozen=True)
class CacheEntryInfo:
    """What :func:`list_entries` tells of one cache entry.

    Attributes
    ----------
    directory
        The entry's directory.
    status
        ``ok``; ``outdated`` (written by another version of the plugin: fetched
        again when next used); ``damaged`` (its description or files are not
        sound: fetched again when next used); ``incomplete`` (no description:
        the temporaries of a download in progress, or leftovers); ``unsafe``
        (a link, another user's or writable by others: never used or removed).
    url
        The manifest's URL, when known.
    dandiset_id, version
        The dandiset version whose manifest the URL is, when it is the manifest
        location of a known instance or of ``$DANDI_COMPUTE_MANIFEST_URL``.
    etag, last_modified
        The server's validators of the cached copy.
    size
        The bytes of the entry's files.
    records
        The number of records in the cached manifest.
    cached, last_used
        When the entry was written, and last answered a request (POSIX times).
    """

    directory: Path
    status: str
    url: str | None = None
    dandiset_id: str | None = None
    version: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    size: int = 0
    records: int | None = None
    cached: float | None = None
    last_used: float | None = None

    def as_record(self) -> dict[str, Any]:
        """The fields of :data:`ENTRY_FIELDS`, JSON-ready (local ISO 8601 times)."""
        record = {name: getattr(self, name) for name in ENTRY_FIELDS}
        record["directory"] = str(self.directory)
        for name in ("cached", "last_used"):
            if record[name] is not None:
                try:
                    when = datetime.fromtimestamp(record[name]).astimezone()
                except (ValueError, OverflowError, OSError):
                    record[name] = None  # a time no clock gives
                else:
                    record[name] = when.isoformat(timespec="seconds")
        return record


def _template_pattern(template: str) -> re.Pattern[str] | None:
    """A regular expression matching the URLs ``template`` makes, or None."""
    from dandi.consts import DANDISET_ID_REGEX, VERSION_REGEX

    groups = {"dandiset_id": DANDISET_ID_REGEX, "version": VERSION_REGEX}
    pattern, seen = [], set()
    for part in re.split(r"(\{dandiset_id\}|\{version\})", template):
        name = part[1:-1]
        if name in groups:
            pattern.append(
                f"(?P={name})" if name in seen else f"(?P<{name}>{groups[name]})"
            )
            seen.add(name)
        elif "{" in part.replace("{{", "") or "}" in part.replace("}}", ""):
            return None  # another field: no URL of it can be read back
        else:
            pattern.append(re.escape(part.replace("{{", "{").replace("}}", "}")))
    if "dandiset_id" not in seen:
        return None
    return re.compile("".join(pattern))


def manifest_dandiset(url: str) -> tuple[str, str | None] | None:
    """The (dandiset id, version or None) whose manifest ``url`` is, or None.

    The URL is matched against the manifest locations of the known instances
    and ``$DANDI_COMPUTE_MANIFEST_URL``.
    """
    templates = list(MANIFEST_URL_TEMPLATES.values())
    if (given := manifest_url_template()) is not None:
        templates.insert(0, given)
    for template in templates:
        pattern = _template_pattern(template)
        found = pattern.fullmatch(url) if pattern is not None else None
        if found is not None:
            return found["dandiset_id"], found.groupdict().get("version")
    return None


def _text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) else None


def entry_info_of(url: str, root: Path | None = None) -> CacheEntryInfo | None:
    """Describe the cache entry of ``url``; None when there is none, or the
    cache cannot be opened safely."""
    root = root if root is not None else cache_directory()
    try:
        with open_entry_directory(
            root, (ENTRIES_NAME, entry_key(url)), create=False
        ) as directory:
            return entry_info(directory)
    except (OSError, UnsafeCacheError):
        return None


def _files_sound(directory: EntryDirectory, meta: dict[str, Any]) -> bool:
    """True when the files ``meta`` names are there with their sizes (no
    digests: that is the next use's job)."""
    for part in PARTS:
        try:
            st = directory.lstat(meta[part]["file"])
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != meta[part]["size"]:
            return False
    return True


def _meta_of(directory: EntryDirectory) -> tuple[Any, float] | None:
    """The parsed ``meta.json`` (None when it is not JSON) and its mtime, or
    None when there is none."""
    try:
        with directory.open_read(META_NAME) as f:
            raw = f.read(MAX_META_BYTES + 1)
            last_used = os.fstat(f.fileno()).st_mtime
    except FileNotFoundError:
        return None
    try:
        meta = json.loads(raw) if len(raw) <= MAX_META_BYTES else None
    except (ValueError, RecursionError):
        meta = None
    return meta, last_used


def _size(directory: EntryDirectory) -> int:
    size = 0
    for name in directory.names():
        try:
            st = directory.lstat(name)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            size += st.st_size
    return size


def entry_info(directory: EntryDirectory) -> CacheEntryInfo | None:
    """Describe the entry open in ``directory``; None when it holds none of the
    cache's files (a cleared entry)."""
    path = directory.path
    if not any(is_cache_file(name) for name in directory.names()):
        return None
    size = _size(directory)
    try:
        found = _meta_of(directory)
    except UnsafeCacheError:
        return CacheEntryInfo(path, "unsafe", size=size)
    except OSError:
        return CacheEntryInfo(path, "damaged", size=size)
    if found is None:
        return CacheEntryInfo(path, "incomplete", size=size)
    meta, last_used = found
    problem = meta_problem(meta)
    url = meta.get("url") if isinstance(meta, dict) else None
    url = url if isinstance(url, str) else None
    if problem is not None:
        status = "outdated" if problem.startswith("format") else "damaged"
    elif url is None or path.name != entry_key(url):
        status = "damaged"
    else:
        status = "ok" if _files_sound(directory, meta) else "damaged"
    if status != "ok":  # nothing else of it is believed
        return CacheEntryInfo(path, status, url=url, size=size, last_used=last_used)
    recorded = meta.get("dandiset")
    dandiset = tuple(recorded) if recorded else manifest_dandiset(url)
    return CacheEntryInfo(
        path,
        status,
        url=url,
        dandiset_id=dandiset[0] if dandiset else None,
        version=dandiset[1] if dandiset else None,
        etag=meta["etag"],
        last_modified=meta["last_modified"],
        size=size,
        records=meta["index"]["count"],
        cached=meta["written"],
        last_used=last_used,
    )


def _describe(top: EntryDirectory, name: str) -> CacheEntryInfo | None:
    """Describe the entry ``name`` of ``top``; never raises."""
    try:
        with top.subdirectory(name, create=False) as directory:
            return entry_info(directory)
    except UnsafeCacheError:
        return CacheEntryInfo(top.path / name, "unsafe")
    except Exception:  # noqa: BLE001 - one entry never hides the others
        return CacheEntryInfo(top.path / name, "damaged")


def list_entries(root: Path | None = None) -> list[CacheEntryInfo]:
    """Describe every entry of the cache, by URL.

    Parameters
    ----------
    root
        The cache directory (default: :func:`~.entry.cache_directory`).

    Returns
    -------
    list of CacheEntryInfo
        Sorted by URL; entries without one last.

    Raises
    ------
    UnsafeCacheError
        When the cache's directory or its ``manifests`` is not private.
    """
    root = root if root is not None else cache_directory()
    try:
        top = open_entry_directory(root, (ENTRIES_NAME,), create=False)
    except FileNotFoundError:
        return []
    with top:
        infos = [
            i
            for name in top.names()
            if re.fullmatch(r"[0-9a-f]{32}", name) and (i := _describe(top, name))
        ]
    return sorted(infos, key=lambda i: (i.url is None, i.url or "", i.directory.name))


def select_entries(
    names: Iterable[str], entries: list[CacheEntryInfo]
) -> tuple[list[CacheEntryInfo], list[str]]:
    """Choose the ``entries`` that ``names`` name.

    Parameters
    ----------
    names
        URLs (the entry of that URL) and dandiset ids (``001697`` or
        ``DANDI:001697``: every entry of a manifest of that dandiset).
    entries
        What :func:`list_entries` found.

    Returns
    -------
    tuple of (list of CacheEntryInfo, list of str)
        The chosen entries, in the order of ``entries``, and the names that
        chose none.
    """
    from dandi.consts import DANDISET_ID_REGEX

    chosen: set[Path] = set()
    unmatched = []
    for name in names:
        if is_url(name):
            found = {e.directory for e in entries if e.url == name}
        elif re.fullmatch(rf"(?i:DANDI:)?{DANDISET_ID_REGEX}", name):
            found = {e.directory for e in entries if e.dandiset_id == name[-6:]}
        else:
            found = set()
        if not found:
            unmatched.append(name)
        chosen |= found
    return [e for e in entries if e.directory in chosen], unmatched


def remove_entry(info: CacheEntryInfo) -> None:
    """Remove a cache entry's files, under its lock.

    The lock file stays (a run may be waiting on it), and so do the temporaries
    of a download in progress (it puts a new entry in place when it is done),
    and any name the cache does not create.

    Raises
    ------
    OSError
        When the entry is not private (``UnsafeCacheError``: nothing is
        removed), the lock cannot be taken or a file cannot be removed.
    """
    root = info.directory.parent.parent
    parts = (ENTRIES_NAME, info.directory.name)
    with (
        open_entry_directory(root, parts, create=False) as directory,
        entry_lock(directory, CACHE_CLEAR_LOCK_TIMEOUT),
    ):
        sweep(directory, keep=())
        left = [
            name
            for name in directory.names()
            if is_cache_file(name) and not name.endswith(TMP_SUFFIX)
        ]
    if left:
        raise OSError(f"could not remove {', '.join(left)} from {info.directory}")
