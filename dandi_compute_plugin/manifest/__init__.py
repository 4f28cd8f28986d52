"""A dandiset version's ``assets.jsonld`` manifest: sources, streaming parse, index.

The archive publishes the asset metadata of each dandiset version as one compact
JSON array of asset records.  This package reads it from the archive, from any URL,
from a file or from standard input, parses it while it arrives, and caches it with
the index parsed from it.  Its modules, each importing only those before it:

:mod:`.records`
    what is handed out: :class:`AssetMetadata`, :class:`AssetsJsonldMetadata`;
:mod:`.location`
    where a manifest is: :func:`manifest_url`;
:mod:`.http`
    the bytes over HTTP;
:mod:`.index`
    the compact index;
:mod:`.checks`
    what a valid asset record is;
:mod:`.parse`
    the streaming parse;
:mod:`.cache_dirs`
    the cache's private directories, reached without following links;
:mod:`.cache_files`
    a cache entry's lock, temporaries and their cleanup;
:mod:`.cache_meta`
    a cache entry's sealed, checked description;
:mod:`.cache`
    the stored copies and indexes;
:mod:`.cache_writer`
    writing a new cache entry during a download;
:mod:`.cache_fetch`
    the conditional fetch, the cache in front of HTTP;
:mod:`.cache_entries`
    listing and clearing the cache's entries;
:mod:`.load`
    :class:`ManifestRequest` and the functions that read a manifest;
:mod:`.lag`
    whether a draft's manifest is older than the draft's last change.
"""

from __future__ import annotations

from .cache import CACHE_DIR_ENV, cache_directory
from .load import (
    ManifestRequest,
    iter_asset_metadata,
    iter_assets,
    load_assets_jsonld_metadata,
    summarize,
)
from .location import DEFAULT_DANDISET_ID, MANIFEST_URL_ENV, manifest_url
from .records import AssetMetadata, AssetsJsonldMetadata

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
