"""Reading a manifest: from a request to its assets, streamed or as an index.

A :class:`ManifestRequest` says which manifest to read -- a dandiset version on an
instance, any URL, a file or standard input -- and how; :func:`iter_assets` streams
its assets.  :func:`iter_asset_metadata` and :func:`load_assets_jsonld_metadata`
take the same options as arguments, as ``dandi_compute_code.dandiset`` does.

:func:`summarize` counts its assets and their bytes.

A URL is fetched conditionally when it is cached (:mod:`.cache_fetch`): the HTTP
request carries the server's ``ETag``/``Last-Modified`` from last time, and an
unchanged manifest (HTTP 304) is neither downloaded nor parsed again; when the
server cannot be reached, a cached copy is used (with a warning).  Otherwise the
records are parsed as they arrive (:mod:`.parse`) while a new cache entry is
written.

Every failure raises -- bad input as
:class:`~dandi_compute_plugin.errors.ManifestFormatError` naming the record
(numbered from 1) and its path, an unreachable or missing manifest as
:class:`~dandi_compute_plugin.errors.ManifestUnavailableError`.  An empty index
only ever means an empty manifest.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
import logging
import os
import threading
from typing import Any

from ..defaults import DEFAULT_TIMEOUT
from .cache import Want
from .cache_fetch import Opened, ProgressCallback, fetch
from .cache_writer import TotalingIndexBuilder
from .index import AssetIndex, AssetTally, iter_rows
from .location import DEFAULT_DANDISET_ID, Source, is_url, manifest_url
from .parse import parse_source
from .records import AssetMetadata, AssetsJsonldMetadata, asset_metadata
from .stored import ManifestCopy, RecordStore

lgr = logging.getLogger("dandi.compute")


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
        Seconds for the connection, status line and headers together, then
        for each wait for more of the body (``--timeout``,
        ``DANDI_COMPUTE_TIMEOUT``).
    """

    dandiset_id: str = DEFAULT_DANDISET_ID
    version: str = "draft"
    dandi_instance: Any = "dandi"
    source: Source | None = None
    cache: bool = True
    refresh: bool = False
    url_template: str | None = None
    timeout: float = DEFAULT_TIMEOUT


def _open(
    request: ManifestRequest,
    want: Want,
    builder: TotalingIndexBuilder | None,
    progress: ProgressCallback | None,
    copy: ManifestCopy | None = None,
) -> Opened:
    """Open the requested manifest; see :func:`.cache_fetch.fetch` for a URL."""
    source = request.source
    if source is not None and not is_url(source):
        return Opened(pairs=parse_source(source, want == "records", builder, copy))
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
        want,
        builder,
        progress,
        dandiset=dandiset,
        cache=request.cache,
        refresh=request.refresh,
        timeout=request.timeout,
        copy=copy,
    )


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
    opened = _open(request, "rows", None, progress)
    if opened.rows is not None:  # the cached index, checked, streamed
        return iter_rows(opened.rows)
    assert opened.pairs is not None
    return (asset_metadata(*fields) for fields, _ in opened.pairs)


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


def summarize(
    request: ManifestRequest,
    progress: ProgressCallback | None = None,
    path_prefix: str | None = None,
) -> tuple[int, int]:
    """Count the assets of a manifest and add up their ``contentSize``.

    An unchanged cached manifest (HTTP 304, or a cached copy used because the
    server cannot be reached) is answered from its cache entry's description
    alone when no ``path_prefix`` is given: neither the manifest nor the index
    is read.  Otherwise the manifest is streamed and counted, in memory that
    holds two ints per asset and no record (and cached on the way).

    Parameters
    ----------
    request
        Which manifest, and how.
    progress
        Called with (bytes downloaded, total bytes or None) during a download.
    path_prefix
        Count only the assets whose path starts with it.

    Returns
    -------
    tuple of (int, int)
        The number of assets and their total size in bytes.  As in the index, a
        path that appears in several records is one asset, with the last
        record's size (and a warning).

    Raises
    ------
    ManifestLocationError, ManifestUnavailableError, ManifestFormatError
    """
    if path_prefix is None:
        builder = TotalingIndexBuilder(keep=False)
        opened = _open(request, "summary", builder, progress)
        if opened.summary is not None:
            records, assets, total = opened.summary
        else:
            assert opened.pairs is not None
            deque(opened.pairs, maxlen=0)  # the parse fills the builder
            builder.flush()
            tally = builder.tally
            records, assets, total = tally.records, tally.assets, tally.total_bytes
    else:
        tally = AssetTally()
        for asset in iter_assets(request, progress):
            if asset.path.startswith(path_prefix):
                tally.add_asset(asset.path, asset.content_size)
        records, assets, total = tally.records, tally.assets, tally.total_bytes
    _warn_repeated(records, assets)
    return assets, total


