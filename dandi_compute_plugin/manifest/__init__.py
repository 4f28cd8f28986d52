"""A dandiset version's ``assets.jsonld`` manifest: sources, streaming parse, index.

The archive publishes the asset metadata of each dandiset version as one compact
JSON array of asset records.  This package reads it from the archive, from any URL,
from a file or from standard input, parses it while it arrives, and caches it with
the index parsed from it.  Its modules, each importing only those before it:

:mod:`.records`
    what is handed out: :class:`AssetMetadata`, :class:`AssetsJsonldMetadata`;
:mod:`.location`
    where a manifest is: :func:`manifest_url`;
:mod:`.request`
    which manifest to read, and how: :class:`ManifestRequest`;
:mod:`.http`
    the bytes over HTTP;
:mod:`.index`
    the compact index, and the counts of a summary;
:mod:`.checks`
    what a valid asset record is;
:mod:`.split`
    cutting the JSON array into records as its bytes arrive;
:mod:`.parse`
    the streaming parse of a manifest's bytes, from a file, standard input or
    a stream;
:mod:`.cache`
    the private, checked cache of manifests and their indexes (a subpackage:
    directories, files and locks, the sealed description, reading and writing
    an entry, listing and clearing entries);
:mod:`.stored`
    full records read back on demand from a copy of the manifest's bytes;
:mod:`.fetch`
    the conditional GET of a URL: the cache in front of HTTP;
:mod:`.read`
    one function per need -- the rows, the summary, the index, the full
    records -- each from the cache or from the bytes parsed as they arrive;
:mod:`.load`
    the public functions that read a manifest;
:mod:`.lag`
    whether a draft's manifest is older than the draft's last change.
"""

from __future__ import annotations

# the manifest's defaults and variables, as this package has always exported them
from ..defaults import CACHE_DIR_ENV, DEFAULT_DANDISET_ID, MANIFEST_URL_ENV
from .cache import cache_directory
from .load import (
    iter_asset_metadata,
    iter_assets,
    load_assets_jsonld_metadata,
    summarize,
)
from .location import manifest_url
from .records import AssetMetadata, AssetsJsonldMetadata
from .request import ManifestRequest

__all__ = [
    "CACHE_DIR_ENV",
    "DEFAULT_DANDISET_ID",
    "MANIFEST_URL_ENV",
    "AssetMetadata",
    "AssetsJsonldMetadata",
    "ManifestRequest",
    "cache_directory",
    "iter_asset_metadata",
    "iter_assets",
    "load_assets_jsonld_metadata",
    "manifest_url",
    "summarize",
]
