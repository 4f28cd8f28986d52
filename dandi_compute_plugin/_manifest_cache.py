"""Fetching manifests over HTTP, and the cache of manifests and their indexes.

One cache entry per URL, in ``{cache}/manifests/{sha256(url)[:32]}/``:

``meta.json``
    The URL, the server's ``ETag``/``Last-Modified``, and the names, sizes,
    CRC-32s and record count of the two files below.  Written last, by rename.
``assets-{token}.jsonld``
    The manifest as downloaded (after ``Content-Encoding`` decoding).
``index-{token}.txt``
    The parsed index: ``path NUL date NUL size NUL content-id NUL`` per asset, in
    manifest order (paths, dates and ids never hold NUL; ``manifest`` checks).

Files are written under temporary names and renamed; each download gets a new
``token``, so ``meta.json`` always names a consistent pair and concurrent runs never
see a half-written file.  An entry whose files are missing, the wrong size or fail
their CRC is reported, dropped and fetched again.  The cache is an optimisation: a
cache that cannot be written is logged and the manifest is used anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import hashlib
import json
import logging
import os
from pathlib import Path
import secrets
import time
from typing import IO, Any
import zlib

from . import __version__
from ._manifest_parse import ChunkReader, iter_file_chunks, parse_manifest
from .manifest import (
    AssetMetadata,
    ManifestUnavailableError,
    ProgressCallback,
    _Opened,
)

lgr = logging.getLogger("dandi.compute")

CACHE_DIR_ENV = "DANDI_COMPUTE_CACHE_DIR"
#: bump when what the index holds, or how records are checked, changes
INDEX_FORMAT = 1
_ROWS_PER_FLUSH = 4096
_STALE_TMP_SECONDS = 24 * 3600


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


class CacheCorruptError(Exception):
    """A cache entry failed its checks."""


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

    def load_meta(self) -> dict[str, Any] | None:
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
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CacheCorruptError(f"unreadable {path}: {exc}") from exc
        if not ok:
            raise CacheCorruptError(f"{path} does not describe {self.url}")
        return meta

    def _checked_bytes(self, meta: dict[str, Any], part: str) -> bytes:
        path = self.directory / meta[part]["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CacheCorruptError(f"cannot read {path}: {exc}") from exc
        if len(data) != meta[part]["size"] or zlib.crc32(data) != meta[part]["crc32"]:
            raise CacheCorruptError(f"{path} is damaged (size or CRC-32 differ)")
        return data

    def read_index(self, meta: dict[str, Any]) -> list[str]:
        """Return the cached index as flat rows ``[path, date, size, id, ...]``."""
        data = self._checked_bytes(meta, "index")
        try:
            rows = data.decode("utf-8").split("\x00")
        except UnicodeDecodeError as exc:
            raise CacheCorruptError(f"index of {self.url}: {exc}") from exc
        count = meta["index"]["count"]
        if len(rows) != 4 * count + 1 or rows.pop() != "":
            raise CacheCorruptError(f"index of {self.url} does not hold {count} rows")
        if not all(size.isdigit() for size in rows[2::4]):
            raise CacheCorruptError(f"index of {self.url} has a bad size")
        return rows

    def open_manifest(self, meta: dict[str, Any]) -> IO[bytes]:
        """Open the cached manifest after checking its size and CRC-32."""
        path = self.directory / meta["manifest"]["file"]
        try:
            f = open(path, "rb")  # noqa: SIM115 - returned to the caller
        except OSError as exc:
            raise CacheCorruptError(f"cannot read {path}: {exc}") from exc
        crc, size = 0, 0
        for chunk in iter_file_chunks(f, 1 << 20):
            crc, size = zlib.crc32(chunk, crc), size + len(chunk)
        if size != meta["manifest"]["size"] or crc != meta["manifest"]["crc32"]:
            f.close()
            raise CacheCorruptError(f"{path} is damaged (size or CRC-32 differ)")
        f.seek(0)
        return f

    def clear(self) -> None:
        """Remove the entry's files (but not the fresh temporary files of others)."""
        self.remove_except(set())

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

    A failure to write disables the writer (logged); it never fails the parse.
    """

    def __init__(self, entry: CacheEntry) -> None:
        self.entry = entry
        token = secrets.token_hex(8)
        self.names = {
            "manifest": f"assets-{token}.jsonld",
            "index": f"index-{token}.txt",
        }
        self.crc = {"manifest": 0, "index": 0}
        self.size = {"manifest": 0, "index": 0}
        self.count = 0
        self._rows: list[str] = []
        self._files: dict[str, IO[bytes]] = {}
        try:
            entry.directory.mkdir(parents=True, exist_ok=True)
            for part, name in self.names.items():
                self._files[part] = open(entry.directory / (name + ".tmp"), "wb")  # noqa: SIM115
        except OSError as exc:
            self._fail(exc)

    @property
    def active(self) -> bool:
        """True while the writer still writes."""
        return bool(self._files)

    def _fail(self, exc: OSError) -> None:
        lgr.warning("Not caching %s: %s", self.entry.url, exc)
        self.abort()

    def _write(self, part: str, data: bytes) -> None:
        try:
            self._files[part].write(data)
        except OSError as exc:
            self._fail(exc)
            return
        self.crc[part] = zlib.crc32(data, self.crc[part])
        self.size[part] += len(data)

    def write_manifest(self, chunk: bytes) -> None:
        """Append downloaded bytes to the cached manifest."""
        if self._files:
            self._write("manifest", chunk)

    def add(self, meta: AssetMetadata) -> None:
        """Append one asset to the cached index."""
        self._rows.append(
            f"{meta.path}\x00{meta.date_modified}\x00{meta.content_size}\x00"
            f"{meta.content_id}\x00"
        )
        self.count += 1
        if len(self._rows) >= _ROWS_PER_FLUSH:
            self._flush_rows()

    def _flush_rows(self) -> None:
        if self._files and self._rows:
            self._write("index", "".join(self._rows).encode("utf-8"))
        self._rows.clear()

    def commit(self, etag: str | None, last_modified: str | None) -> None:
        """Put the entry in place: rename the files, then write ``meta.json``."""
        self._flush_rows()
        if not self._files:
            return
        directory = self.entry.directory
        try:
            for part, f in self._files.items():
                f.close()
                os.replace(
                    directory / (self.names[part] + ".tmp"),
                    directory / self.names[part],
                )
            self._files = {}
            meta = {
                "format": INDEX_FORMAT,
                "url": self.entry.url,
                "etag": etag,
                "last_modified": last_modified,
                "written": time.time(),
                "plugin_version": __version__,
                **{
                    part: {
                        "file": self.names[part],
                        "size": self.size[part],
                        "crc32": self.crc[part],
                    }
                    for part in self.names
                },
            }
            meta["index"]["count"] = self.count
            tmp = directory / f"meta-{secrets.token_hex(4)}.json.tmp"
            tmp.write_text(json.dumps(meta, indent=1))
            os.replace(tmp, directory / "meta.json")
        except OSError as exc:
            self._fail(exc)
            return
        lgr.debug("Cached %s (%d assets) in %s", self.entry.url, self.count, directory)
        self.entry.remove_except({*self.names.values(), "meta.json"})

    def abort(self) -> None:
        """Drop the files written so far."""
        files, self._files = self._files, {}
        for part, f in files.items():
            try:
                f.close()
                os.unlink(self.entry.directory / (self.names[part] + ".tmp"))
            except OSError:
                pass


# ------------------------------------------------------------------------- HTTP


def _reason(exc: BaseException) -> str:
    """The innermost useful message of a requests/urllib3 exception chain."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = next(
                (a for a in reversed(exc.args) if isinstance(a, BaseException)), None
            )
        if inner is None:
            break
        exc = inner
    return str(exc) or type(exc).__name__


