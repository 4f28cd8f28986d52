"""The cache of downloaded manifests and of their indexes: how entries are stored.

One cache entry per URL, in ``{cache}/manifests/{sha256(url)[:32]}/``:

``meta.json``
    The URL, the server's ``ETag``/``Last-Modified``, and the names, sizes,
    CRC-32s and record count of the two files below.  Written last, by rename.
``assets-{token}.jsonld``
    The manifest as downloaded (after ``Content-Encoding`` decoding).
``index-{token}.txt``
    The parsed index: ``path NUL date NUL size NUL content-id NUL`` per asset, in
    manifest order (paths, dates and ids never hold NUL; :mod:`.parse` checks).

Files are written under temporary names and renamed; each download gets a new
``token``, so ``meta.json`` always names a consistent pair and concurrent runs never
see a half-written file.  An entry whose files are missing, the wrong size or fail
their CRC is reported, dropped and fetched again.  The cache is an optimisation: a
cache that cannot be written is logged and the manifest is used anyway.

The conditional fetch that uses an entry is :mod:`.load`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
import json
import logging
import os
from pathlib import Path
import secrets
import threading
import time
from typing import IO, Any
import zlib

from .._version import __version__
from .index import AssetIndex, IndexBuilder
from .parse import iter_file_chunks

lgr = logging.getLogger("dandi.compute")

CACHE_DIR_ENV = "DANDI_COMPUTE_CACHE_DIR"
#: bump when what the index holds, or how records are checked, changes
INDEX_FORMAT = 1
_STALE_TMP_SECONDS = 24 * 3600
_COMMIT_LOCK = threading.Lock()


def cache_directory() -> Path:
    """Return the cache's top directory.

    ``$DANDI_COMPUTE_CACHE_DIR`` when set, else the platform's user cache
    directory for ``dandi-compute`` (next to dandi's own, e.g.
    ``~/.cache/dandi-compute`` on Linux).
    """
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("dandi-compute", "dandi"))


class _CorruptEntry(Exception):
    """A cache entry failed its checks (caught by :meth:`CacheEntry.read`)."""


@dataclass
class CachedCopy:
    """What a sound cache entry offers a conditional request.

    Attributes
    ----------
    meta
        The entry's checked ``meta.json`` (with the ``etag``/``last_modified`` to
        send).
    index
        The checked index, when it was asked for.
    manifest
        The cached manifest, open at its start and checked, when it was asked for
        (the caller closes it).
    """

    meta: dict[str, Any]
    index: AssetIndex | None = None
    manifest: IO[bytes] | None = None

    def close(self) -> None:
        """Close the cached manifest, if it was opened."""
        if self.manifest is not None:
            self.manifest.close()


class CacheEntry:
    """The cached manifest and index of one URL.

    Parameters
    ----------
    url
        The manifest's URL.
    root
        The cache directory (default: :func:`cache_directory`).
    """

    def __init__(self, url: str, root: Path | None = None) -> None:
        self.url = url
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]
        self.directory = (root or cache_directory()) / "manifests" / key

    def _load_meta(self) -> dict[str, Any] | None:
        """Return the entry's checked ``meta.json``, or None when there is none."""
        path = self.directory / "meta.json"
        try:
            meta = json.loads(path.read_bytes())
            ok = (
                meta["url"] == self.url
                and meta["format"] == INDEX_FORMAT
                and (meta.get("etag") or meta.get("last_modified"))
                and all(
                    isinstance(meta[part]["file"], str)
                    and "/" not in meta[part]["file"]
                    and isinstance(meta[part]["size"], int)
                    and isinstance(meta[part]["crc32"], int)
                    for part in ("manifest", "index")
                )
                and isinstance(meta["index"]["count"], int)
                and isinstance(meta["index"]["unique"], bool)
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise _CorruptEntry(f"unreadable {path}: {exc}") from exc
        if not ok:
            raise _CorruptEntry(f"{path} does not describe {self.url}")
        return meta

    def _checked_bytes(self, meta: dict[str, Any], part: str) -> bytes:
        path = self.directory / meta[part]["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _CorruptEntry(f"cannot read {path}: {exc}") from exc
        if len(data) != meta[part]["size"] or zlib.crc32(data) != meta[part]["crc32"]:
            raise _CorruptEntry(f"{path} is damaged (size or CRC-32 differ)")
        return data

    def _read_index(self, meta: dict[str, Any]) -> AssetIndex:
        """Return the cached index, checked (size, CRC-32, row count)."""
        data = self._checked_bytes(meta, "index")
        count = meta["index"]["count"]
        if data.count(b"\x00") != 4 * count or (count and data[-1] != 0):
            raise _CorruptEntry(f"index of {self.url} does not hold {count} rows")
        return AssetIndex(data, count, meta["index"]["unique"])

    def _open_manifest(self, meta: dict[str, Any]) -> IO[bytes]:
        """Open the cached manifest after checking its size and CRC-32."""
        path = self.directory / meta["manifest"]["file"]
        try:
            f = open(path, "rb")  # noqa: SIM115 - returned to the caller
        except OSError as exc:
            raise _CorruptEntry(f"cannot read {path}: {exc}") from exc
        crc, size = 0, 0
        for chunk in iter_file_chunks(f, 1 << 20):
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
        if size != meta["manifest"]["size"] or crc != meta["manifest"]["crc32"]:
            f.close()
            raise _CorruptEntry(f"{path} is damaged (size or CRC-32 differ)")
        f.seek(0)
        return f

    def read(self, manifest: bool = False) -> CachedCopy | None:
        """Return the entry's checked index (or manifest), or None.

        A damaged entry -- files missing, of the wrong size, failing their CRC-32,
        or a ``meta.json`` that does not describe this URL -- is logged, removed,
        and answered by None, as if there was none.

        Parameters
        ----------
        manifest
            Open the cached manifest instead of reading the index (to parse the
            full records again).

        Returns
        -------
        CachedCopy or None
        """
        try:
            meta = self._load_meta()
            if meta is None:
                return None
            if manifest:
                return CachedCopy(meta, manifest=self._open_manifest(meta))
            return CachedCopy(meta, index=self._read_index(meta))
        except _CorruptEntry as exc:
            lgr.warning(
                "Cache entry of %s is damaged (%s): downloading again", self.url, exc
            )
            self.clear()
            return None

    def clear(self) -> None:
        """Remove the entry's files (not the lock, nor others' fresh .tmp files)."""
        self.remove_except({"lock"})

    def remove_except(self, keep: set[str]) -> None:
        """Remove the entry's files but ``keep`` and fresh temporary files."""
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return
        now = time.time()
        for entry in entries:
            if entry.name in keep:
                continue
            try:
                if (
                    entry.name.endswith(".tmp")
                    and now - entry.stat().st_mtime < _STALE_TMP_SECONDS
                ):
                    continue  # a concurrent download is writing it
                os.unlink(entry.path)
            except OSError as exc:
                lgr.debug("Could not remove %s: %s", entry.path, exc)


class CacheWriter:
    """Writes a new cache entry while its manifest is downloaded and parsed.

    The manifest's bytes come through :meth:`write_manifest`, the index rows
    through ``builder`` (its ``sink``).  A failure to write disables the writer
    (logged); it never fails the parse.
    """

    def __init__(self, entry: CacheEntry, builder: IndexBuilder) -> None:
        self.entry, self.builder = entry, builder
        token = secrets.token_hex(8)
        self.names = {
            "manifest": f"assets-{token}.jsonld",
            "index": f"index-{token}.txt",
        }
        self.crc = {"manifest": 0, "index": 0}
        self.size = {"manifest": 0, "index": 0}
        self._files: dict[str, IO[bytes]] = {}
        try:
            entry.directory.mkdir(parents=True, exist_ok=True)
            for part, name in self.names.items():
                tmp = entry.directory / (name + ".tmp")
                self._files[part] = open(tmp, "wb")  # noqa: SIM115
        except OSError as exc:
            self._fail(exc)
        else:
            builder.sink = self.write_index

    @property
    def active(self) -> bool:
        """True while the writer still writes."""
        return bool(self._files)

    def _fail(self, exc: OSError) -> None:
        lgr.warning("Not caching %s: %s", self.entry.url, exc)
        self.abort()

    def _write(self, part: str, data: bytes) -> None:
        if not self._files:
            return
        try:
            self._files[part].write(data)
        except OSError as exc:
            self._fail(exc)
            return
        self.crc[part] = zlib.crc32(data, self.crc[part])
        self.size[part] += len(data)

    def write_manifest(self, chunk: bytes) -> None:
        """Append downloaded bytes to the cached manifest."""
        self._write("manifest", chunk)

    def write_index(self, chunk: bytes) -> None:
        """Append index rows to the cached index."""
        self._write("index", chunk)

    def commit(self, etag: str | None, last_modified: str | None) -> None:
        """Put the entry in place: rename the files, then write ``meta.json``."""
        self.builder.flush()
        self.builder.sink = None
        if not self._files:
            return
        import fasteners  # a dependency of dandi

        directory = self.entry.directory
        try:
            for f in self._files.values():
                f.close()
            meta: dict[str, Any] = {
                "format": INDEX_FORMAT,
                "url": self.entry.url,
                "etag": etag,
                "last_modified": last_modified,
                "written": time.time(),
                "plugin_version": __version__,
            }
            for part, name in self.names.items():
                meta[part] = {
                    "file": name,
                    "size": self.size[part],
                    "crc32": self.crc[part],
                }
            meta["index"]["count"] = self.builder.count
            meta["index"]["unique"] = self.builder.unique
            tmp = directory / f"meta-{secrets.token_hex(4)}.json.tmp"
            tmp.write_text(json.dumps(meta, indent=1))
            # one writer at a time puts its files in place and removes the others'
            # (the file lock is per process: threads take the thread lock first)
            with _COMMIT_LOCK, fasteners.InterProcessLock(str(directory / "lock")):
                for name in self.names.values():
                    os.replace(directory / (name + ".tmp"), directory / name)
                self._files = {}
                os.replace(tmp, directory / "meta.json")
                self.entry.remove_except({*self.names.values(), "meta.json", "lock"})
        except OSError as exc:
            self._fail(exc)
            return
        lgr.debug(
            "Cached %s (%d assets) in %s", self.entry.url, self.builder.count, directory
        )

    def abort(self) -> None:
        """Drop the files written so far."""
        self.builder.sink = None
        files, self._files = self._files, {}
        for part, f in files.items():
            try:
                f.close()
                os.unlink(self.entry.directory / (self.names[part] + ".tmp"))
            except OSError:
                pass
