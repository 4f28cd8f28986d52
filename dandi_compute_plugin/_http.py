"""Requests with one overall deadline: connection, status line, headers and body.

``requests`` bounds each socket operation (``timeout=``), not a request as a whole:
an answer whose status line, headers or body come a byte at a time -- each in
time -- can hold a client for ever.  Here a request made inside :func:`deadline`
(through a session with :class:`DeadlineAdapter` mounted) has its connection shut
down when the deadline passes, by one watchdog thread; whatever was waiting on
it then fails, and :func:`read_capped` (or the caller, through
:func:`expired`) names the deadline.  Nothing private of ``requests`` or
``urllib3`` is used: the adapter's public ``init_poolmanager`` picks connection
pools whose connection class registers itself with the deadline of the thread
that uses it, for a direct connection and through the environment's proxy alike
(HTTP or, with ``requests[socks]``, SOCKS).

:func:`network_reason` shortens a failure of ``requests`` to the message that says
what went wrong, for the manifest's downloads and the archive's API alike.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import functools
import heapq
import io
import itertools
import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

_local = threading.local()


class DeadlineExceeded(requests.exceptions.ReadTimeout):
    """A request did not end (status line, headers and body) before its deadline."""


class ResponseTooLarge(requests.exceptions.RequestException):
    """An answer's body is larger than the size the caller accepts."""


class _Watch:
    """The deadline of the requests of one thread, and the connections they use."""

    def __init__(self, when: float) -> None:
        self.when = when
        self.expired = False
        self.done = False
        #: kept past its block, for a body read later (see :class:`BodyDeadline`)
        self.kept = False
        self.connections: list[Any] = []
        self.lock = threading.Lock()

    def extend(self, when: float) -> None:
        """Move the deadline later (never earlier), unless it passed already."""
        with self.lock:
            if not self.expired and when > self.when:
                self.when = when

    def add(self, connection: Any) -> None:
        with self.lock:
            connection.dandi_compute_watch = self
            self.connections.append(connection)
            late = self.expired
        if late:
            _shut(connection)

    def expire(self) -> None:
        with self.lock:
            if self.done:
                return
            self.expired = True
            mine = [c for c in self.connections if c.dandi_compute_watch is self]
        for connection in mine:
            _shut(connection)

    def finish(self, *, kept_too: bool = False) -> None:
        with self.lock:
            if self.kept and not kept_too:
                return
            self.done = True
            self.connections.clear()


def _shut(connection: Any) -> None:
    """Wake whatever waits on ``connection``: its socket is shut down."""
    sock = getattr(connection, "sock", None)
    with contextlib.suppress(OSError, AttributeError):
        if isinstance(sock, socket.socket):  # an SSLSocket too: its socket, raw
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        elif sock is not None:
            sock.close()


class _Watchdog:
    """One daemon thread expiring the watches whose deadline passed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, watch: _Watch) -> None:
        with self._cond:
            heapq.heappush(self._heap, (watch.when, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="dandi-compute-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is watch:  # the thread waits for a later one
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    if self._heap and self._heap[0][2].done:
                        heapq.heappop(self._heap)  # finished in time: forgotten
                        continue
                    left = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(left)
                _when, _n, due = heapq.heappop(self._heap)
                if due.when > time.monotonic() and not due.done:  # extended
                    heapq.heappush(self._heap, (due.when, next(self._order), due))
                    continue
            due.expire()


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[_Watch]:
    """Requests of this thread inside the block end within ``seconds``.

    Those made through a session with :class:`DeadlineAdapter` mounted: their
    connection is shut down when the time is up.  Blocks do not nest: an inner
    one replaces the outer until it ends.
    """
    watch = _Watch(time.monotonic() + seconds)
    saved = getattr(_local, "watch", None)
    _local.watch = watch
    _WATCHDOG.watch(watch)
    try:
        yield watch
    finally:
        watch.finish()
        _local.watch = saved


#: the mean rate, in bytes a second, at which a body read past its request's
#: deadline must keep coming (see :class:`BodyDeadline`)
MIN_BODY_RATE = 16 * 1024


class BodyDeadline:
    """The overall deadline of a body read after its request's block ended.

    A body of hundreds of MB may take longer than the request's ``seconds``,
    but not for ever: its deadline moves one second later for every
    :data:`MIN_BODY_RATE` bytes received (call :meth:`received`), so that the
    whole download -- connection, status line, headers and body -- ends within
    ``seconds + size / MIN_BODY_RATE`` of its start.  Made by
    :func:`keep_for_body`; :meth:`close` when the body is read or abandoned.
    """

    def __init__(self, watch: _Watch, min_rate: float = MIN_BODY_RATE) -> None:
        self._watch = watch
        self._first = watch.when
        self.min_rate = min_rate

    def received(self, total: int) -> None:
        """``total`` bytes of the body came so far: the deadline moves on."""
        self._watch.extend(self._first + total / self.min_rate)

    @property
    def expired(self) -> bool:
        """Whether the deadline passed (the connection was shut down)."""
        return self._watch.expired

    def close(self) -> None:
        """The body is read (or abandoned): the deadline is forgotten."""
        self._watch.finish(kept_too=True)


def keep_for_body() -> BodyDeadline:
    """Keep this thread's current :func:`deadline` past its block, for the body
    of the answer just received, read later (by any thread).

    Raises
    ------
    RuntimeError
        Outside a :func:`deadline` block.
    """
    watch = getattr(_local, "watch", None)
    if watch is None:
        raise RuntimeError("keep_for_body() outside a deadline() block")
    watch.kept = True
    return BodyDeadline(watch)


def expired() -> bool:
    """Whether the deadline of this thread's current block has passed."""
    watch = getattr(_local, "watch", None)
    return watch is not None and (watch.expired or time.monotonic() >= watch.when)


