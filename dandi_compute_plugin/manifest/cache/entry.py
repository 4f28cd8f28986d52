"""The cache of downloaded manifests and of their indexes: how entries are stored.

One cache entry per URL, in ``{cache}/manifests/{sha256(url)[:32]}/``:

``meta.json``
    The URL, the server's ``ETag``/``Last-Modified``, when the entry was written,
    the names, sizes and SHA-256 digests of the three files below, and the
    manifest's record count and total ``contentSize``; sealed by the SHA-256 of
    all that (:mod:`.meta`).  Written last, by rename; its modification
    time is the entry's last use (touched whenever the entry answers a request).
``assets-{token}.jsonld``
    The manifest as downloaded (after ``Content-Encoding`` decoding).
``index-{token}.txt``
    The parsed index: ``path NUL date NUL size NUL content-id NUL`` per asset, in
    manifest order (paths, dates and ids never hold NUL:
    :mod:`~dandi_compute_plugin.manifest.checks` sees to it).
``blocks-{token}.bin``
    The SHA-256 of each block of the manifest (:data:`~.meta.BLOCK_BYTES`).
``offsets-{token}.bin``
    The byte offset of each record in the manifest, 64-bit integers in the
    machine's byte order (named in ``meta.json``): the full records are read
    from the cached manifest through them
    (:mod:`~dandi_compute_plugin.manifest.stored`).
``lock``
    The entry's inter-process lock (:mod:`.files`).

Files are written as temporaries in the entry's directory and renamed; each
download gets a new ``token``, so ``meta.json`` always names a consistent pair and
concurrent runs never see a half-written file.  A failed write (a full disk
included) removes its temporaries at once; a killed run's are removed by the next
run that uses the entry, while a live run's are never touched (how the two are
told apart: :mod:`.files`).

Nothing is read from an entry unchecked: ``meta.json`` is checked first (its seal,
every field), then every file that a use reads is checked against its SHA-256
before its first byte is used, and the files it does not read must be there with
their sizes.  Each use has its method, which gives one type:
:meth:`CacheEntry.read_rows` (the index, to stream a listing),
:meth:`CacheEntry.read_index` (the index, offsets and block digests, for the index
by content id), :meth:`CacheEntry.read_manifest` (the manifest, for the full
records) and :meth:`CacheEntry.read_summary` (``meta.json`` alone).  The index
by content id reads records on demand: the manifest's blocks that hold a record
are checked against their digests (the ``blocks`` file) before the record is
decoded.  An entry that fails is *damaged*: reported (a warning), dropped and
fetched again (a record found damaged once loaded is an error, and the entry is
dropped).  The directories and files are private and reached without following
links (:mod:`.dirs`): a cache that is not is never deleted or trusted, the run
goes on without it (warned once).  The cache is an optimisation: a cache that
cannot be written is logged and the manifest is used anyway.

Writing an entry is :mod:`.writer`'s, listing and clearing entries
:mod:`.listing`'s; the conditional fetch that uses the cache is
:mod:`dandi_compute_plugin.manifest.fetch`.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
import hashlib
import json
import logging
import os
from pathlib import Path
import threading
import time
from typing import IO, Any

from ...defaults import DEFAULT_TIMEOUT, cache_directory_from_env
from ..index import AssetIndex
from .copies import CachedCopy, CachedIndex, CachedManifest, CachedRows, Copy, CopyMaker
from .dirs import EntryDirectory, UnsafeCacheError, open_entry_directory
from .files import (
    LockTimeout,
    entry_lock,
    remove_stale_temporaries,
    stale_candidates,
    sweep,
)
from .meta import PARTS, meta_problem

lgr = logging.getLogger("dandi.compute")

META_NAME = "meta.json"
ENTRIES_NAME = "manifests"
#: a ``meta.json`` is a few hundred bytes: a larger one is damaged, not read
MAX_META_BYTES = 1 << 16


def cache_directory() -> Path:
    """Return the cache's top directory.

    ``$DANDI_COMPUTE_CACHE_DIR`` when set, else the platform's user cache
    directory for ``dandi-compute`` (next to dandi's own, e.g.
    ``~/.cache/dandi-compute`` on Linux).
    """
    env = cache_directory_from_env()
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("dandi-compute", "dandi"))


def entry_key(url: str) -> str:
    """The name of the directory of ``url``'s cache entry."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class _Replaced(Exception):
    """The entry to remove was replaced by a concurrent run's meanwhile."""


