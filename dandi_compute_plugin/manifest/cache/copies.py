"""What reading a cache entry gives: one type per use, every file in it checked.

Each ``read_*`` method of :class:`~.entry.CacheEntry` gives one of these: the
checked ``meta.json`` alone (a summary), the index open to stream its rows, the
index in memory with what reads full records on demand, or the manifest open to
parse it again.  The files a copy holds open are the caller's to close.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from ..index import AssetIndex, Summary


@dataclass
class CachedCopy:
    """A sound cache entry's checked ``meta.json``: all a summary needs.

    Attributes
    ----------
    meta
        The entry's checked ``meta.json`` (with the ``etag``/``last_modified`` to
        send, and when it was written).
    """

    meta: dict[str, Any]

    @property
    def summary(self) -> Summary:
        """The record count, asset count and total ``contentSize``, from
        ``meta.json``: a repeated path is one asset, with its last record's size."""
        index = self.meta["index"]
        return Summary(index["count"], index["assets"], index["total_bytes"])

    def close(self) -> None:
        """Close the files this copy holds open (none here)."""


@dataclass
class CachedRows(CachedCopy):
    """The cached index, checked, open at its start, to stream its rows.

    Attributes
    ----------
    rows
        The index file (the caller streams and closes it): memory does not grow
        with it.
    """

    rows: IO[bytes]

    def close(self) -> None:
        """Close the index file."""
        self.rows.close()


@dataclass
class CachedIndex(CachedCopy):
    """The cached index in memory, and what reads its full records on demand.

    Attributes
    ----------
    index
        The checked index.
    manifest
        The cached manifest, open (the caller closes it); its blocks are checked
        as records are read from it.
    offsets
        The byte offset of each record in ``manifest``.
    blocks
        The checked SHA-256 of each block of ``manifest`` (see
        :data:`~.meta.BLOCK_BYTES`): each record read is checked against them.
    on_damage
        Removes the entry, when a block is found damaged.
    """

    index: AssetIndex
    manifest: IO[bytes]
    offsets: array
    blocks: bytes
    on_damage: Callable[[], bool]

    def close(self) -> None:
        """Close the cached manifest."""
        self.manifest.close()


@dataclass
class CachedManifest(CachedCopy):
    """The cached manifest, checked, open at its start, to parse it again.

    Attributes
    ----------
    manifest
        The manifest file (the caller reads and closes it).
    """

    manifest: IO[bytes]

    def close(self) -> None:
        """Close the cached manifest."""
        self.manifest.close()


Copy = TypeVar("Copy", bound=CachedCopy)
#: makes a cached copy of the checked ``meta.json`` and the entry's open files
#: (it takes the files it keeps out of the dict; the others are closed)
CopyMaker = Callable[[dict[str, Any], dict[str, IO[bytes]]], Copy]
