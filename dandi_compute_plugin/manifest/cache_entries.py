"""The cache's entries as a whole: listing them, choosing some, removing them.

``dandi compute cache info`` and ``dandi compute cache clear`` are these functions.
Listing only reads (``meta.json`` and the sizes of the files); removing takes each
entry's lock (:mod:`.cache_files`), so that a run that is using the entry never
sees it half gone, and a download in progress keeps its temporaries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
import json
import os
from pathlib import Path
import re
from typing import Any

from .cache import META_NAME, entries_directory, entry_key, meta_problem
from .cache_files import LOCK_NAME, TMP_SUFFIX, entry_lock, sweep
from .location import MANIFEST_URL_ENV, MANIFEST_URL_TEMPLATES, is_url

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
        the temporaries of a download in progress, or leftovers).
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
                when = datetime.fromtimestamp(record[name]).astimezone()
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
    if os.environ.get(MANIFEST_URL_ENV):
        templates.insert(0, os.environ[MANIFEST_URL_ENV])
    for template in templates:
        pattern = _template_pattern(template)
        found = pattern.fullmatch(url) if pattern is not None else None
        if found is not None:
            return found["dandiset_id"], found.groupdict().get("version")
    return None


def _text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    return value if isinstance(value, str) else None


def _files_sound(directory: Path, meta: dict[str, Any]) -> bool:
    """True when the files ``meta`` names are there with their sizes (no CRCs:
    that is the next use's job)."""
    for part in ("manifest", "index"):
        try:
            if (directory / meta[part]["file"]).stat().st_size != meta[part]["size"]:
                return False
        except OSError:
            return False
    return True


def entry_info(directory: Path) -> CacheEntryInfo | None:
    """Describe the entry in ``directory``; None when it holds nothing but its
    lock (a cleared entry)."""
    files = [e for e in _scan(directory) if e.name != LOCK_NAME]
    if not files:
        return None
    size = sum(e.stat(follow_symlinks=False).st_size for e in files)
    try:
        raw = (directory / META_NAME).read_bytes()
        last_used = (directory / META_NAME).stat().st_mtime
    except FileNotFoundError:
        return CacheEntryInfo(directory, "incomplete", size=size)
    except OSError:
        return CacheEntryInfo(directory, "damaged", size=size)
    try:
        meta = json.loads(raw)
        url = _text(meta, "url")
    except (ValueError, AttributeError):
        return CacheEntryInfo(directory, "damaged", size=size, last_used=last_used)
    problem = meta_problem(meta)
    if problem is not None:
        status = "outdated" if problem.startswith("format") else "damaged"
    elif url is None or directory.name != entry_key(url):
        status = "damaged"
    else:
        status = "ok" if _files_sound(directory, meta) else "damaged"
    dandiset = manifest_dandiset(url) if url is not None else None
    count = meta.get("index", {}).get("count") if status == "ok" else None
    written = meta.get("written")
    return CacheEntryInfo(
        directory,
        status,
        url=url,
        dandiset_id=dandiset[0] if dandiset else None,
        version=dandiset[1] if dandiset else None,
        etag=_text(meta, "etag"),
        last_modified=_text(meta, "last_modified"),
        size=size,
        records=count,
        cached=written if isinstance(written, int | float) else None,
        last_used=last_used,
    )


def _scan(directory: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(directory) as it:
            return [e for e in it if e.is_file(follow_symlinks=False)]
    except OSError:
        return []


def list_entries(root: Path | None = None) -> list[CacheEntryInfo]:
    """Describe every entry of the cache, by URL.

    Parameters
    ----------
    root
        The cache directory (default: :func:`~.cache.cache_directory`).

    Returns
    -------
    list of CacheEntryInfo
        Sorted by URL; entries without one last.
    """
    top = entries_directory(root)
    try:
        with os.scandir(top) as it:
            directories = [Path(e.path) for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    infos = [i for d in directories if (i := entry_info(d)) is not None]
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
    chosen: set[Path] = set()
    unmatched = []
    for name in names:
        if is_url(name):
            found = {e.directory for e in entries if e.url == name}
        elif re.fullmatch(r"(?i:DANDI:)?[0-9]{6}", name):
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
    of a download in progress (it puts a new entry in place when it is done).

    Raises
    ------
    OSError
        When the lock cannot be taken or a file cannot be removed.
    """
    with entry_lock(info.directory):
        sweep(info.directory, keep=())
        left = [
            e.name
            for e in _scan(info.directory)
            if e.name != LOCK_NAME and not e.name.endswith(TMP_SUFFIX)
        ]
    if left:
        raise OSError(f"could not remove {', '.join(left)} from {info.directory}")
