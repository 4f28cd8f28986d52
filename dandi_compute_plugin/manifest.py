"""A dandiset version's ``assets.jsonld`` manifest: sources, streaming parse, index.

The archive publishes the asset metadata of each dandiset version as one compact JSON
array of asset records (``[{...},{...}]``).  This module reads it from the archive
(``dandiset_id`` + ``version`` on an instance), from any URL, from a file or from
standard input, and parses it *while it arrives* with ijson's C backend: a record is
checked, reduced to an :class:`AssetMetadata` and dropped, so memory does not grow
with the manifest (see :func:`iter_asset_metadata`).
:func:`load_assets_jsonld_metadata` builds the seed-compatible index from the stream.

Downloads are cached (:mod:`dandi_compute_plugin._manifest_cache`): the manifest and
the index parsed from it are kept with the server's ``ETag``/``Last-Modified``; an
unchanged manifest (HTTP 304) is neither downloaded nor parsed again.

Every failure raises -- bad input as :class:`ManifestFormatError` naming the record
(numbered from 1) and its path, an unreachable or missing manifest as
:class:`ManifestUnavailableError`.  An empty index only ever means an empty manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
import logging
import os
import re
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ._asset_index import AssetIndex, IndexBuilder
    from ._manifest_parse import Fields
    from .versions import VersionDirectory

lgr = logging.getLogger("dandi.compute")

DEFAULT_DANDISET_ID = "001697"
DEFAULT_TIMEOUT = 60.0
#: environment variable: a manifest URL template used for every instance
MANIFEST_URL_ENV = "DANDI_COMPUTE_MANIFEST_URL"
#: where the manifests of the instances whose layout is known live
MANIFEST_URL_TEMPLATES = {
    "dandi": "https://dandiarchive.s3.amazonaws.com/dandisets/"
    "{dandiset_id}/{version}/assets.jsonld",
}
CHUNK_SIZE = 1 << 16

#: ``source``: a URL, a file path, ``"-"`` (standard input) or a binary stream
Source = str | os.PathLike | IO[bytes]
#: ``progress(bytes_done, bytes_total_or_None)``, called as a download proceeds
ProgressCallback = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class AssetMetadata:
    """What the index keeps of one asset record.

    Attributes
    ----------
    path
        The asset's path in the dandiset (POSIX, relative).
    date_modified
        ``dateModified``, as written in the manifest (ISO 8601).
    content_size
        ``contentSize`` in bytes.
    content_id
        The blob UUID or zarr id: the last path component of the ``contentUrl``
        entry that contains ``/blobs/`` or ``/zarr/``.
    """

    path: str
    date_modified: str
    content_size: int
    content_id: str

    def as_record(self) -> dict[str, Any]:
        """Return the output record of ``dandi compute index``."""
        return {
            "path": self.path,
            "date_modified": self.date_modified,
            "content_size": self.content_size,
            "content_id": self.content_id,
        }


@dataclass(frozen=True)
class AssetsJsonldMetadata:
    """The index of a manifest (compatible with the seed's).

    Attributes
    ----------
    content_id_to_asset
        content id -> :class:`AssetMetadata`; with ``keep_records=True`` a dict of
        content id -> the full asset record, as the seed kept.  Assets sharing a
        blob: the last wins.
    path_to_asset_metadata
        asset path -> :class:`AssetMetadata`, in manifest order.

    Both are read-only mappings (``[]``, ``get``, ``in``, ``len``, iteration,
    ``keys``/``values``/``items``, ``==``), built lazily by
    :func:`load_assets_jsonld_metadata`; ``dict(...)`` makes plain dicts.
    """

    content_id_to_asset: Mapping[str, Any]
    path_to_asset_metadata: Mapping[str, AssetMetadata]


class ManifestError(Exception):
    """A manifest could not be read; never answered by an empty index."""


class ManifestFormatError(ManifestError, ValueError):
    """The manifest is not a JSON array of valid asset records.

    Attributes
    ----------
    source
        The URL or file the manifest came from.
    record
        The number (from 1) of the offending record, or None.
    path
        The offending record's ``path`` when known, else None.
    problem
        What is wrong, without the location.
    """

    def __init__(
        self,
        source: str,
        problem: str,
        record: int | None = None,
        path: str | None = None,
    ) -> None:
        self.source, self.problem, self.record, self.path = (
            source,
            problem,
            record,
            path,
        )
        where = ""
        if record is not None:
            where = f" record {record}"
            if path is not None:
                where += f" (path {path!r})"
            where += ":"
        super().__init__(f"Invalid manifest {source}:{where} {problem}")


class ManifestUnavailableError(ManifestError):
    """The manifest could not be fetched: network failure, HTTP 404, 403, ...

    Attributes
    ----------
    url
        The URL requested.
    status
        The HTTP status code, or None when there was no HTTP answer.
    """

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        self.url, self.status = url, status
        super().__init__(message)


class ManifestLocationError(ManifestError, ValueError):
    """A manifest location cannot be derived from the arguments."""


# ----------------------------------------------------------------- sources


def _instance_name(dandi_instance: Any) -> str | None:
    from dandi.consts import known_instances, known_instances_rev

    name = getattr(dandi_instance, "name", None)
    if name is not None:  # a dandi.consts.DandiInstance
        return name if name in known_instances else None
    text = str(dandi_instance)
    if text.lower().startswith(("http://", "https://")):
        return known_instances_rev.get(text.rstrip("/"))
    if text == "dandi-staging":
        raise ManifestLocationError(
            "'dandi-staging' DANDI instance identifier was removed; "
            "the instance was renamed 'dandi-sandbox'"
        )
    if text not in known_instances:
        raise ManifestLocationError(
            f"Unknown DANDI instance {text!r}; known instances: "
            f"{', '.join(sorted(known_instances))}, or an URL"
        )
    return text


def manifest_url(
    dandiset_id: str = DEFAULT_DANDISET_ID,
    version: str = "draft",
    dandi_instance: Any = "dandi",
    *,
    url_template: str | None = None,
) -> str:
    """Return the URL of a dandiset version's ``assets.jsonld`` manifest.

    Parameters
    ----------
    dandiset_id
        Six digits, e.g. ``001697`` (``DANDI:001697`` is accepted).
    version
        ``draft`` or a published version such as ``0.240101.1234``.
    dandi_instance
        A known instance name (as ``dandi -i``), an instance URL, or a
        ``dandi.consts.DandiInstance``.
    url_template
        A template with ``{dandiset_id}`` and ``{version}`` fields to use instead
        of the instance's; default: ``$DANDI_COMPUTE_MANIFEST_URL`` when set.

    Returns
    -------
    str

    Raises
    ------
    ManifestLocationError
        For an invalid id or version, an unknown instance, or an instance whose
        manifest location is not known (pass a ``source`` instead).
    """
    from dandi.consts import DANDISET_ID_REGEX, VERSION_REGEX

    dandiset_id = str(dandiset_id)
    if dandiset_id.upper().startswith("DANDI:"):
        dandiset_id = dandiset_id[6:]
    if not re.fullmatch(DANDISET_ID_REGEX, dandiset_id):
        raise ManifestLocationError(
            f"Invalid dandiset id {dandiset_id!r}: expected six digits, e.g. 001697"
        )
    if not isinstance(version, str) or not re.fullmatch(VERSION_REGEX, version):
        raise ManifestLocationError(
            f"Invalid dandiset version {version!r}: expected 'draft' or a published "
            "version such as 0.240101.1234"
        )
    name = _instance_name(dandi_instance)
    template = url_template or os.environ.get(MANIFEST_URL_ENV) or None
    if template is None:
        template = MANIFEST_URL_TEMPLATES.get(name or "")
    if template is None:
        raise ManifestLocationError(
            f"The location of the assets.jsonld manifests of DANDI instance "
            f"{str(getattr(dandi_instance, 'name', dandi_instance))!r} is not known: "
            "pass --source URL|FILE|- (source= in Python), or set "
            f"{MANIFEST_URL_ENV} to a URL template with {{dandiset_id}} and "
            "{version}"
        )
    return template.format(dandiset_id=dandiset_id, version=version)


def _is_url(source: object) -> bool:
    return isinstance(source, str) and source.lower().startswith(
        ("http://", "https://")
    )


@dataclass
class _Opened:
    """An opened manifest: the cached index, or records parsed as they arrive."""

    index: AssetIndex | None = None
    pairs: Iterator[tuple[Fields, dict[str, Any] | None]] | None = None


def _open(
    dandiset_id: str,
    version: str,
    dandi_instance: Any,
    source: Source | None,
    *,
    cache: bool,
    refresh: bool,
    keep_records: bool,
    builder: IndexBuilder | None,
    progress: ProgressCallback | None,
    url_template: str | None,
    timeout: float,
) -> _Opened:
    if source is None or _is_url(source):
        from . import _manifest_cache

        if source is None:
            url = manifest_url(
                dandiset_id, version, dandi_instance, url_template=url_template
            )
            what = f"dandiset {dandiset_id} version {version}"
        else:
            url, what = str(source), None
        return _manifest_cache.open_url(
            url,
            what=what,
            cache=cache,
            refresh=refresh,
            keep_records=keep_records,
            builder=builder,
            progress=progress,
            timeout=timeout,
        )
    from ._manifest_parse import parse_source

    return _Opened(pairs=parse_source(source, keep_records, builder))


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
    """Yield the :class:`AssetMetadata` of every asset of a manifest, streaming.

    No index is built: memory stays flat however large the manifest.  The
    manifest is fetched (or its cached index reused) when this is called;
    errors found while parsing are raised by the iteration, after the records
    before the bad one have been yielded.

    Parameters
    ----------
    dandiset_id, version, dandi_instance
        Which manifest, when ``source`` is None (see :func:`manifest_url`).
    source
        An ``http(s)://`` URL, a file path, ``"-"`` (standard input) or a binary
        stream, instead of the dandiset's manifest.
    cache
        Use and update the download cache (URLs only).
    refresh
        Download again even if the cached copy is current.
    progress
        Called with (bytes downloaded, total bytes or None) during a download.
    url_template
        A manifest URL template for the instance (see :func:`manifest_url`).
    timeout
        Seconds to wait for the server to connect or to send more data.

    Returns
    -------
    Iterator of AssetMetadata
        In manifest order.

    Raises
    ------
    ManifestLocationError, ManifestUnavailableError, ManifestFormatError
    """
    opened = _open(
        dandiset_id,
        version,
        dandi_instance,
        source,
        cache=cache,
        refresh=refresh,
        keep_records=False,
        builder=None,
        progress=progress,
        url_template=url_template,
        timeout=timeout,
    )
    if opened.index is not None:
        return opened.index.iter_all()
    assert opened.pairs is not None
    return (AssetMetadata(*fields) for fields, _ in opened.pairs)


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

    The index is compact: one buffer of rows, from which dicts and
    :class:`AssetMetadata` objects are made on first use (see
    :class:`~dandi_compute_plugin._asset_index.AssetIndex`); an unchanged
    manifest (HTTP 304) is answered from the cached index without parsing.

    Parameters
    ----------
    dandiset_id, version
        Which dandiset version (default: 001697's draft, as in the seed).
    keep_records
        Keep every full asset record in ``content_id_to_asset`` (a dict, the
        seed's behaviour; memory grows with the manifest).
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
    from ._asset_index import IndexBuilder

    builder = IndexBuilder()
    opened = _open(
        dandiset_id,
        version,
        dandi_instance,
        source,
        cache=cache,
        refresh=refresh,
        keep_records=keep_records,
        builder=builder,
        progress=progress,
        url_template=url_template,
        timeout=timeout,
    )
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


# ----------------------------------------------------------------- remote scan


@dataclass(frozen=True)
class RemoteVersionDirectory:
    """A version directory found in a manifest, with its assets' count and size.

    Attributes
    ----------
    directory
        The directory (``path`` is where it would be in a clone).
    asset_count
        How many assets of the manifest are below it.
    total_bytes
        Their total ``contentSize``.
    """

    directory: VersionDirectory
    asset_count: int
    total_bytes: int

    def as_record(self) -> dict[str, Any]:
        """Return the local scan's record plus ``asset_count`` and ``total_bytes``."""
        return {
            **self.directory.as_record(),
            "asset_count": self.asset_count,
            "total_bytes": self.total_bytes,
        }


def remote_version_directories(
    assets: Iterable[AssetMetadata],
    version: str,
    dandiset_directory: str | os.PathLike = ".",
) -> list[RemoteVersionDirectory]:
    """Find the directories of pipeline version ``version`` among asset paths.

    The rule is :func:`dandi_compute_plugin.versions.version_directory_of`, the
    same as the local scan's.

    Parameters
    ----------
    assets
        The manifest's assets, e.g. from :func:`iter_asset_metadata`.
    version
        The pipeline version, e.g. ``v1.1.1``; validated.
    dandiset_directory
        The clone the directories' ``path`` is relative to.

    Returns
    -------
    list of RemoteVersionDirectory
        Sorted by relative path.
    """
    from .versions import VersionDirectory, validate_version, version_directory_of

    validate_version(version)
    found: dict[str, list[int]] = {}
    for asset in assets:
        rel = version_directory_of(asset.path, version)
        if rel is not None:
            tally = found.setdefault(rel, [0, 0])
            tally[0] += 1
            tally[1] += asset.content_size
    return [
        RemoteVersionDirectory(
            VersionDirectory.from_relpath(dandiset_directory, rel), count, size
        )
        for rel, (count, size) in sorted(found.items())
    ]
