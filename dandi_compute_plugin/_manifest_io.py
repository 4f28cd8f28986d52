"""Getting a manifest's bytes: HTTP, read-ahead, and a ``read(n)`` for ijson.

Private to :mod:`dandi_compute_plugin.manifest`.  ``requests`` is imported only when
a URL is fetched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
import logging
import queue
import threading
from typing import IO, Any

from . import __version__
from .manifest import (
    CHUNK_SIZE,
    ManifestFormatError,
    ManifestUnavailableError,
    ProgressCallback,
)

lgr = logging.getLogger("dandi.compute")

_WHAT_STARTS = {ord("{"): "a JSON object", ord('"'): "a JSON string"}


class ChunkReader:
    """A binary ``read(n)`` over byte chunks, checking that they start a JSON array.

    Parameters
    ----------
    chunks
        The bytes, in pieces of any size.
    source
        Where they come from, for error messages.
    sink
        Called with every chunk as it is read (the cache's copy), or None.
    progress
        Called with (bytes read, ``total``) after every chunk, or None.
    total
        The expected number of bytes, when known.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        source: str,
        sink: Callable[[bytes], object] | None = None,
        progress: ProgressCallback | None = None,
        total: int | None = None,
    ) -> None:
        self._chunks = iter(chunks)
        self._source, self._sink, self._progress, self._total = (
            source,
            sink,
            progress,
            total,
        )
        self._buf = memoryview(b"")
        self._started = False
        self.bytes_read = 0

    def _next_chunk(self) -> bytes:
        for chunk in self._chunks:
            if not chunk:
                continue
            self.bytes_read += len(chunk)
            if self._sink is not None:
                self._sink(chunk)
            if self._progress is not None:
                self._progress(self.bytes_read, self._total)
            return chunk
        return b""

    def _start(self) -> bytes:
        first = True
        while chunk := self._next_chunk():
            if first and chunk.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM
                chunk = chunk[3:]
            first = False
            stripped = chunk.lstrip(b" \t\r\n")
            if not stripped:
                continue
            if stripped[0] != ord("["):
                what = _WHAT_STARTS.get(stripped[0], "not a JSON array")
                raise ManifestFormatError(
                    self._source,
                    f"{what}, not a JSON array of asset records "
                    f"(starts with {stripped[:20]!r})",
                )
            self._started = True
            return stripped
        raise ManifestFormatError(
            self._source,
            "no JSON array: " + ("only white space" if not first else "empty"),
        )

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes (never more: ijson's C backend needs that)."""
        if not self._buf:
            chunk = self._next_chunk() if self._started else self._start()
            if not chunk:
                return b""
            if size < 0 or len(chunk) <= size:
                return chunk
            self._buf = memoryview(chunk)
        if size < 0:
            size = len(self._buf)
        out = bytes(self._buf[:size])
        self._buf = self._buf[size:]
        return out


_DONE = object()


def prefetch(
    chunks: Iterable[bytes],
    on_chunk: Callable[[bytes], object] | None = None,
    depth: int = 64,
) -> Iterator[bytes]:
    """Yield ``chunks``, read ahead by a background thread.

    The thread also calls ``on_chunk`` (the cache's copy, the progress line), so
    network reads, file writes and CRC-32s -- which release the GIL -- overlap
    with the parse on another core.  Errors of the thread are raised here;
    closing this generator stops the thread.
    """
    pending: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                pending.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        source = iter(chunks)
        try:
            for chunk in source:
                if on_chunk is not None:
                    on_chunk(chunk)
                if not put(chunk):
                    return
            end: object = _DONE
        except BaseException as exc:  # handed to the consumer
            end = exc
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        put(end)

    threading.Thread(target=pump, name="dandi-compute-download", daemon=True).start()
    try:
        while (item := pending.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()


def iter_file_chunks(stream: IO[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the bytes of a binary stream in chunks of ``size``."""
    while chunk := stream.read(size):
        yield chunk


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