def http_get(
    url: str, headers: dict[str, str], timeout: float, what: str | None
) -> Any:
    """GET ``url`` streaming; return the response of a 200 or 304.

    Raises
    ------
    ManifestUnavailableError
        For a network failure or any other status, with a message saying what the
        status means for a manifest.
    """
    import requests

    headers = {
        "User-Agent": f"dandi-compute-plugin/{__version__} "
        f"requests/{requests.__version__}",
        **headers,
    }
    lgr.debug("GET %s %s", url, headers)
    try:
        resp = requests.get(url, headers=headers, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise ManifestUnavailableError(
            f"Could not download the manifest {url}: {_reason(exc)}", url
        ) from exc
    if resp.status_code in (200, 304):
        return resp
    resp.close()
    status = f"HTTP {resp.status_code} {resp.reason or ''}".rstrip()
    subject = f"The manifest of {what}" if what else "The manifest"
    if resp.status_code == 404:
        hint = (
            "the dandiset or this version of it does not exist on that instance "
            "(or has no manifest yet)"
            if what
            else "no such file on the server"
        )
        message = f"{subject} was not found ({status}) at {url}: {hint}"
    elif resp.status_code in (401, 403):
        message = (
            f"{subject} may not be read ({status}) at {url}: it is not public "
            "(an embargoed dandiset?) or does not exist"
        )
    else:
        message = f"{subject} could not be downloaded ({status}) from {url}"
    raise ManifestUnavailableError(message, url, resp.status_code)


def response_chunks(resp: Any, url: str, size: int = 1 << 16) -> Iterator[bytes]:
    """Yield a response's (decoded) body; a broken download raises."""
    import requests

    received = 0
    try:
        for chunk in resp.iter_content(size):
            received += len(chunk)
            yield chunk
    except requests.RequestException as exc:
        raise ManifestUnavailableError(
            f"The download of {url} failed after {received} bytes: {_reason(exc)}",
            url,
        ) from exc
    finally:
        resp.close()


def open_url(
    url: str,
    *,
    what: str | None,
    cache: bool,
    refresh: bool,
    keep_records: bool,
    progress: ProgressCallback | None,
    timeout: float,
) -> _Opened:
    """Fetch a manifest, conditionally when it is cached; see ``manifest._open``."""
    entry = CacheEntry(url) if cache else None
    meta, rows, cached = None, None, None
    if entry is not None and not refresh:
        try:
            meta = entry.load_meta()
            if meta is not None:
                if keep_records:
                    cached = entry.open_manifest(meta)
                else:
                    rows = entry.read_index(meta)
        except CacheCorruptError as exc:
            lgr.warning(
                "Cache entry of %s is damaged (%s): downloading again", url, exc
            )
            entry.clear()
            meta = None
    headers = {}
    if meta is not None:
        if meta.get("etag"):
            headers["If-None-Match"] = meta["etag"]
        if meta.get("last_modified"):
            headers["If-Modified-Since"] = meta["last_modified"]
    try:
        resp = http_get(url, headers, timeout, what)
    except BaseException:
        if cached is not None:
            cached.close()
        raise
    if resp.status_code == 304:
        resp.close()
        if meta is None:
            raise ManifestUnavailableError(
                f"HTTP 304 Not Modified for an unconditional request: {url}",
                url,
                304,
            )
        lgr.info("Manifest %s unchanged (HTTP 304): using the cached copy", url)
        if cached is not None:
            return _Opened(pairs=_parse_cached(cached, url))
        return _Opened(rows=rows)
    if cached is not None:
        cached.close()
    total = None
    if (
        not resp.headers.get("Content-Encoding")
        and resp.headers.get("Content-Length", "").isdigit()
    ):
        total = int(resp.headers["Content-Length"])
    validators = resp.headers.get("ETag"), resp.headers.get("Last-Modified")
    return _Opened(
        pairs=_download(
            resp,
            url,
            entry if any(validators) else None,
            validators,
            keep_records,
            progress,
            total,
        )
    )


def _parse_cached(f: IO[bytes], url: str) -> Iterator[tuple[AssetMetadata, Any]]:
    with f:
        yield from parse_manifest(ChunkReader(iter_file_chunks(f), url), url, True)


def _download(
    resp: Any,
    url: str,
    entry: CacheEntry | None,
    validators: tuple[str | None, str | None],
    keep_records: bool,
    progress: Callable[[int, int | None], None] | None,
    total: int | None,
) -> Iterator[tuple[AssetMetadata, Any]]:
    writer = CacheWriter(entry) if entry is not None else None
    if writer is not None and not writer.active:
        writer = None
    reader = ChunkReader(
        response_chunks(resp, url),
        url,
        sink=writer.write_manifest if writer else None,
        progress=progress,
        total=total,
    )
    try:
        for meta, record in parse_manifest(reader, url, keep_records):
            if writer is not None:
                writer.add(meta)
            yield meta, record
    except BaseException:
        resp.close()
        if writer is not None:
            writer.abort()
        raise
    if writer is not None:
        writer.commit(*validators)