def _warn_repeated(records: int, paths: int) -> None:
    if records != paths:
        lgr.warning(
            "The manifest has %d records for %d paths: for a repeated path the "
            "last record is kept",
            records,
            paths,
        )


class _Memo:
    """What :func:`load_assets_jsonld_metadata` returned, per arguments, as
    ``functools.lru_cache(maxsize=None)`` keeps it for the original: a second
    call with the same arguments returns the same object at once.  Calls whose
    source cannot be read twice (standard input, a stream) or whose arguments
    cannot be hashed are not kept; ``refresh=True`` loads again and keeps the
    new result."""

    def __init__(self) -> None:
        self._results: dict[Any, AssetsJsonldMetadata] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(arguments: tuple[Any, ...], source: Source | None) -> Any:
        """The key of a call, or None when it is not to be kept."""
        if source is not None and (
            not isinstance(source, str | os.PathLike) or str(source) == "-"
        ):
            return None
        try:
            hash(arguments)
        except TypeError:
            return None
        return arguments

    def get(self, key: Any) -> AssetsJsonldMetadata | None:
        with self._lock:
            return self._results.get(key)

    def put(self, key: Any, result: AssetsJsonldMetadata) -> None:
        with self._lock:
            self._results[key] = result

    def cache_clear(self) -> None:
        """Forget every kept result."""
        with self._lock:
            self._results.clear()


_MEMO = _Memo()


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
    ``dandi_compute_code.dandiset``: the same arguments, the same index, and
    memoized as it is: a second call with the same arguments (the progress
    callback aside) returns the same object at once, until
    ``load_assets_jsonld_metadata.cache_clear()``; ``refresh=True`` loads again.
    Standard input and streams are read each time.  The index is compact: one
    buffer of rows, from which dicts and
    :class:`~.records.AssetMetadata` objects are made on first use (see
    :class:`~.index.AssetIndex`); an unchanged manifest (HTTP 304) is answered
    from the cached index without parsing.

    Parameters
    ----------
    dandiset_id, version
        Which dandiset version (default: 001697's draft).
    keep_records
        Keep every full record in memory, in a dict (decoded once; memory grows
        with the manifest).  By default the records are read again from the
        manifest's bytes when accessed, and memory holds none of them.
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
    key = _MEMO.key(
        (dandiset_id, version, keep_records, dandi_instance, source, cache)
        + (url_template, timeout),
        source,
    )
    found = _MEMO.get(key) if key is not None and not refresh else None
    if found is not None:
        return found
    result = _load_index(request, keep_records, progress)
    if key is not None:
        _MEMO.put(key, result)
    return result


load_assets_jsonld_metadata.cache_clear = _MEMO.cache_clear  # type: ignore[attr-defined]


def _load_index(
    request: ManifestRequest, keep_records: bool, progress: ProgressCallback | None
) -> AssetsJsonldMetadata:
    """Build the index of the requested manifest (see the function above)."""
    builder = TotalingIndexBuilder()
    if keep_records:
        opened = _open(request, "records", builder, progress)
        records: dict[str, Any] = {}
        if opened.index is None:
            assert opened.pairs is not None
            for fields, record in opened.pairs:
                records[fields[3]] = record
        index = opened.index or builder.index()
        by_content_id: Mapping[str, Any] = records
    else:
        index, store = _index_and_store(request, builder, progress)
        by_content_id = index.by_content_id(store)
    _warn_repeated(index.record_count, len(index))
    return AssetsJsonldMetadata(
        content_id_to_asset=by_content_id, path_to_asset_metadata=index
    )


def _index_and_store(
    request: ManifestRequest,
    builder: TotalingIndexBuilder,
    progress: ProgressCallback | None,
) -> tuple[AssetIndex, RecordStore]:
    """The index, and where its records are read from: the cached copy, the
    manifest file, or the bytes kept while they were parsed."""
    copy = ManifestCopy(_label(request))
    try:
        opened = _open(request, "index", builder, progress, copy)
        if opened.index is not None:  # from the cache
            copy.close()
            assert opened.offsets is not None and opened.manifest is not None
            return opened.index, RecordStore(
                opened.manifest,
                opened.offsets,
                copy.source,
                blocks=opened.blocks,
                on_damage=opened.on_damage,
            )
        assert opened.pairs is not None
        deque(opened.pairs, maxlen=0)  # the parse fills the builder
        index = builder.index()
        return index, copy.store(builder.offsets)
    except BaseException:
        copy.close()
        raise


def _label(request: ManifestRequest) -> str:
    source = request.source
    if source is None:
        return f"the manifest of dandiset {request.dandiset_id}@{request.version}"
    if isinstance(source, str | os.PathLike):
        return "<stdin>" if str(source) == "-" else str(source)
    return str(getattr(source, "name", None) or "<stream>")
