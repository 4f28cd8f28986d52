"""Reading a manifest: from a request to its assets, streamed or as an index.

A :class:`ManifestRequest` says which manifest to read -- a dandiset version on an
instance, any URL, a file or standard input -- and how; :func:`iter_assets` streams
its assets.  :func:`iter_asset_metadata` and :func:`load_assets_jsonld_metadata`
take the same options as arguments, as ``dandi_compute_code.dandiset`` does.

A URL is fetched conditionally when it is cached (:mod:`.cache`): the HTTP request
carries the server's ``ETag``/``Last-Modified`` from last time, and an unchanged
manifest (HTTP 304) is neither downloaded nor parsed again.  Otherwise the records
are parsed as they arrive (:mod:`.parse`) while a new cache entry is written.

Every failure raises -- bad input as
:class:`~dandi_compute_plugin.errors.ManifestFormatError` naming the record
(numbered from 1) and its path, an unreachable or missing manifest as
:class:`~dandi_compute_plugin.errors.ManifestUnavailableError`.  An empty index
only ever means an empty manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
import logging
from typing import IO, Any

from ..errors import ManifestUnavailableError
from .cache import CachedCopy, CacheEntry, CacheWriter
from .http import http_get, prefetch, response_chunks
from .index import AssetIndex, IndexBuilder
from .location import DEFAULT_DANDISET_ID, Source, is_url, manifest_url
from .parse import ChunkReader, iter_file_chunks, parse_manifest, parse_source
from .records import AssetMetadata, AssetsJsonldMetadata, Fields

lgr = logging.getLogger("dandi.compute")

DEFAULT_TIMEOUT = 60.0
#: ``progress(bytes_done, bytes_total_or_None)``, called as a download proceeds
ProgressCallback = Callable[[int, int | None], None]
#: what the parse yields: each record's checked fields, and the record if kept
_Pairs = Iterator[tuple[Fields, dict[str, Any] | None]]


@dataclass(frozen=True)
class ManifestRequest:
    """Which manifest to read, and how.

    Attributes
    ----------
    dandiset_id
        Six digits, e.g. ``001697`` (``DANDI:001697`` is accepted); used when
        ``source`` is None.
    version
        ``draft`` or a published version such as ``0.240101.1234``; used when
        ``source`` is None.
    dandi_instance
        A known instance name (as ``dandi -i``), an instance URL, or a
        ``dandi.consts.DandiInstance``; used when ``source`` is None.
    source
        An ``http(s)://`` URL, a file path, ``"-"`` (standard input) or a binary
        stream, instead of the dandiset's manifest.
    cache
        Use and update the download cache (URLs only).
    refresh
        Download again even if the cached copy is current.
    url_template
        A manifest URL template with ``{dandiset_id}`` and ``{version}`` fields,
        instead of the instance's (see
        :func:`~dandi_compute_plugin.manifest.manifest_url`).
    timeout
        Seconds to wait for the server to connect or to send more data.
    """

    dandiset_id: str = DEFAULT_DANDISET_ID
    version: str = "draft"
    dandi_instance: Any = "dandi"
    source: Source | None = None
    cache: bool = True
    refresh: bool = False
    url_template: str | None = None
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class _Opened:
    """An opened manifest: the cached index, or records parsed as they arrive."""

    index: AssetIndex | None = None
    pairs: _Pairs | None = None


def _open(
    request: ManifestRequest,
    keep_records: bool,
    builder: IndexBuilder | None,
    progress: ProgressCallback | None,
) -> _Opened:
    """Open the requested manifest; see :func:`_fetch` for a URL."""
    source = request.source
    if source is not None and not is_url(source):
        return _Opened(pairs=parse_source(source, keep_records, builder))
    if source is None:
        url = manifest_url(
            request.dandiset_id,
            request.version,
            request.dandi_instance,
            url_template=request.url_template,
        )
        what = f"dandiset {request.dandiset_id} version {request.version}"
    else:
        url, what = str(source), None
    return _fetch(request, url, what, keep_records, builder, progress)


def _fetch(
    request: ManifestRequest,
    url: str,
    what: str | None,
    keep_records: bool,
    builder: IndexBuilder | None,
    progress: ProgressCallback | None,
) -> _Opened:
    """GET a manifest, conditionally when it is cached.

    Returns the cached index on a 304 (with ``keep_records``, the cached manifest
    parsed again), else the records parsed as they are downloaded.
    """
    entry = CacheEntry(url) if request.cache else None
    cached = None
    if entry is not None and not request.refresh:
        # the full records are only in the cached manifest, not in the index
        cached = entry.read(manifest=keep_records)
    try:
        resp = http_get(url, _conditional_headers(cached), request.timeout, what)
    except BaseException:
        if cached is not None:
            cached.close()
        raise
    if resp.status_code == 304:
        return _not_modified(resp, url, cached, builder)
    if cached is not None:
        cached.close()
    return _Opened(pairs=_download(resp, url, entry, keep_records, builder, progress))


def _conditional_headers(cached: CachedCopy | None) -> dict[str, str]:
    """The headers that make the server answer 304 when the copy is current."""
    headers = {}
    if cached is not None:
        if cached.meta.get("etag"):
            headers["If-None-Match"] = cached.meta["etag"]
        if cached.meta.get("last_modified"):
            headers["If-Modified-Since"] = cached.meta["last_modified"]
    return headers


def _not_modified(
    resp: Any, url: str, cached: CachedCopy | None, builder: IndexBuilder | None
) -> _Opened:
    """Answer an HTTP 304 from the cached copy."""
    resp.close()
    if cached is None:
        raise ManifestUnavailableError(
            f"HTTP 304 Not Modified for an unconditional request: {url}", url, 304
        )
    lgr.info("Manifest %s unchanged (HTTP 304): using the cached copy", url)
    if cached.manifest is not None:
        return _Opened(pairs=_parse_cached(cached.manifest, url, builder))
    return _Opened(index=cached.index)


def _parse_cached(f: IO[bytes], url: str, builder: IndexBuilder | None) -> _Pairs:
    """Parse the cached copy of ``url``, keeping the full records."""
    with f:
        reader = ChunkReader(iter_file_chunks(f), url)
        yield from parse_manifest(reader, url, True, builder)


def _download(
    resp: Any,
    url: str,
    entry: CacheEntry | None,
    keep_records: bool,
    builder: IndexBuilder | None,
    progress: ProgressCallback | None,
) -> _Pairs:
    """Parse a 200 answer as it arrives, writing a new cache entry on the way.

    The entry is committed only once the whole manifest has been parsed, so a
    broken download, bad JSON or an iteration stopped early caches nothing.
    """
    total = None
    length = resp.headers.get("Content-Length", "")
    # a Content-Length counts encoded bytes, the progress decoded ones
    if not resp.headers.get("Content-Encoding") and length.isdigit():
        total = int(length)
    validators = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
    writer = None
    if entry is not None and any(validators):  # else it could never be reused
        builder = builder or IndexBuilder(keep=False)
        writer = CacheWriter(entry, builder)
        if not writer.active:
            writer = None
    received = 0

    def tee(chunk: bytes) -> None:  # in the download thread
        nonlocal received
        received += len(chunk)
        if writer is not None:
            writer.write_manifest(chunk)
        if progress is not None:
            progress(received, total)

    reader = ChunkReader(prefetch(response_chunks(resp, url), tee), url)
    try:
        yield from parse_manifest(reader, url, keep_records, builder)
    except BaseException:
        resp.close()
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.commit(*validators)


def iter_assets(
    request: ManifestRequest, progress: ProgressCallback | None = None
) -> Iterator[AssetMetadata]:
    """Yield the :class:`~.records.AssetMetadata` of every asset of a manifest.

    No index is built: memory stays flat however large the manifest.  The
    manifest is fetched (or its cached index reused) when this is called;
    errors found while parsing are raised by the iteration, after the records
    before the bad one have been yielded.

    Parameters
    ----------
    request
        Which manifest, and how.
    progress
        Called with (bytes downloaded, total bytes or None) during a download.

    Returns
    -------
    Iterator of AssetMetadata
        In manifest order.

    Raises
    ------
    ManifestLocationError, ManifestUnavailableError, ManifestFormatError
    """
    opened = _open(request, False, None, progress)
    if opened.index is not None:
        return opened.index.iter_all()
    assert opened.pairs is not None
    return (AssetMetadata(*fields) for fields, _ in opened.pairs)


def iter_asset_metadata(
    dandiset_id: str = DEFAULT_DANDISET_ID,
    version: str = "draft",
    *,
    dandi_instance: Any = "dandi",
    source: Source | None = None,
    cache: bool = True,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
    url_template: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Iterator[AssetMetadata]:
    """Yield the :class:`~.records.AssetMetadata` of every asset of a manifest.

    :func:`iter_assets` of a :class:`ManifestRequest` of the arguments: no index
    is built, errors found while parsing are raised by the iteration.

    Parameters
    ----------
    dandiset_id, version, dandi_instance, source, cache, refresh, url_template, timeout
        Which manifest, and how: see :class:`ManifestRequest`.
    progress
        Called with (bytes downloaded, total bytes or None) during a download.

    Returns
    -------
    Iterator of AssetMetadata
        In manifest order.

    Raises
    ------
    ManifestLocationError, ManifestUnavailableError, ManifestFormatError
    """
    request = ManifestRequest(
        dandiset_id,
        version,
        dandi_instance,
        source,
        cache=cache,
        refresh=refresh,
        url_template=url_template,
        timeout=timeout,
    )
    return iter_assets(request, progress)


def load_assets_jsonld_metadata(
    dandiset_id: str = DEFAULT_DANDISET_ID,
    version: str = "draft",
    *,
    keep_records: bool = False,
    dandi_instance: Any = "dandi",
    source: Source | None = None,
    cache: bool = True,
    refresh: bool = False,
    progress: ProgressCallback | None = None,
    url_template: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> AssetsJsonldMetadata:
    """Load a manifest into the index by path and by content id.

    Compatible with the function of the same name in
    ``dandi_compute_code.dandiset``: the same arguments, the same index.  The
    index is compact: one buffer of rows, from which dicts and
    :class:`~.records.AssetMetadata` objects are made on first use (see
    :class:`~.index.AssetIndex`); an unchanged manifest (HTTP 304) is answered
    from the cached index without parsing.

    Parameters
    ----------
    dandiset_id, version
        Which dandiset version (default: 001697's draft).
    keep_records
        Keep every full asset record in ``content_id_to_asset`` (a dict, as
        ``dandi_compute_code.dandiset`` keeps them; memory grows with the
        manifest).
    dandi_instance, source, cache, refresh, progress, url_template, timeout
        As for :func:`iter_asset_metadata`.

    Returns
    -------
    AssetsJsonldMetadata
        Empty only when the manifest is an empty array.

    Raises
    ------
    ManifestLocationError, ManifestUnavailableError, ManifestFormatError
        Never an empty index instead.
    """
    request = ManifestRequest(
        dandiset_id,
        version,
        dandi_instance,
        source,
        cache=cache,
        refresh=refresh,
        url_template=url_template,
        timeout=timeout,
    )
    return _load_index(request, keep_records, progress)


def _load_index(
    request: ManifestRequest, keep_records: bool, progress: ProgressCallback | None
) -> AssetsJsonldMetadata:
    """Build the index of the requested manifest (see the function above)."""
    builder = IndexBuilder()
    opened = _open(request, keep_records, builder, progress)
    records: dict[str, Any] = {}
    if opened.index is not None:
        index = opened.index
    else:
        assert opened.pairs is not None
        if keep_records:
            for fields, record in opened.pairs:
                records[fields[3]] = record
        else:
            for _ in opened.pairs:
                pass
        index = builder.index()
    if len(index) != index.record_count:
        lgr.warning(
            "The manifest has %d records for %d paths: for a repeated path the "
            "last record is kept",
            index.record_count,
            len(index),
        )
    return AssetsJsonldMetadata(
        content_id_to_asset=records if keep_records else index.by_content_id(),
        path_to_asset_metadata=index,
    )
