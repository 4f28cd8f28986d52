"""A manifest's bytes over HTTP: the GET, its body in chunks, and a read-ahead thread.

``requests`` is imported only when a URL is fetched.  Every failure -- no answer, an
error status, a download broken midway -- is a :class:`ManifestUnavailableError`
whose message says what it means for a manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
import logging
import queue
import threading
from typing import Any
import weakref

from .._version import __version__
from ..errors import ManifestUnavailableError

lgr = logging.getLogger("dandi.compute")

_DONE = object()

#: the most bytes (decoded) a manifest's download may bring: far above any real
#: dandiset's, it stops a server that never ends the body from filling the disk
#: and the index (a listing page of the API has its own, smaller cap)
MAX_MANIFEST_BYTES = 16 << 30


def prefetch(
    chunks: Iterable[bytes],
    on_chunk: Callable[[bytes], object] | None = None,
    depth: int = 16,
    batch_size: int = 1 << 18,
) -> Iterator[bytes]:
    """Yield ``chunks``, read ahead by a background thread.

    The thread also calls ``on_chunk`` (the cache's copy, the progress line), so
    network reads, file writes and CRC-32s -- which release the GIL -- overlap
    with the parse on another core.  Errors of the thread are raised here;
    closing this generator stops the thread.

    Parameters
    ----------
    chunks
        The bytes, e.g. from :func:`response_chunks`.
    on_chunk
        Called in the thread with every chunk before it is queued, or None.
    depth
        How many chunks the thread may read ahead.
    batch_size
        While the consumer has chunks waiting, the thread joins what it reads
        into chunks of up to this many bytes.

    Yields
    ------
    bytes
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

    def hand_over(batch: list[bytes]) -> bool:
        data = batch[0] if len(batch) == 1 else b"".join(batch)
        batch.clear()
        if on_chunk is not None:
            on_chunk(data)
        return put(data)

    def pump() -> None:
        source = iter(chunks)
        batch: list[bytes] = []
        size = 0
        try:
            for chunk in source:
                batch.append(chunk)
                size += len(chunk)
                # while the parse is busy with earlier bytes, gather the small
                # reads of the socket: each item queued costs two handoffs of
                # the GIL between the threads
                if size < batch_size and not pending.empty():
                    continue
                size = 0
                if not hand_over(batch):
                    return
            end: object = _DONE
        except BaseException as exc:  # handed to the consumer
            end = exc
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        if batch and not hand_over(batch):
            return
        put(end)

    threading.Thread(target=pump, name="dandi-compute-download", daemon=True).start()
    try:
        while (item := pending.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()


def http_get(
    url: str, headers: dict[str, str], timeout: float, what: str | None
) -> Any:
    """GET ``url`` streaming; return the response of a 200 or 304.

    Parameters
    ----------
    url
        The manifest's URL.
    headers
        Extra request headers (the conditional ones).
    timeout
        Seconds for the connection, the status line and the headers together,
        and for each read of the body; the body may take longer as a whole only
        while it keeps coming at a mean of ``MIN_BODY_RATE`` bytes a second
        (:class:`~dandi_compute_plugin._http.BodyDeadline`): the download ends
        within ``timeout + size / MIN_BODY_RATE`` seconds of its start.
    what
        What the manifest is of (``dandiset 001697 version draft``), for the
        messages; None for a URL given as the source.

    Returns
    -------
    requests.Response
        Its body not yet read.

    Raises
    ------
    ManifestUnavailableError
        For a network failure or any other status, with a message saying what the
        status means for a manifest.
    """
    import requests

    from .._http import (
        deadline,
        expired,
        keep_for_body,
        network_reason,
        session_with_deadlines,
    )

    headers = {
        "User-Agent": f"dandi-compute-plugin/{__version__} "
        f"requests/{requests.__version__}",
        **headers,
    }
    lgr.debug("GET %s %s", url, headers)
    late = ManifestUnavailableError(
        f"Could not download the manifest {url}: no status line and headers "
        f"within {timeout:g} s",
        url,
    )
    # the connection, status line and headers within one deadline; the body,
    # hundreds of MB, may take longer while it keeps coming (read by
    # response_chunks, which moves the deadline on as bytes arrive)
    with session_with_deadlines(timeout) as session, deadline(timeout):
        try:
            resp = session.get(url, headers=headers, stream=True)
        except requests.RequestException as exc:
            if expired():
                raise late from None
            raise ManifestUnavailableError(
                f"Could not download the manifest {url}: {network_reason(exc)}", url
            ) from exc
        if expired():  # headers the deadline cut short may look whole
            resp.close()
            raise late
        if resp.status_code == 200:
            _BODY_DEADLINES[resp] = keep_for_body()
    if resp.status_code in (200, 304):
        return resp
    resp.close()
    raise _refused(resp, url, what)


def _refused(resp: Any, url: str, what: str | None) -> ManifestUnavailableError:
    """The error for an answer other than 200 or 304, saying what it means."""
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
    return ManifestUnavailableError(message, url, resp.status_code)


#: the deadline of each 200 answer http_get returned, for response_chunks
_BODY_DEADLINES: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _bytes_read(resp: Any) -> str:
    """How many bytes of the body came over the network (before any
    ``Content-Encoding`` is decoded, as ``Content-Length`` counts them), of how
    many."""
    done = resp.raw.tell()
    length = resp.headers.get("Content-Length", "")
    return f"{done} of {length} bytes" if length.isdigit() else f"{done} bytes"


def response_chunks(resp: Any, url: str, size: int = 1 << 18) -> Iterator[bytes]:
    """Yield a response's (decoded) body; a broken download raises.

    Parameters
    ----------
    resp
        A streaming ``requests.Response``; closed when done.
    url
        Its URL, for the message.
    size
        The chunk size asked of ``requests``.

    Yields
    ------
    bytes

    Raises
    ------
    ManifestUnavailableError
        When the connection breaks or times out, naming the bytes received, or
        when the body passes :data:`MAX_MANIFEST_BYTES` once decoded.
    """
    import requests
    import urllib3

    from .._http import network_reason

    body_deadline = _BODY_DEADLINES.pop(resp, None)
    decoded = 0
    try:
        # read1 hands over whatever has arrived (up to size) instead of waiting
        # for a whole chunk, so a stalled download has passed on every byte
        # it received when the wait times out
        while chunk := resp.raw.read1(size, decode_content=True):
            if body_deadline is not None:
                body_deadline.received(resp.raw.tell())
            decoded += len(chunk)
            if decoded > MAX_MANIFEST_BYTES:
                raise _too_large(url)
            yield chunk
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        if body_deadline is not None and body_deadline.expired:
            raise _too_slow(resp, url, body_deadline.min_rate) from None
        raise ManifestUnavailableError(
            f"The download of {url} failed after {_bytes_read(resp)}: "
            + network_reason(exc),
            url,
        ) from exc
    finally:
        if body_deadline is not None:
            body_deadline.close()
        resp.close()
    if body_deadline is not None and body_deadline.expired:
        # a body the deadline cut short may look whole (no Content-Length)
        raise _too_slow(resp, url, body_deadline.min_rate)


def _too_large(url: str) -> ManifestUnavailableError:
    import humanize

    return ManifestUnavailableError(
        f"The download of {url} was stopped: its body passed "
        f"{humanize.naturalsize(MAX_MANIFEST_BYTES, binary=True)} once decoded, the "
        "most a manifest may be",
        url,
    )


def _too_slow(resp: Any, url: str, min_rate: float) -> ManifestUnavailableError:
    return ManifestUnavailableError(
        f"The download of {url} failed after {_bytes_read(resp)}: timed out, "
        f"the body did not keep coming at {min_rate:g} bytes a second on "
        "average past the timeout",
        url,
    )
