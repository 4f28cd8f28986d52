"""How many deletions a run has in flight at once, and its retries of crowded ones.

The archive removes an asset from a draft in one database transaction that also
updates the size and file count of every directory above the asset.  Concurrent
deletions in one draft therefore queue for the same rows and, crowded, deadlock:
the database aborts one of them and the archive answers ``500`` (its body says
so only on a server in debug mode).  A run's deletions are all in one draft, so
one :class:`DeletePace` per run sets how many ``DELETE`` requests may be in
flight: at most ``jobs``, halved at each server error the archive answers one
with, grown back by one after as many successes in a row as it allows.

A ``500`` answer to a deletion is not retried by the client, whose request
would keep its place while it waits and come back with the crowd that failed it:
:meth:`DeletePace.observe` raises :class:`Crowded`, and :func:`delete_paced`
gives the place back, waits dandi's back-off, and tries again once the pace has a
place.  Its attempts are as many as dandi's (``REQUEST_RETRIES``), and they
and their back-offs end within ``timeout``, as a request's; the waits for a
place do not count.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from dandi.consts import REQUEST_RETRIES
import tenacity

from .._http import deadline
from .client import backoff

if TYPE_CHECKING:
    import requests

lgr = logging.getLogger("dandi.compute")

#: how often a back-off looks whether the run stops (seconds)
STOP_CHECK = 0.1
#: how much of a crowded answer's body is kept to quote
BODY_QUOTED = 4096


class Crowded(Exception):
    """The archive answered a deletion ``500``: try again once it is calmer.

    Not a :class:`requests.RequestException`: the client neither retries it nor
    reports it; :func:`delete_paced` does.
    """

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body = status, body


class DeletePace:
    """How many ``DELETE`` requests may be in flight at once (see the module).

    Parameters
    ----------
    jobs
        The most requests in flight, and the start.
    """

    def __init__(self, jobs: int) -> None:
        self.ceiling = self.limit = jobs
        self.in_flight = 0
        self._successes = 0
        self._changed = threading.Condition()

    def enter(self, stopping: Callable[[], object]) -> bool:
        """Wait for a free place; False (no place taken) once ``stopping()``."""
        with self._changed:
            while self.in_flight >= self.limit:
                if stopping():
                    return False
                self._changed.wait(0.1)
            if stopping():
                return False
            self.in_flight += 1
        return True

    def leave(self) -> None:
        """Give back the place :meth:`enter` took."""
        with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Adjust the pace to one attempt of a deletion (a ``requests``
        response hook: every attempt, a retry's too).

        Raises
        ------
        Crowded
            For a ``500``, after closing the response.
        """
        if response.request is None or response.request.method != "DELETE":
            return
        status = response.status_code
        with self._changed:
            if status >= 500 or status == 429:
                self.limit = max(1, self.limit // 2)
                self._successes = 0
                lgr.debug("The archive failed a deletion: %d at once", self.limit)
            elif status < 400 or status == 404:
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.ceiling:
                    self.limit += 1
                    self._successes = 0
                    self._changed.notify_all()
        if status == 500:
            # a little of the body (it may say why), never all of it
            try:
                head = next(response.iter_content(BODY_QUOTED), b"")
            except Exception:  # a broken answer: nothing to quote
                head = b""
            response.close()
            raise Crowded(status, head.decode("utf-8", "replace"))


def delete_paced(
    pace: DeletePace,
    delete: Callable[[], None],
    stopping: Callable[[], object],
    timeout: float,
) -> bool:
    """Call ``delete`` within the pace, again after each :class:`Crowded`.

    Parameters
    ----------
    pace
        The run's pace.
    delete
        One deletion through the client whose hook is ``pace.observe``.
    stopping
        Tells that the run stops: no new attempt then.
    timeout
        One deletion's attempts and the back-offs between them end within it,
        as a request's do (each attempt within what is left of it).

    Returns
    -------
    bool
        True when deleted, False when the run stopped first.

    Raises
    ------
    Crowded
        The last crowded answer, after ``REQUEST_RETRIES`` attempts or when
        the next back-off would pass ``timeout``.
    """
    spent = 0.0  # in attempts and back-offs; not in waits for a place
    for attempt in range(1, REQUEST_RETRIES + 1):
        if not pace.enter(stopping):
            return False
        started = time.monotonic()
        try:
            with deadline(timeout - spent):
                delete()
            return True
        except Crowded:
            spent += time.monotonic() - started
            wait = backoff(attempt)
            if attempt >= REQUEST_RETRIES or spent + wait >= timeout:
                raise
        finally:
            pace.leave()
        lgr.debug("A crowded deletion, attempt %d again in %.1f s", attempt + 1, wait)
        spent += wait
        # in steps, to stop early; tenacity's sleep, as the client's back-off
        left = wait
        while left > 0:
            if stopping():
                return False
            tenacity.nap.sleep(min(STOP_CHECK, left))
            left -= STOP_CHECK
    raise AssertionError("unreachable: the last attempt returns or raises")
