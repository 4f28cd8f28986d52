"""The conditional fetch of a manifest URL: the cache in front of the HTTP GET.

When the URL is cached (:mod:`.cache.entry`), the request carries the server's
``ETag``/``Last-Modified`` from last time, and an unchanged manifest (HTTP 304) is
neither downloaded nor parsed again: what the caller reads of the cache entry
answers (the ``read_*`` methods of :class:`~.cache.entry.CacheEntry`: the index,
its rows, the manifest, or ``meta.json`` alone for a summary).  Otherwise the
answer is a :class:`Download`, parsed as it arrives (:mod:`.parse`) while a new
cache entry is written.

When the server cannot be reached -- no connection, a timeout, a 5xx answer --
and a sound cached copy exists, the copy answers, with a warning naming the date
it was cached.  ``refresh`` asks for a fresh copy: then nothing cached is read and
the error stands.

A cache that is not private to the user (:mod:`.cache.dirs`) is neither read,
written nor removed: a warning (once per process and reason) and the run goes on
without it; with ``refresh``, which asks for the cache to be renewed, it is an
error.  Waiting for an entry's lock is bounded by the request's timeout, every
wait of the run together (:meth:`~.cache.entry.CacheEntry.lock`): past it the
run goes on without the cache, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
import logging
from typing import Any

from ..errors import ManifestUnavailableError, UnsafeCacheDirectoryError
from .cache.copies import CachedCopy, Copy
from .cache.dirs import UnsafeCacheError
from .cache.entry import CacheEntry
from .cache.meta import validator_ok
from .cache.writer import CacheWriter
from .http import http_get, prefetch, response_chunks
from .index import TotalingIndexBuilder
from .parse import ManifestBytes, parse_fields, parse_records
from .records import Fields
from .stored import ManifestCopy

lgr = logging.getLogger("dandi.compute")

#: ``progress(bytes_done, bytes_total_or_None)``, called as a download proceeds
ProgressCallback = Callable[[int, int | None], None]
#: reads what a need takes of a cache entry (e.g. :meth:`CacheEntry.read_index`)
CacheReader = Callable[[CacheEntry], Copy | None]


def fetch(
    url: str,
    what: str | None,
    read: CacheReader[Copy],
    progress: ProgressCallback | None,
    *,
    cache: bool,
    refresh: bool,
    timeout: float,
    copy: ManifestCopy | None = None,
    dandiset: tuple[str, str] | None = None,
) -> Copy | Download:
    """GET a manifest, conditionally when it is cached.

    Parameters
    ----------
    url
        The manifest's URL.
    what
        What it is the manifest of (``dandiset 001697 version draft``), for the
        messages; None for a URL given as the source.
    read
        Reads what the caller needs of the cache entry, checked (one of the
        ``read_*`` methods of :class:`~.cache.entry.CacheEntry`).
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
    CachedCopy or Download
        What ``read`` gave, on a 304 or when the server cannot be reached; else
        the answer's bytes, to be parsed as they are downloaded.

    Raises
    ------
    ManifestUnavailableError
    """
    entry, cached = _cached(url, read, cache, refresh, timeout, dandiset)
    try:
        resp = http_get(url, conditional_headers(cached), timeout, what)
    except ManifestUnavailableError as exc:
        if entry is not None and cached is not None and _unreachable(exc):
            return _offline(exc, entry, cached)
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
        entry.mark_used()
        return cached
    if cached is not None:
        cached.close()
    return Download(resp, url, entry, progress, copy)


#: the unsafe-cache warnings given already (each is given once per process)
_WARNED: set[str] = set()


def _cached(
    url: str,
    read: CacheReader[Copy],
    cache: bool,
    refresh: bool,
    timeout: float,
    dandiset: tuple[str, str] | None = None,
) -> tuple[CacheEntry | None, Copy | None]:
    """The cache entry of ``url`` and its checked copy, each None when there is
    none, caching is off, or the cache is not private (warned once)."""
    if not cache:
        return None, None
    entry = CacheEntry(url, lock_timeout=timeout, dandiset=dandiset)
    try:
        entry.open_directory(create=True).close()
        return entry, None if refresh else read(entry)
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


def _offline(exc: ManifestUnavailableError, entry: CacheEntry, cached: Copy) -> Copy:
    """Answer from the cached copy when the server cannot be reached."""
    when = datetime.fromtimestamp(cached.meta["written"], tz=UTC)
    lgr.warning(
        "%s; using the copy cached on %s (it may be out of date)",
        exc,
        when.strftime("%Y-%m-%d %H:%M UTC"),
    )
    entry.mark_used()
    return cached


class Download(ManifestBytes):
    """A 200 answer, parsed as it arrives while a new cache entry is written.

    The entry is committed only once the whole manifest has been parsed, so a
    broken download, bad JSON or an iteration stopped early caches nothing.

    Parameters
    ----------
    resp
        The streaming response (closed when done).
    url
        Its URL.
    entry
        The cache entry to write, or None.
    progress
        Called with (bytes downloaded, total bytes or None).
    copy
        Where the bytes are kept, to read the records again; once the new cache
        entry is in place, the copy reads them from it.
    """

    def __init__(
        self,
        resp: Any,
        url: str,
        entry: CacheEntry | None,
        progress: ProgressCallback | None,
        copy: ManifestCopy | None,
    ) -> None:
        super().__init__((), url)
        self.resp, self.entry, self.progress, self.copy = resp, entry, progress, copy

    def fields(self, builder: TotalingIndexBuilder | None = None) -> Iterator[Fields]:
        """:func:`~.parse.parse_fields` of the answer, cached on the way."""
        return self._parsed(parse_fields, builder)

    def records(
        self, builder: TotalingIndexBuilder | None = None
    ) -> Iterator[tuple[Fields, dict[str, Any]]]:
        """:func:`~.parse.parse_records` of the answer, cached on the way."""
        return self._parsed(parse_records, builder)

    def _writer(self, builder: TotalingIndexBuilder | None) -> CacheWriter | None:
        """The writer of the new cache entry, or None when there is none to write
        (no cache, no validator to send back: it could never be reused)."""
        headers = self.resp.headers
        # a validator that could not be sent back would make a useless entry
        self.validators = tuple(
            v if validator_ok(v) else None
            for v in (headers.get("ETag"), headers.get("Last-Modified"))
        )
        if self.entry is None or not any(self.validators):
            return None
        writer = CacheWriter(self.entry, builder or TotalingIndexBuilder(keep=False))
        return writer if writer.active else None

    def _chunks(self, writer: CacheWriter | None) -> Iterator[bytes]:
        """The answer's bytes, read ahead, each also written to the new entry,
        the copy and the progress callback."""
        resp, copy, progress = self.resp, self.copy, self.progress
        total = None
        length = resp.headers.get("Content-Length", "")
        # a Content-Length counts encoded bytes, the progress decoded ones
        if not resp.headers.get("Content-Encoding") and length.isdigit():
            total = int(length)
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

        return prefetch(response_chunks(resp, self.source), tee)

    def _parsed(
        self,
        parse: Callable[[Iterable[bytes], str, TotalingIndexBuilder | None], Iterator],
        builder: TotalingIndexBuilder | None,
    ) -> Iterator[Any]:
        writer = self._writer(builder)
        if writer is not None:
            builder = writer.builder
        try:
            yield from parse(self._chunks(writer), self.source, builder)
        except BaseException:
            self.resp.close()
            if writer is not None:
                writer.abort()
            raise
        if writer is not None:
            writer.commit(*self.validators)
            committed = writer.open_committed() if self.copy is not None else None
            if committed is not None:
                self.copy.use(committed)  # type: ignore[union-attr]
            writer.close()
