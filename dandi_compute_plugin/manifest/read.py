"""One function per need of a manifest: its rows, its summary, its index, its records.

Each opens the requested manifest (:func:`open_manifest`), asking the cache only
for what that need reads of an entry, and gets one of two things: that checked
cached copy (an unchanged URL, HTTP 304, or a server that cannot be reached:
:mod:`.fetch`), or the manifest's bytes, which it parses as they arrive
(:class:`~.parse.ManifestBytes`; a download is cached on the way).  Each returns
one type, whichever way the manifest came.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from .cache.copies import CachedCopy, CachedIndex, CachedManifest, CachedRows, Copy
from .cache.entry import CacheEntry
from .fetch import CacheReader, ProgressCallback, fetch
from .index import AssetIndex, Summary, TotalingIndexBuilder, iter_rows
from .location import is_url, manifest_url
from .parse import ManifestBytes, iter_file_chunks, source_bytes
from .records import AssetMetadata, asset_metadata
from .request import ManifestRequest
from .stored import ManifestCopy, RecordStore


def open_manifest(
    request: ManifestRequest,
    read: CacheReader[Copy],
    progress: ProgressCallback | None = None,
    copy: ManifestCopy | None = None,
) -> Copy | ManifestBytes:
    """The checked cached copy that ``read`` reads, or the manifest's bytes.

    Parameters
    ----------
    request
        Which manifest, and how.
    read
        What is read of a cache entry (a ``read_*`` method of
        :class:`~.cache.entry.CacheEntry`); only a URL is cached.
    progress
        Called with (bytes downloaded, total bytes or None) during a download.
    copy
        Where the bytes are kept, to read the records again.
    """
    source = request.source
    if source is not None and not is_url(source):
        return source_bytes(source, copy)
    if source is None:
        url = manifest_url(
            request.dandiset_id,
            request.version,
            request.dandi_instance,
            url_template=request.url_template,
        )
        what = f"dandiset {request.dandiset_id} version {request.version}"
        dandiset: tuple[str, str] | None = (request.dandiset_id, request.version)
    else:
        url, what, dandiset = str(source), None, None
    return fetch(
        url,
        what,
        read,
        progress,
        dandiset=dandiset,
        cache=request.cache,
        refresh=request.refresh,
        timeout=request.timeout,
        copy=copy,
    )


def read_rows(
    request: ManifestRequest, progress: ProgressCallback | None = None
) -> Iterator[AssetMetadata]:
    """Every asset, in manifest order, in flat memory: the cached index
    streamed, or the records parsed as they arrive."""
    got = open_manifest(request, CacheEntry.read_rows, progress)
    if isinstance(got, CachedRows):
        return iter_rows(got.rows)
    return (asset_metadata(*fields) for fields in got.fields())


def read_summary(
    request: ManifestRequest, progress: ProgressCallback | None = None
) -> Summary:
    """The records, assets and bytes of a manifest: a cache entry's
    ``meta.json`` alone, or the records counted as they are parsed."""
    got = open_manifest(request, CacheEntry.read_summary, progress)
    if isinstance(got, CachedCopy):
        return got.summary
    builder = TotalingIndexBuilder(keep=False)
    deque(got.fields(builder), maxlen=0)
    builder.flush()
    return builder.tally.summary()


def read_index(
    request: ManifestRequest, progress: ProgressCallback | None = None
) -> tuple[AssetIndex, RecordStore]:
    """The index, and where its full records are read from on demand: the
    cached manifest, the manifest file, or the bytes kept while parsed."""
    copy = ManifestCopy(request.label)
    try:
        got = open_manifest(request, CacheEntry.read_index, progress, copy)
        if isinstance(got, CachedIndex):
            copy.close()
            return got.index, _cached_store(got, copy.source)
        builder = TotalingIndexBuilder()
        deque(got.fields(builder), maxlen=0)
        return builder.index(), copy.store(builder.offsets)
    except BaseException:
        copy.close()
        raise


def _cached_store(cached: CachedIndex, source: str) -> RecordStore:
    return RecordStore(
        cached.manifest,
        cached.offsets,
        source,
        blocks=cached.blocks,
        on_damage=cached.on_damage,
    )


def read_records(
    request: ManifestRequest, progress: ProgressCallback | None = None
) -> tuple[AssetIndex, dict[str, dict[str, Any]]]:
    """The index, and every full record by content id, in memory: the
    manifest parsed (the cached one again on a 304)."""
    got = open_manifest(request, CacheEntry.read_manifest, progress)
    if isinstance(got, CachedManifest):
        got = ManifestBytes(_closing_chunks(got), got.meta["url"])
    builder = TotalingIndexBuilder()
    records = {fields[3]: record for fields, record in got.records(builder)}
    return builder.index(), records


def _closing_chunks(cached: CachedManifest) -> Iterator[bytes]:
    with cached.manifest as f:
        yield from iter_file_chunks(f)
