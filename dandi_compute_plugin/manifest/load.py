"""The public functions that read a manifest: streamed, counted, or as an index.

A :class:`~.request.ManifestRequest` says which manifest to read -- a dandiset
version on an instance, any URL, a file or standard input -- and how;
:func:`iter_assets` streams its assets and :func:`summarize` counts them and their
bytes.  :func:`iter_asset_metadata` and :func:`load_assets_jsonld_metadata` take
the same options as arguments, as ``dandi_compute_code.dandiset`` does; the
latter is memoized per arguments, as the original is.

Each is one need of :mod:`.read` (rows, summary, index, full records): from the
cache when a URL is unchanged (HTTP 304) or its server cannot be reached (with a
warning), else parsed as the bytes arrive (:mod:`.parse`) while a new cache entry
is written (:mod:`.fetch`).

Every failure raises -- bad input as
:class:`~dandi_compute_plugin.errors.ManifestFormatError` naming the record
(numbered from 1) and its path, an unreachable or missing manifest as
:class:`~dandi_compute_plugin.errors.ManifestUnavailableError`.  An empty index
only ever means an empty manifest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
import logging
import os
import threading
from typing import Any

from ..defaults import (
    DEFAULT_DANDISET_ID,
    DEFAULT_DANDISET_VERSION,
    DEFAULT_INSTANCE,
    DEFAULT_TIMEOUT,
    manifest_url_template,
)
from .fetch import ProgressCallback
from .index import AssetTally
from .location import Source
from .read import read_index, read_records, read_rows, read_summary
from .records import AssetMetadata, AssetsJsonldMetadata
from .request import ManifestRequest

lgr = logging.getLogger("dandi.compute")

__all__ = [
    "ManifestRequest",
    "iter_asset_metadata",
    "iter_assets",
    "load_assets_jsonld_metadata",
    "summarize",
]


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
    return read_rows(request, progress)


def iter_asset_metadata(
    dandiset_id: str = DEFAULT_DANDISET_ID,
    version: str = DEFAULT_DANDISET_VERSION,
    *,
    dandi_instance: Any = DEFAULT_INSTANCE,
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
    options = (dandi_instance, source, cache, refresh, url_template, timeout)
    request = ManifestRequest(dandiset_id, version, *options)
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
        summary = read_summary(request, progress)
    else:
        tally = AssetTally()
        for asset in iter_assets(request, progress):
            if asset.path.startswith(path_prefix):
                tally.add_asset(asset.path, asset.content_size)
        summary = tally.summary()
    _warn_repeated(summary.records, summary.assets)
    return summary.assets, summary.total_bytes


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
    version: str = DEFAULT_DANDISET_VERSION,
    *,
    keep_records: bool = False,
    dandi_instance: Any = DEFAULT_INSTANCE,
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
    options = (dandi_instance, source, cache, refresh, url_template, timeout)
    request = ManifestRequest(dandiset_id, version, *options)
    # the request is the key, but for refresh (which loads again, and keeps it);
    # the environment's URL template counts as an argument (read at call time)
    template = url_template or (manifest_url_template() if source is None else None)
    unrefreshed = replace(request, refresh=False, url_template=template)
    key = _MEMO.key((unrefreshed, keep_records), source)
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
    if keep_records:
        index, by_content_id = read_records(request, progress)
    else:
        index, store = read_index(request, progress)
        by_content_id = index.by_content_id(store)
    _warn_repeated(index.record_count, len(index))
    return AssetsJsonldMetadata(
        content_id_to_asset=by_content_id, path_to_asset_metadata=index
    )