class _CorruptEntry(Exception):
    """A cache entry failed its checks (caught by :meth:`CacheEntry.read`)."""

    def __init__(self, message: str, outdated: bool = False) -> None:
        super().__init__(message)
        self.outdated = outdated


def _check_file(
    directory: EntryDirectory, meta: dict[str, Any], part: str, verify: bool
) -> IO[bytes]:
    """Open the file of ``part``, check its size (and with ``verify`` its
    SHA-256; then it is left at its start)."""
    name = meta[part]["file"]
    shown = directory.path / name
    try:
        f = directory.open_read(name)
    except UnsafeCacheError:
        raise
    except OSError as exc:
        raise _CorruptEntry(f"cannot read {shown}: {exc.strerror or exc}") from exc
    try:
        if os.fstat(f.fileno()).st_size != meta[part]["size"]:
            raise _CorruptEntry(f"{shown} is damaged (its size differs)")
        if verify:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
            if digest != meta[part]["sha256"]:
                raise _CorruptEntry(f"{shown} is damaged (its SHA-256 differs)")
            f.seek(0)
    except BaseException:
        f.close()
        raise
    return f


class CacheEntry:
    """The cached manifest and index of one URL.

    Parameters
    ----------
    url
        The manifest's URL.
    root
        The cache directory (default: :func:`cache_directory`).
    lock_timeout
        Seconds to wait at most for the entry's lock, all its uses together
        (see :meth:`lock`); None:
        :data:`~dandi_compute_plugin.defaults.DEFAULT_TIMEOUT`.
    dandiset
        The (dandiset id, version) the manifest is of, recorded when written.
    """

    def __init__(
        self,
        url: str,
        root: Path | None = None,
        lock_timeout: float | None = None,
        dandiset: tuple[str, str] | None = None,
    ) -> None:
        self.url = url
        self.dandiset = dandiset
        self.root = root if root is not None else cache_directory()
        self.key = entry_key(url)
        self.directory = self.root / ENTRIES_NAME / self.key
        self.lock_timeout = DEFAULT_TIMEOUT if lock_timeout is None else lock_timeout
        self._wait_left = self.lock_timeout
        self._waits = threading.Lock()

    @contextmanager
    def lock(self, directory: EntryDirectory) -> Iterator[None]:
        """Hold the entry's lock (:func:`~.files.entry_lock`).

        Every wait for it counts against one allowance of :attr:`lock_timeout`
        seconds, shared by all uses of this entry (tidying, writing, dropping):
        a run that met a held lock once does not wait a full timeout again at
        each step.  Once the allowance is spent, the lock is tried once more
        without waiting.

        Raises
        ------
        LockTimeout
            When the lock is held past what is left of the allowance.
        OSError
            As :func:`~.files.entry_lock`.
        """
        with self._waits:
            left = self._wait_left
        start = time.monotonic()
        with ExitStack() as held:
            try:
                held.enter_context(entry_lock(directory, left))
            except LockTimeout as exc:
                if left > 0:
                    raise
                raise LockTimeout(
                    f"{exc} (this run's {self.lock_timeout:g} s of waiting for "
                    "the cache entry's lock are spent)"
                ) from None
            finally:
                waited = time.monotonic() - start
                with self._waits:
                    self._wait_left = max(0.0, self._wait_left - waited)
            yield

    def open_directory(self, create: bool = False) -> EntryDirectory:
        """Open the entry's directory, every directory on the way private.

        Raises
        ------
        UnsafeCacheError
            When one of them is a link, another user's or writable by others.
        FileNotFoundError
            When it is missing (and not ``create``).
        """
        return open_entry_directory(self.root, (ENTRIES_NAME, self.key), create)

    def _load_meta(self, raw: bytes) -> dict[str, Any]:
        """Return the entry's checked ``meta.json`` of the bytes ``raw``."""
        path = self.directory / META_NAME
        try:
            meta = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise _CorruptEntry(f"unreadable {path}: {exc}") from exc
        problem = meta_problem(meta)
        if problem is not None and problem.startswith("format"):
            raise _CorruptEntry(f"{path} has {problem}", outdated=True)
        if problem is not None:
            raise _CorruptEntry(f"{path} has {problem}")
        if meta["url"] != self.url:
            raise _CorruptEntry(f"{path} does not describe {self.url}")
        return meta

    def _copy(
        self,
        directory: EntryDirectory,
        meta: dict[str, Any],
        reads: tuple[str, ...],
        make: CopyMaker[Copy],
    ) -> Copy:
        """The copy that ``make`` makes of the files, those of ``reads``
        checked against their SHA-256; the others must be there, of their size."""
        files: dict[str, IO[bytes]] = {}
        try:
            for part in PARTS:
                files[part] = _check_file(directory, meta, part, part in reads)
            return make(meta, files)
        finally:
            for f in files.values():
                f.close()

    def _indexed(
        self, meta: dict[str, Any], files: dict[str, IO[bytes]]
    ) -> CachedIndex:
        return CachedIndex(
            meta,
            index=self._index_of(files["index"].read(), meta),
            offsets=array("q", files["offsets"].read()),
            blocks=files["blocks"].read(),
            manifest=files.pop("manifest"),
            on_damage=partial(self.discard, meta["check"]),
        )

    def _index_of(self, data: bytes, meta: dict[str, Any]) -> AssetIndex:
        count = meta["index"]["count"]
        if data.count(b"\x00") != 4 * count or (count and data[-1] != 0):
            raise _CorruptEntry(f"index of {self.url} does not hold {count} rows")
        return AssetIndex(data, count, meta["index"]["unique"])

    def _meta_bytes(self, directory: EntryDirectory) -> bytes | None:
        try:
            with directory.open_read(META_NAME) as f:
                raw = f.read(MAX_META_BYTES + 1)
        except FileNotFoundError:
            return None
        except UnsafeCacheError:
            raise
        except OSError as exc:
            path = self.directory / META_NAME
            raise _CorruptEntry(f"unreadable {path}: {exc}") from exc
        if len(raw) > MAX_META_BYTES:
            raise _CorruptEntry(f"{self.directory / META_NAME} is too large")
        return raw

    def read_summary(self) -> CachedCopy | None:
        """The checked ``meta.json`` alone (the files must be there, of their
        size), or None: see :meth:`_read`."""
        return self._read((), lambda meta, files: CachedCopy(meta))

    def read_rows(self) -> CachedRows | None:
        """The checked index, open to stream its rows, or None: see :meth:`_read`."""
        return self._read(
            ("index",), lambda m, files: CachedRows(m, files.pop("index"))
        )

    def read_index(self) -> CachedIndex | None:
        """The checked index, offsets and block digests, and the open manifest to
        read full records from (its blocks checked as they are read), or None:
        see :meth:`_read`."""
        return self._read(("index", "offsets", "blocks"), self._indexed)

    def read_manifest(self) -> CachedManifest | None:
        """The checked manifest, open to parse it again, or None: see
        :meth:`_read`."""
        return self._read(
            ("manifest",), lambda m, files: CachedManifest(m, files.pop("manifest"))
        )

    def _read(self, reads: tuple[str, ...], make: CopyMaker[Copy]) -> Copy | None:
        """Return the entry's copy that ``make`` makes, or None.

        A damaged entry -- a ``meta.json`` that does not describe this URL or
        fails its checks, files missing, of the wrong size or failing their
        SHA-256 -- is logged (a warning), removed, and answered by None, as if
        there was none; so is (logged quietly) an entry written in another
        format.  Stale temporaries of killed runs are removed first.

        Parameters
        ----------
        reads
            The parts (:data:`~.meta.PARTS`) checked against their SHA-256
            before ``make`` gets them.
        make
            Makes the copy of the checked ``meta.json`` and the open files.

        Returns
        -------
        The copy, or None

        Raises
        ------
        UnsafeCacheError
            When the entry, a directory above it, or one of its files is not
            private to this user (nothing is then read, removed or written).
        """
        try:
            directory = self.open_directory()
        except FileNotFoundError:
            return None
        with directory:
            self.tidy(directory)
            raw = None
            try:
                raw = self._meta_bytes(directory)
                if raw is None:
                    return None
                return self._copy(directory, self._load_meta(raw), reads, make)
            except _CorruptEntry as exc:
                self._report(directory, raw, exc)
                return None

    def _report(
        self, directory: EntryDirectory, judged: bytes | None, exc: _CorruptEntry
    ) -> None:
        if not self._drop(directory, judged):
            # a concurrent run put a new entry in place (and removed the old
            # files) while this one was read: no damage, just a lost race
            lgr.debug("Cache entry of %s was replaced while read", self.url)
            return
        if exc.outdated:  # written by another version: nothing to warn about
            log, state = lgr.info, "outdated"
        else:
            log, state = lgr.warning, "damaged"
        log("Cache entry of %s is %s (%s): downloading again", self.url, state, exc)

    def _drop(self, directory: EntryDirectory, judged: bytes | None) -> bool:
        """Remove the entry, unless its ``meta.json`` is no longer the one judged
        (then return False: a concurrent run has just put a new entry in place).
        When its lock cannot be had in time, the entry stays (logged): True."""
        try:
            self._remove_if_judged(directory, judged)
        except _Replaced:
            return False
        except OSError as exc:
            lgr.debug("Could not remove the cache entry of %s: %s", self.url, exc)
        return True

    def _remove_if_judged(
        self, directory: EntryDirectory, judged: bytes | None
    ) -> None:
        """Remove the entry if its ``meta.json`` is still ``judged``.

        Raises
        ------
        _Replaced
            When it is not (a concurrent run has put a new entry in place).
        OSError
            When the lock cannot be had (:class:`~.files.LockTimeout`).
        """
        with self.lock(directory):
            try:
                now = self._meta_bytes(directory)
            except (_CorruptEntry, OSError):
                now = None
            if now != judged:
                raise _Replaced
            sweep(directory, keep=())

    def discard(self, check: str) -> bool:
        """Remove the entry, found damaged while in use, if it is still the one
        whose ``meta.json`` is sealed by ``check`` (never a newer one).

        Returns
        -------
        bool
            True when that entry is no longer in the cache (removed now, or
            replaced by a newer one); False when it stays (its lock was held
            past the timeout, or it could not be removed: logged).
        """
        try:
            with self.open_directory() as directory:
                raw = self._meta_bytes(directory)
                meta = json.loads(raw) if raw is not None else None
                if isinstance(meta, dict) and meta.get("check") == check:
                    self._remove_if_judged(directory, raw)
        except _Replaced:
            return True
        except (OSError, ValueError, _CorruptEntry) as exc:
            lgr.debug("Could not remove the cache entry of %s: %s", self.url, exc)
            return False
        return True

    def mark_used(self) -> None:
        """Record that the entry answered a request now (``meta.json``'s mtime)."""
        try:
            with self.open_directory() as directory:
                directory.touch(META_NAME)
        except OSError as exc:
            lgr.debug("Could not record the use of %s: %s", self.directory, exc)

    def tidy(self, directory: EntryDirectory) -> None:
        """Remove the stale temporaries of killed runs (never a live run's)."""
        if not stale_candidates(directory):
            return  # the usual case: no lock to take
        try:
            with self.lock(directory):
                remove_stale_temporaries(directory)
        except LockTimeout as exc:
            lgr.debug("Not tidying %s now: %s", self.directory, exc)
        except OSError as exc:
            lgr.debug("Could not tidy %s: %s", self.directory, exc)
