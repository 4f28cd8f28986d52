"""The cache of downloaded manifests and of their indexes: how entries are stored.

One cache entry per URL, in ``{cache}/manifests/{sha256(url)[:32]}/``:

``meta.json``
    The URL, the server's ``ETag``/``Last-Modified``, when the entry was written,
    the names, sizes and CRC-32s of the two files below, and the manifest's
    record count and total ``contentSize`` (so that a summary needs neither
    file).  Written last, by rename; its modification time is the entry's last
    use (touched whenever the entry answers a request).
``assets-{token}.jsonld``
    The manifest as downloaded (after ``Content-Encoding`` decoding).
``index-{token}.txt``
    The parsed index: ``path NUL date NUL size NUL content-id NUL`` per asset, in
    manifest order (paths, dates and ids never hold NUL; :mod:`.checks` sees to it).
``offsets-{token}.bin``
    The byte offset of each record in the manifest, 64-bit integers in the
    machine's byte order (named in ``meta.json``): the full records are read
    from the cached manifest through them (:mod:`.stored`).
``lock``
    The entry's inter-process lock (:mod:`.cache_files`).

Files are written as temporaries in the entry's directory and renamed; each
download gets a new ``token``, so ``meta.json`` always names a consistent pair and
concurrent runs never see a half-written file.  A failed write (a full disk
included) removes its temporaries at once; a killed run's are removed by the next
run that uses the entry, while a live run's are never touched (how the two are
told apart: :mod:`.cache_files`).  An entry whose files are missing, the wrong
size or fail their CRC is reported, dropped and fetched again.  The cache is an
optimisation: a cache that cannot be written is logged and the manifest is used
anyway.

Writing an entry is :mod:`.cache_writer`'s, the conditional fetch that uses it
:mod:`.cache_fetch`'s, listing and clearing entries :mod:`.cache_entries`'.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
import hashlib
import json
import logging
import os
from pathlib import Path
import sys
from typing import IO, Any, Literal
import zlib

from .cache_files import (
    entry_lock,
    remove_stale_temporaries,
    stale_candidates,
    sweep,
)
from .index import AssetIndex
from .parse import iter_file_chunks

lgr = logging.getLogger("dandi.compute")

CACHE_DIR_ENV = "DANDI_COMPUTE_CACHE_DIR"
META_NAME = "meta.json"
#: bump when what the index or ``meta.json`` holds, or how records are checked,
#: changes: entries of another format are fetched again
INDEX_FORMAT = 3
#: the files of an entry besides ``meta.json``
PARTS = ("manifest", "index", "offsets")
#: what a caller needs of a cached copy: only its index ``rows``; the ``index``
#: with the offsets and the open manifest, to read full records on demand; the
#: full ``records`` (the cached manifest parsed again); or only the ``summary``
#: (record count and total size, from ``meta.json``)
Want = Literal["rows", "index", "records", "summary"]


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


def entries_directory(root: Path | None = None) -> Path:
    """The directory holding one subdirectory per cache entry."""
    return (root or cache_directory()) / "manifests"


def entry_key(url: str) -> str:
    """The name of the directory of ``url``'s cache entry."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]


def meta_problem(meta: Any) -> str | None:
    """What is wrong with a parsed ``meta.json``, or None when it is sound.

    Only its shape is checked, not that its files are there.
    """
    try:
        if meta["format"] != INDEX_FORMAT:
            return f"format {meta['format']!r}, not {INDEX_FORMAT}"
        ok = (
            isinstance(meta["url"], str)
            and (meta.get("etag") or meta.get("last_modified"))
            and all(
                isinstance(meta[part]["file"], str)
                and "/" not in meta[part]["file"]
                and isinstance(meta[part]["size"], int)
                and isinstance(meta[part]["crc32"], int)
                for part in PARTS
            )
            and meta["offsets"].get("byteorder") == sys.byteorder
            and isinstance(meta["index"]["count"], int)
            and isinstance(meta["index"]["unique"], bool)
            and isinstance(meta["index"]["total_bytes"], int)
            and isinstance(meta["index"]["assets"], int)
            and isinstance(meta["written"], int | float)
        )
    except (KeyError, TypeError) as exc:
        return f"no valid {exc}"
    return None if ok else "not a cache entry's description"


