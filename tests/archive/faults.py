"""Fault injection and request accounting for the fake DANDI Archive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import re
import threading
import time
from urllib.parse import unquote_plus


@dataclass
class Fault:
    """What to do to matching requests instead of (or before) serving them.

    Attributes
    ----------
    method
        HTTP method to match (``None``: any).
    pattern
        Regular expression searched in the request path (``None``: any).
    query
        Regular expression searched in the decoded query string (``None``: any),
        e.g. ``path=derivatives/x/`` to pick the listing of one directory.
    status
        Answer with this status (and a DRF-shaped ``{"detail": ...}`` body)
        instead of serving the request.
    echo
        With ``status``: put the request's ``Authorization`` header in the
        error's body, as a careless server might.
    echo_pad
        With ``echo``: this many characters of the body come before the key
        (so that a test can put it at any position relative to a cut).
    echo_in_header
        With ``echo``: the header is echoed in a response header
        ``X-Echo`` and in the ``Retry-After`` header too.
    retry_after
        With ``status``: the value of a ``Retry-After`` header.
    redirect
        Answer ``302 Found`` with this ``Location``.
    drip_head
        Answer 200, but send the status line and headers one byte every
        ``drip_head`` seconds (ten thousand bytes of them: every read gets
        something in time, the headers never end in a test's time).
    endless
        Answer 200 with a body that never ends (a JSON listing page growing
        for ever), sent as fast as the client reads it.
    gzip_bomb
        Answer 200 with a gzip-encoded body that expands to this many bytes
        (a few hundred times fewer sent).
    announce
        With ``endless``: the ``Content-Length`` header to lie with (None: none,
        the connection's end marks the body's).
    delay
        Seconds to wait before answering (or serving); a client that hangs up
        meanwhile is counted in ``cut`` and not answered.
    drop
        Close the connection without any answer.
    trickle
        Serve the request, but send the body one byte every ``trickle``
        seconds (a slow-loris answer: every read gets something in time).
    drop_after_serving
        Serve the request (a deletion happens), then close the connection
        without the answer: a response lost on the way back.
    times
        How many requests it applies to (``None``: all of them).
    after
        Let this many matching requests through untouched first.
    hold
        Keep each matching request waiting until this many are in flight at
        once (or :meth:`Accounting.release`, or ``hold_timeout`` passed): makes
        parallelism observable without timing anything.
    crowd
        Apply only to a request that arrives while at least this many of its
        method are in flight (itself included); others pass as unmatched.  The
        real archive's crowded deletions in one draft deadlock in its database
        (HTTP 500).
    """

    method: str | None = None
    pattern: str | None = None
    query: str | None = None
    status: int | None = None
    echo: bool = False
    echo_pad: int = 0
    echo_in_header: bool = False
    retry_after: str | None = None
    redirect: str | None = None
    drip_head: float = 0.0
    endless: bool = False
    announce: int | None = None
    gzip_bomb: int = 0
    delay: float = 0.0
    drop: bool = False
    drop_after_serving: bool = False
    trickle: float = 0.0
    times: int | None = None
    after: int = 0
    hold: int = 0
    hold_timeout: float = 10.0
    crowd: int = 0
    #: matching requests seen, including those let through by ``after``
    seen: int = 0
    #: requests it was applied to
    hits: int = 0
    #: of those, the requests whose client hung up before the answer was whole
    #: (while the server waited, dripped, trickled or streamed): a client that
    #: gives up at its deadline shows here, one that waits for ever never does
    cut: int = 0
    _regex: re.Pattern | None = field(default=None, repr=False)
    _query_regex: re.Pattern | None = field(default=None, repr=False)

    def matches(self, method: str, path: str, query: str = "") -> bool:
        if self.method is not None and method != self.method:
            return False
        if self.pattern is not None:
            if self._regex is None:
                self._regex = re.compile(self.pattern)
            if self._regex.search(path) is None:
                return False
        if self.query is not None:
            if self._query_regex is None:
                self._query_regex = re.compile(self.query)
            if self._query_regex.search(unquote_plus(query)) is None:
                return False
        return True


@dataclass(frozen=True)
class LoggedRequest:
    """One request the server received."""

    method: str
    path: str
    query: str
    status: int | None
    authorization: str | None


class Accounting:
    """Faults, the request log and in-flight counters, shared by handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.released = False

    def add(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()

    def admit(self, method: str, path: str, query: str = "") -> Fault | None:
        """Count a request in flight and pick its fault, in one step.

        One step under the lock: whoever sees the request in flight (``hold``,
        :meth:`wait_for`) also sees the fault's ``hits`` counted.
        """
        with self.lock:
            self.in_flight[method] = self.in_flight.get(method, 0) + 1
            self.peak[method] = max(self.peak.get(method, 0), self.in_flight[method])
            fault = self.pick(method, path, query)
            self.lock.notify_all()
        return fault

    def pick(self, method: str, path: str, query: str = "") -> Fault | None:
        """The fault to apply to this request, counted; None to serve it."""
        with self.lock:
            for fault in self.faults:
                if not fault.matches(method, path, query):
                    continue
                if self.in_flight.get(method, 0) < fault.crowd:
                    continue
                fault.seen += 1
                if fault.seen <= fault.after:
                    continue
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                fault.hits += 1
                return fault
        return None

    def hung_up(self, fault: Fault) -> None:
        """Count a client that hung up before ``fault``'s answer was whole."""
        with self.lock:
            fault.cut += 1
            self.lock.notify_all()

    def leave(self, method: str) -> None:
        with self.lock:
            self.in_flight[method] -= 1
            self.lock.notify_all()

    def release(self) -> None:
        """Let every held request go on (and hold none from now on)."""
        with self.lock:
            self.released = True
            self.lock.notify_all()

    def hold(self, method: str, count: int, timeout: float) -> None:
        """Wait until ``count`` requests of ``method`` are in flight, or
        :meth:`release`, or ``timeout`` seconds (a guard against hanging only)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while self.in_flight.get(method, 0) < count and not self.released:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.lock.wait(left)

    def record(self, entry: LoggedRequest) -> None:
        with self.lock:
            self.log.append(entry)
            self.lock.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
        """Wait until ``predicate()`` (called under the lock) is true; False when
        ``timeout`` seconds passed first.  Re-checked on every request event."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.5))
        return True