def left() -> float | None:
    """Seconds left before this thread's deadline (None: no deadline)."""
    watch = getattr(_local, "watch", None)
    return None if watch is None else max(0.0, watch.when - time.monotonic())


class _Watched:
    """Registers the connection with the deadline of the thread using it."""

    def _register(self) -> None:
        watch = getattr(_local, "watch", None)
        self.dandi_compute_watch = watch
        if watch is not None:
            watch.add(self)

    def connect(self) -> None:  # noqa: D102
        self._register()
        super().connect()  # type: ignore[misc]

    def request(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        self._register()
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_WATCHED_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


@functools.cache
def _watched_socks_pools() -> dict[str, type]:
    """Pools of watched connections through a SOCKS proxy (only asked for when
    requests made a SOCKS proxy's manager: PySocks is installed then)."""
    from urllib3.contrib import socks

    class SOCKSConnection(_Watched, socks.SOCKSConnection):
        pass

    class SOCKSHTTPSConnection(_Watched, socks.SOCKSHTTPSConnection):
        pass

    class SOCKSHTTPPool(socks.SOCKSHTTPConnectionPool):
        ConnectionCls = SOCKSConnection

    class SOCKSHTTPSPool(socks.SOCKSHTTPSConnectionPool):
        ConnectionCls = SOCKSHTTPSConnection

    return {"http": SOCKSHTTPPool, "https": SOCKSHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """An adapter whose connections honour :func:`deadline`; a request made
    without ``timeout=`` gets ``timeout`` (to connect, and for each read)."""

    def __init__(self, timeout: float, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:  # noqa: D102
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:  # noqa: D102
        # the proxy of the environment (http_proxy, https_proxy, all_proxy)
        # gets its own manager: its connections must be watched as well, a
        # SOCKS proxy's (requests[socks]) through watched SOCKS connections
        manager = super().proxy_manager_for(proxy, **kwargs)
        if type(manager) is urllib3.ProxyManager:
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        elif proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_watched_socks_pools())
        return manager

    def send(self, request: Any, **kwargs: Any) -> Any:  # noqa: D102
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def network_reason(exc: BaseException) -> str:
    """The innermost useful message of a requests/urllib3 exception chain
    (``[Errno -2] Name or service not known``), not the whole chain."""
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


def session_with_deadlines(timeout: float, **adapter: Any) -> requests.Session:
    """A new session whose requests honour :func:`deadline`."""
    session = requests.Session()
    mount(session, timeout, **adapter)
    return session


def mount(session: requests.Session, timeout: float, **adapter: Any) -> None:
    """Mount a :class:`DeadlineAdapter` on ``session`` for http and https."""
    instance = DeadlineAdapter(timeout, **adapter)
    session.mount("http://", instance)
    session.mount("https://", instance)


def read_capped(response: requests.Response, max_bytes: int) -> bytes:
    """Read a streamed response's (decoded) body whole, at most ``max_bytes``.

    Afterwards the response holds the body (``.content``, ``.text``,
    ``.json()`` work as usual) and its connection is back in the pool.

    Raises
    ------
    ResponseTooLarge
        When ``Content-Length`` or the bytes received exceed ``max_bytes``.
    DeadlineExceeded
        When the deadline of :func:`deadline` passed before the end.
    """
    length = response.headers.get("Content-Length", "")
    try:
        if length.isdigit() and int(length) > max_bytes:
            raise _too_large(response, max_bytes, f"{int(length)} bytes announced")
        body = bytearray()
        while chunk := response.raw.read1(1 << 16, decode_content=True):
            body += chunk
            if len(body) > max_bytes:
                raise _too_large(response, max_bytes, "more than that sent")
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        response.close()
        if isinstance(exc, ResponseTooLarge):
            raise
        if expired():
            raise DeadlineExceeded(
                "the answer did not arrive whole in time", response=response
            ) from None
        raise requests.exceptions.ConnectionError(str(exc), response=response) from None
    response.close()  # read to the end: the connection was kept for reuse
    if expired():  # an answer cut short by the watchdog may look whole
        raise DeadlineExceeded(
            "the answer did not arrive whole in time", response=response
        )
    response.raw = io.BytesIO(bytes(body))  # public: .content reads it once
    return response.content


def _too_large(response: requests.Response, max_bytes: int, what: str) -> Exception:
    return ResponseTooLarge(
        f"the answer is larger than {max_bytes} bytes ({what}): not read",
        response=response,
    )
