"""The conditional fetch of a manifest URL: the cache in front of the HTTP GET.

When the URL is cached (:mod:`.cache`), the request carries the server's
``ETag``/``Last-Modified`` from last time, and an unchanged manifest (HTTP 304) is
neither downloaded nor parsed again: the cached index answers, or the cached
manifest when the full records are wanted, or ``meta.json`` alone for a summary.
Otherwise the records are parsed as they arrive (:mod:`.parse`) while a new cache
entry is written.

When the server cannot be reached -- no connection, a timeout, a 5xx answer --
and a sound cached copy exists, the copy answers, with a warning naming the date
it was cached.  ``refresh`` asks for a fresh copy: then nothing cached is read and
the error stands.

A cache that is not private to the user (:mod:`.cache_dirs`) is neither read,
written nor removed: a warning (once per process and reason) and the run goes on
without it; with ``refresh``, which asks for the cache to be renewed, it is an
error.  Waiting for an entry's lock is bounded by the request's timeout: past it
the run goes on without the cache, with a warning.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
import logging
from typing import IO, Any

from ..errors import ManifestUnavailableError, UnsafeCacheDirectoryError
from .cache import CachedCopy, CacheEntry, UnsafeCacheError, Want
from .cache_meta import validator_ok
from .cache_writer import CacheWriter, TotalingIndexBuilder
from .http import http_get, prefetch, response_chunks
from .index import AssetIndex
from .parse import iter_file_chunks, parse_manifest
from .records import Fields
from .stored import ManifestCopy

lgr = logging.getLogger("dandi.compute")

#: ``progress(bytes_done, bytes_total_or_None)``, called as a download proceeds
ProgressCallback = Callable[[int, int | None], None]
#: what the parse yields: each record's checked fields, and the record if kept
Pairs = Iterator[tuple[Fields, dict[str, Any] | None]]


@dataclass
class Opened:
    """An opened manifest: from the cache (its index -- with the records'
    offsets into the open cached manifest when they were wanted -- or its
    summary), or the records parsed as they arrive."""

    index: AssetIndex | None = None
    pairs: Pairs | None = None
    summary: tuple[int, int, int] | None = None
    offsets: array | None = None
    manifest: IO[bytes] | None = None
    blocks: bytes | None = None
    on_damage: Callable[[], object] | None = None
    rows: IO[bytes] | None = None


def fetch(
    url: str,
    what: str | None,
    want: Want,
    builder: TotalingIndexBuilder | None,
    progress: ProgressCallback | None,
    *,
    cache: bool,
    refresh: bool,
    timeout: float,
    copy: ManifestCopy | None = None,
    dandiset: tuple[str, str] | None = None,
) -> Opened:
    """GET a manifest, conditionally when it is cached.

    Parameters
    ----------
    url
        The manifest's URL.
    what
        What it is the manifest of (``dandiset 001697 version draft``), for the
        messages; None for a URL given as the source.
    want
        What a cached copy must give (see :data:`Want`).
    builder
        Each parsed record's fields are added to it, if given (a totaling one:
        the sizes go into the new cache entry's ``meta.json``).
    progress
        Called with (bytes downloaded, total bytes or None) during a download.
    cache, refresh, timeout
        As in :class:`~.load.ManifestRequest`.
    copy
        Where a download's bytes are kept, to read its records again; once the
        new cache entry is in place, the copy reads them from it.
    dandiset
        The (dandiset id, version) the manifest is of, recorded in a new cache
        entry (``cache info`` and ``cache clear ID`` name it by that, whatever
        the URL).

    Returns
    -------
    Opened
        The cached index or summary on a 304 or when the server cannot be
        reached (with ``want="records"``, the cached manifest parsed again),
        else the records parsed as they are downloaded.

    Raises
    ------
    ManifestUnavailableError
    """
    entry, cached = _cached(url, want, cache, refresh, timeout, dandiset)
    try:
        resp = http_get(url, conditional_headers(cached), timeout, what)
    except ManifestUnavailableError as exc:
        if entry is not None and cached is not None and _unreachable(exc):
            return _offline(exc, entry, cached, builder)
        if cached is not None:
            cached.close()
        raise
    except BaseException:
        if cached is not None:
            cached.close()
        raise
    if resp.status_code == 304:
        resp.close()
        if entry is None or cached is None:
            raise ManifestUnavailableError(
                f"HTTP 304 Not Modified for an unconditional request: {url}", url, 304
            )
        lgr.info("Manifest %s unchanged (HTTP 304): using the cached copy", url)
        return _from_cache(entry, cached, builder)
    if cached is not None:
        cached.close()
    return Opened(pairs=_download(resp, url, entry, want, builder, progress, copy))


#: the unsafe-cache warnings given already (each is given once per process)
_WARNED: set[str] = set()


def _cached(
    url: str,
    want: Want,
    cache: bool,
    refresh: bool,
    timeout: float,
    dandiset: tuple[str, str] | None = None,
) -> tuple[CacheEntry | None, CachedCopy | None]:
    """The cache entry of ``url`` and its checked copy, each None when there is
    none, caching is off, or the cache is not private (warned once)."""
    if not cache:
        return None, None
    entry = CacheEntry(url, lock_timeout=timeout, dandiset=dandiset)
    try:
        entry.open_directory(create=True).close()
        return entry, None if refresh else entry.read(want)
    except UnsafeCacheError as exc:
        if refresh:
            raise UnsafeCacheDirectoryError(
                f"Cannot refresh the cached copy of {url}: {exc}; nothing in the "
                "cache was read, removed or written (see DANDI_COMPUTE_CACHE_DIR)"
            ) from None
        if str(exc) not in _WARNED:
            _WARNED.add(str(exc))
            lgr.warning(
                "Not using the manifest cache: %s (it is neither read, removed "
                "nor written; set DANDI_COMPUTE_CACHE_DIR to a directory of "
                "your own)",
                exc,
            )
    except OSError as exc:  # e.g. a read-only file system: cannot make it
        lgr.warning("Not using the manifest cache for %s: %s", url, exc)
    return None, None


def conditional_headers(cached: CachedCopy | None) -> dict[str, str]:
    """The headers that make the server answer 304 when the copy is current."""
    headers = {}
    if cached is not None:
        if cached.meta.get("etag"):
            headers["If-None-Match"] = cached.meta["etag"]
        if cached.meta.get("last_modified"):
            headers["If-Modified-Since"] = cached.meta["last_modified"]
    return headers


def _unreachable(exc: ManifestUnavailableError) -> bool:
    """True when the server gave no answer, or a server error (5xx): the
    manifest may well be unchanged.  A 404 or 403 is an answer about it."""
    return exc.status is None or 500 <= exc.status <= 599


def _offline(
    exc: ManifestUnavailableError,
    entry: CacheEntry,
    cached: CachedCopy,
    builder: TotalingIndexBuilder | None,
) -> Opened:
    """Answer from the cached copy when the server cannot be reached."""
    when = datetime.fromtimestamp(cached.meta["written"], tz=UTC)
    lgr.warning(
        "%s; using the copy cached on %s (it may be out of date)",
        exc,
        when.strftime("%Y-%m-%d %H:%M UTC"),
    )
    return _from_cache(entry, cached, builder)


def _from_cache(
    entry: CacheEntry, cached: CachedCopy, builder: TotalingIndexBuilder | None
) -> Opened:
    """What the cached copy offers: the records parsed again, the index, or the
    summary; the entry's last use is recorded."""
    entry.mark_used()
    if cached.rows is not None:
        return Opened(rows=cached.rows)
    if cached.index is not None:
        return Opened(
            index=cached.index,
            offsets=cached.offsets,
            manifest=cached.manifest,
            blocks=cached.blocks,
            on_damage=partial(entry.discard, cached.meta["check"]),
        )
    if cached.manifest is not None:
        return Opened(pairs=_parse_cached(cached.manifest, entry.url, builder))
    return Opened(summary=cached.summary)


