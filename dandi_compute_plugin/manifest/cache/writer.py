"""Writing a cache entry while its manifest is downloaded and parsed.

The manifest's bytes and the index rows go to temporaries in the entry's
directory (:func:`~.files.open_temporary`), which are renamed into place,
``meta.json`` last, once the whole manifest has been parsed (the layout of an
entry: :mod:`.entry`).  Any failure -- a full disk, a lock that cannot be taken,
an exception in the parse -- removes the temporaries at once and leaves the entry
as it was; the manifest is used anyway.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import sys
import time
from typing import IO, Any

from ..._version import __version__
from ..index import TotalingIndexBuilder
from .dirs import EntryDirectory
from .entry import META_NAME, CacheEntry
from .files import (
    TMP_SUFFIX,
    close_temporary,
    forget_temporary,
    open_temporary,
    remove_stale_temporaries,
    sweep,
    unlink_quietly,
)
from .meta import BLOCK_BYTES, INDEX_FORMAT, seal

lgr = logging.getLogger("dandi.compute")


class CacheWriter:
    """Writes a new cache entry while its manifest is downloaded and parsed.

    The manifest's bytes come through :meth:`write_manifest`, the index rows
    through ``builder`` (its ``sink``).  A failure to write disables the writer
    and removes what it wrote (logged); it never fails the parse.
    """

    def __init__(self, entry: CacheEntry, builder: TotalingIndexBuilder) -> None:
        self.entry, self.builder = entry, builder
        token = secrets.token_hex(8)
        self.names = {
            "manifest": f"assets-{token}.jsonld",
            "index": f"index-{token}.txt",
            "offsets": f"offsets-{token}.bin",
            "blocks": f"blocks-{token}.bin",
        }
        self._block = hashlib.sha256()
        self._block_fill = 0
        self.digests = {part: hashlib.sha256() for part in self.names}
        self.size = dict.fromkeys(self.names, 0)
        self._files: dict[str, IO[bytes]] = {}
        self._directory: EntryDirectory | None = None
        #: True once the entry is in place
        self.committed = False
        try:
            self._directory = directory = entry.open_directory(create=True)
            with entry.lock(directory):
                # a killed run's leftovers go before this run adds its own
                remove_stale_temporaries(directory)
                for part in self.names:
                    self._files[part] = open_temporary(directory, self._tmp(part))
        except OSError as exc:
            self._fail(exc)
        else:
            builder.sink = self.write_index
            builder.offsets_sink = self.write_offsets

    def _tmp(self, part: str) -> str:
        return self.names[part] + TMP_SUFFIX

    @property
    def active(self) -> bool:
        """True while the writer still writes."""
        return bool(self._files)

    def _fail(self, exc: OSError) -> None:
        lgr.warning("Not caching %s: %s", self.entry.url, exc)
        self.abort()

    def _write(self, part: str, data: bytes) -> None:
        f = self._files.get(part)
        if f is None:
            return
        try:
            f.write(data)
        except (OSError, ValueError) as exc:  # ValueError: aborted by another thread
            if self._files and isinstance(exc, OSError):
                self._fail(exc)
            return
        self.digests[part].update(data)
        self.size[part] += len(data)

    def write_manifest(self, chunk: bytes) -> None:
        """Append downloaded bytes to the cached manifest (and digest them by
        block)."""
        self._write("manifest", chunk)
        if not self._files:
            return
        view = memoryview(chunk)
        while view:
            part = view[: BLOCK_BYTES - self._block_fill]
            self._block.update(part)
            self._block_fill += len(part)
            view = view[len(part) :]
            if self._block_fill == BLOCK_BYTES:
                self._end_block()

    def _end_block(self) -> None:
        self._write("blocks", self._block.digest())
        self._block, self._block_fill = hashlib.sha256(), 0

    def write_index(self, chunk: bytes) -> None:
        """Append index rows to the cached index."""
        self._write("index", chunk)

    def write_offsets(self, chunk: bytes) -> None:
        """Append records' offsets to the cached offsets."""
        self._write("offsets", chunk)

    def _meta(self, etag: str | None, last_modified: str | None) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "format": INDEX_FORMAT,
            "url": self.entry.url,
            "etag": etag,
            "last_modified": last_modified,
            "written": time.time(),
            "plugin_version": __version__,
        }
        if self.entry.dandiset is not None:
            meta["dandiset"] = list(self.entry.dandiset)
        for part, name in self.names.items():
            size, digest = self.size[part], self.digests[part].hexdigest()
            meta[part] = {"file": name, "size": size, "sha256": digest}
        tally = self.builder.tally
        meta["index"]["count"] = self.builder.count
        meta["index"]["unique"] = self.builder.unique
        meta["index"]["assets"] = tally.assets
        meta["index"]["total_bytes"] = tally.total_bytes
        meta["offsets"]["byteorder"] = sys.byteorder
        return seal(meta)

    def commit(self, etag: str | None, last_modified: str | None) -> None:
        """Put the entry in place: rename the files, then write ``meta.json``."""
        self.builder.flush()
        self.builder.sink = self.builder.offsets_sink = None
        if not self._files:
            return
        if self._block_fill:
            self._end_block()
        try:
            for f in list(self._files.values()):
                f.flush()  # a full disk shows here, before anything is renamed
            self._put_in_place(self._meta(etag, last_modified))
        except OSError as exc:
            self._fail(exc)
            return
        except BaseException:
            self.abort()
            raise
        lgr.debug(
            "Cached %s (%d assets) in %s",
            self.entry.url,
            self.builder.count,
            self.entry.directory,
        )

    def _put_in_place(self, meta: dict[str, Any]) -> None:
        """Rename the files and write ``meta.json``; on failure remove them all."""
        directory = self._directory
        assert directory is not None
        meta_tmp = f"meta-{secrets.token_hex(4)}.json{TMP_SUFFIX}"
        placed: list[str] = []
        # one writer at a time puts its files in place and removes the others';
        # under the lock nobody sweeps, so the meta temporary needs no lock of its own
        with self.entry.lock(directory):
            try:
                with directory.create(meta_tmp) as out:
                    out.write(json.dumps(meta, indent=1).encode("utf-8"))
                for f in self._files.values():
                    f.close()
                for part, name in self.names.items():
                    directory.replace(self._tmp(part), name)
                    placed.append(name)
                directory.replace(meta_tmp, META_NAME)
            except BaseException:
                for name in (meta_tmp, *placed):
                    unlink_quietly(directory, name)
                raise
            files, self._files = self._files, {}
            for part in files:
                forget_temporary(self._tmp(part))
            sweep(directory, keep={*self.names.values(), META_NAME})
            self.committed = True

    def open_committed(self) -> IO[bytes] | None:
        """The cached manifest just put in place, open for reading, or None."""
        if not self.committed or self._directory is None:
            return None
        try:
            return self._directory.open_read(self.names["manifest"])
        except OSError:
            return None

    def close(self) -> None:
        """Close the entry's directory (once committed or aborted)."""
        if self._directory is not None:
            self._directory.close()
            self._directory = None

    def abort(self) -> None:
        """Drop the files written so far (also on a full disk)."""
        self.builder.sink = self.builder.offsets_sink = None
        files, self._files = self._files, {}
        directory = self._directory
        for part, f in files.items():
            if directory is not None:
                close_temporary(f, directory, self._tmp(part))
        self.close()