class _CorruptEntry(Exception):
    """A cache entry failed its checks (caught by :meth:`CacheEntry.read`)."""

    def __init__(self, message: str, outdated: bool = False) -> None:
        super().__init__(message)
        self.outdated = outdated


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
        The cached manifest, open at its start, when it was asked for (the
        caller closes it).
    offsets
        The byte offset of each record in ``manifest``, when the records are to
        be read from it.
    """

    meta: dict[str, Any]
    index: AssetIndex | None = None
    manifest: IO[bytes] | None = None
    offsets: array | None = None

    @property
    def summary(self) -> tuple[int, int, int]:
        """(records, assets, total ``contentSize``), from ``meta.json``: a
        repeated path is one asset, with its last record's size."""
        index = self.meta["index"]
        return index["count"], index["assets"], index["total_bytes"]

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
        self.directory = entries_directory(root) / entry_key(url)

    def _load_meta(self, raw: bytes) -> dict[str, Any]:
        """Return the entry's checked ``meta.json`` of the bytes ``raw``."""
        path = self.directory / META_NAME
        try:
            meta = json.loads(raw)
        except ValueError as exc:
            raise _CorruptEntry(f"unreadable {path}: {exc}") from exc
        problem = meta_problem(meta)
        if problem is not None and problem.startswith("format"):
            raise _CorruptEntry(f"{path} has {problem}", outdated=True)
        if problem is not None or meta["url"] != self.url:
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

    def _read_offsets(self, meta: dict[str, Any]) -> array:
        """Return the records' offsets, checked (size, CRC-32, count)."""
        offsets = array("q", self._checked_bytes(meta, "offsets"))
        if len(offsets) != meta["index"]["count"]:
            raise _CorruptEntry(f"offsets of {self.url} do not match its index")
        return offsets

    def _open_manifest(self, meta: dict[str, Any], check_crc: bool = True) -> IO[bytes]:
        """Open the cached manifest after checking its size and CRC-32 (or only
        its size: then each record read through it is checked, see
        :mod:`.stored`)."""
        path = self.directory / meta["manifest"]["file"]
        try:
            f = open(path, "rb")  # noqa: SIM115 - returned to the caller
        except OSError as exc:
            raise _CorruptEntry(f"cannot read {path}: {exc}") from exc
        if not check_crc:
            if os.fstat(f.fileno()).st_size != meta["manifest"]["size"]:
                f.close()
                raise _CorruptEntry(f"{path} is damaged (its size differs)")
            return f
        crc, size = 0, 0
        for chunk in iter_file_chunks(f, 1 << 20):
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
        if size != meta["manifest"]["size"] or crc != meta["manifest"]["crc32"]:
            f.close()
            raise _CorruptEntry(f"{path} is damaged (size or CRC-32 differ)")
        f.seek(0)
        return f

    def _copy(self, meta: dict[str, Any], want: Want) -> CachedCopy:
        if want == "summary":
            return CachedCopy(meta)
        if want == "records":
            return CachedCopy(meta, manifest=self._open_manifest(meta))
        copy = CachedCopy(meta, index=self._read_index(meta))
        if want == "index":
            copy.offsets = self._read_offsets(meta)
            copy.manifest = self._open_manifest(meta, check_crc=False)
        return copy

    def _meta_bytes(self) -> bytes | None:
        try:
            return (self.directory / META_NAME).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            path = self.directory / META_NAME
            raise _CorruptEntry(f"unreadable {path}: {exc}") from exc

    def read(self, want: Want = "rows") -> CachedCopy | None:
        """Return the entry's checked index (or manifest, or description), or None.

        A damaged entry -- files missing, of the wrong size, failing their CRC-32,
        or a ``meta.json`` that does not describe this URL -- is logged, removed,
        and answered by None, as if there was none; so is (logged quietly) an
        entry written in another format.  Stale temporaries of killed runs are
        removed first.

        Parameters
        ----------
        want
            What is read besides the checked ``meta.json`` (see :data:`Want`).

        Returns
        -------
        CachedCopy or None
        """
        self.tidy()
        raw = None
        try:
            raw = self._meta_bytes()
            if raw is None:
                return None
            return self._copy(self._load_meta(raw), want)
        except _CorruptEntry as exc:
            if not self._drop(raw):
                # a concurrent run put a new entry in place (and removed the old
                # files) while this one was read: no damage, just a lost race
                lgr.debug("Cache entry of %s was replaced while read", self.url)
                return None
            if exc.outdated:  # written by another version: nothing to warn about
                log, state = lgr.info, "outdated"
            else:
                log, state = lgr.warning, "damaged"
            log("Cache entry of %s is %s (%s): downloading again", self.url, state, exc)
            return None

    def _drop(self, judged: bytes | None) -> bool:
        """Remove the entry, unless its ``meta.json`` is no longer the one judged
        (then return False: a concurrent run has just put a new entry in place)."""
        try:
            with entry_lock(self.directory):
                try:
                    now = (self.directory / META_NAME).read_bytes()
                except OSError:
                    now = None
                if now != judged:
                    return False
                sweep(self.directory, keep=())
        except OSError as exc:
            lgr.debug("Could not remove the cache entry of %s: %s", self.url, exc)
        return True

    def mark_used(self) -> None:
        """Record that the entry answered a request now (``meta.json``'s mtime)."""
        try:
            os.utime(self.directory / META_NAME)
        except OSError as exc:
            lgr.debug("Could not record the use of %s: %s", self.directory, exc)

    def tidy(self) -> None:
        """Remove the stale temporaries of killed runs (never a live run's)."""
        if not stale_candidates(self.directory):
            return  # the usual case: no lock to take
        try:
            with entry_lock(self.directory):
                remove_stale_temporaries(self.directory)
        except OSError as exc:
            lgr.debug("Could not tidy %s: %s", self.directory, exc)