def _parse_cached(
    f: IO[bytes], url: str, builder: TotalingIndexBuilder | None
) -> Pairs:
    """Parse the cached copy of ``url``, keeping the full records."""
    with f:
        yield from parse_manifest(iter_file_chunks(f), url, True, builder)


def _download(
    resp: Any,
    url: str,
    entry: CacheEntry | None,
    want: Want,
    builder: TotalingIndexBuilder | None,
    progress: ProgressCallback | None,
    copy: ManifestCopy | None,
) -> Pairs:
    """Parse a 200 answer as it arrives, writing a new cache entry on the way.

    The entry is committed only once the whole manifest has been parsed, so a
    broken download, bad JSON or an iteration stopped early caches nothing.
    """
    total = None
    length = resp.headers.get("Content-Length", "")
    # a Content-Length counts encoded bytes, the progress decoded ones
    if not resp.headers.get("Content-Encoding") and length.isdigit():
        total = int(length)
    # a validator that could not be sent back would make a useless entry
    validators = tuple(
        v if validator_ok(v) else None
        for v in (resp.headers.get("ETag"), resp.headers.get("Last-Modified"))
    )
    writer = None
    if entry is not None and any(validators):  # else it could never be reused
        builder = builder or TotalingIndexBuilder(keep=False)
        writer = CacheWriter(entry, builder)
        if not writer.active:
            writer = None
    received = 0

    def tee(chunk: bytes) -> None:  # in the download thread
        nonlocal received
        received += len(chunk)
        if writer is not None:
            writer.write_manifest(chunk)
        if copy is not None:
            copy.write(chunk)
        if progress is not None:
            progress(received, total)

    chunks = prefetch(response_chunks(resp, url), tee)
    try:
        yield from parse_manifest(chunks, url, want == "records", builder)
    except BaseException:
        resp.close()
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.commit(*validators)
        committed = writer.open_committed() if copy is not None else None
        if committed is not None:
            copy.use(committed)  # type: ignore[union-attr]
        writer.close()
