"""The cache of downloaded manifests and their indexes: private, checked, locked.

One entry per manifest URL, each a private directory of sealed, checked files.
Its modules, each importing only those before it:

:mod:`.dirs`
    the cache's private directories, reached without following links;
:mod:`.files`
    an entry's lock, temporaries and their cleanup;
:mod:`.meta`
    an entry's sealed, checked description (``meta.json``);
:mod:`.copies`
    what reading an entry gives, one type per use;
:mod:`.entry`
    where the cache is, and reading an entry: one method per use, each giving
    only the checked files that use needs (damaged entries dropped);
:mod:`.writer`
    writing a new entry while its manifest is downloaded and parsed;
:mod:`.listing`
    listing, choosing and removing entries (``dandi compute cache``).

The conditional fetch that puts the cache in front of HTTP is
:mod:`dandi_compute_plugin.manifest.fetch`.
"""

from __future__ import annotations

from .dirs import UnsafeCacheError
from .entry import CacheEntry, cache_directory
from .listing import (
    CacheEntryInfo,
    entry_info_of,
    list_entries,
    remove_entry,
    select_entries,
)

__all__ = [
    "CacheEntry",
    "CacheEntryInfo",
    "UnsafeCacheError",
    "cache_directory",
    "entry_info_of",
    "list_entries",
    "remove_entry",
    "select_entries",
]
