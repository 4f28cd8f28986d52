"""dandi's API client, each request bounded as a whole, quiet and redacted.

:class:`BoundedClient` is dandi's :class:`~dandi.dandiapi.DandiAPIClient` with two
public methods overridden, so that everything dandi does through it (resolving a
dandiset, checking a key, its prompt included) obeys these rules:

- :meth:`~BoundedClient.authenticate` registers the key for redaction
  (:func:`.secrets.hide_in_logs`) and checks it (:func:`.secrets.key_problem`)
  before the first request that carries it.
- :meth:`~BoundedClient.request` gives each request -- its attempts, their
  connection, status line, headers and body, and the waits between them -- one
  deadline, ``timeout`` seconds after it starts, or the caller's
  :func:`~.._http.deadline` if that comes first.  A JSON body is sent again as
  it is; a body from a file or a stream (dandi's content uploads) goes through
  dandi's own request.  It retries what dandi retries
  (dandi's ``RETRY_STATUSES`` and broken connections, up to dandi's
  ``REQUEST_RETRIES`` attempts, with dandi's back-off) while time is left; a
  ``Retry-After`` (read by dandi's ``get_retry_after``) longer than the time
  left, or one dandi would not honour, fails the request at once, naming it.
  A JSON answer larger than :data:`MAX_JSON_BYTES` fails the request.
  Retries and the final failure are logged at DEBUG only (dandi's log file):
  the caller reports the failure once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from dandi.consts import REQUEST_RETRIES, RETRY_STATUSES
from dandi.dandiapi import DandiAPIClient
from dandi.exceptions import HTTP404Error
from dandi.utils import get_retry_after
import requests
import tenacity

from .._http import DeadlineExceeded, deadline, expired, left, read_capped
from .._text import escape_control, shorten
from ..defaults import DEFAULT_TIMEOUT
from ..errors import AuthenticationError
from .secrets import hide_in_logs, key_problem, redact

lgr = logging.getLogger("dandi.compute")

#: the largest JSON answer read (a listing page of 1000 assets with their
#: metadata is a few MB)
MAX_JSON_BYTES = 32 * 1024 * 1024

#: how much of a server's answer a message quotes (after redaction)
QUOTED_CHARS = 200


def describe_error(exc: BaseException) -> str:
    """A short, one-line description of a failed request: redacted (every
    registered key), then escaped, then shortened."""
    response = getattr(exc, "response", None)
    if response is not None and not isinstance(exc, DeadlineExceeded):
        try:
            body = response.text or ""
        except Exception:  # a body that was never read: none to quote
            body = ""
        status = f"HTTP {response.status_code}"
        if isinstance(exc, RetryAfterTooLong):
            return f"{status}: {safe_text(str(exc), QUOTED_CHARS)}"
        quoted = safe_text(body, QUOTED_CHARS)
        return status + (f": {quoted}" if quoted else "")
    return f"{type(exc).__name__}: {safe_text(str(exc), 2 * QUOTED_CHARS)}"


def safe_text(text: str, limit: int) -> str:
    """``text`` redacted, then escaped, then cut to ``limit`` characters."""
    return shorten(escape_control(" ".join(redact(text).split()), False), limit)


class RetryAfterTooLong(requests.HTTPError):
    """The server asked to wait longer than the request's time left."""


class _QuietRetryAfter(logging.Filter):
    """Demotes to DEBUG the warnings of dandi's ``get_retry_after`` about a
    header it cannot honour, in the threads of this client only (the failure is
    reported once, by the caller; dandi's log file keeps the warning)."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self.local, "active", False) and (
            record.funcName == "get_retry_after" and record.levelno > logging.DEBUG
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_QUIET = _QuietRetryAfter()


def retry_after(response: requests.Response) -> float | None:
    """Seconds the ``Retry-After`` header asks to wait, as dandi reads it
    (:func:`dandi.utils.get_retry_after`: seconds or an HTTP date); None
    without the header; infinity for one dandi would not honour (neither
    seconds nor a date, a date in the past, more than a week)."""
    if "Retry-After" not in response.headers:
        return None
    logging.getLogger("dandi").addFilter(_QUIET)  # once: a filter is added once
    _QUIET.local.active = True
    try:
        seconds = get_retry_after(response)
    finally:
        _QUIET.local.active = False
    return math.inf if seconds is None else float(seconds)


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL, the port spelled out."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number
        port = None
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


class ForeignRedirect(requests.RequestException):
    """The server redirected a request to another origin: its answer is not
    the API's, and not used (the key is never sent there: ``requests`` drops
    the ``Authorization`` header on such a redirect)."""


def backoff(attempt: int) -> float:
    """dandi's wait after attempt ``attempt`` (tenacity's exponential, base 1.25)."""
    return 1.25 * 1.25 ** (attempt - 1)


class BoundedClient(DandiAPIClient):
    """dandi's client; see the module.  ``timeout`` bounds each request."""

    timeout: float = DEFAULT_TIMEOUT
    #: where the key comes from, for the message that refuses it
    key_source: str = "dandi's key lookup"

    def authenticate(self, token: str, save_to_keyring: bool = False) -> None:
        """Register ``token`` for redaction and check it; then dandi's check.

        Raises
        ------
        AuthenticationError
            When the key is unfit to be sent (:func:`.secrets.key_problem`).
        """
        hide_in_logs(token)
        problem = key_problem(token)
        if problem is not None:
            raise AuthenticationError(
                f"The API key from {self.key_source} {problem}: it was not sent "
                f"to {self.api_url}. Nothing was changed."
            )
        super().authenticate(token, save_to_keyring=save_to_keyring)

    def request(  # noqa: D102 - dandi's, bounded; see the module
        self,
        method: str,
        path: str,
        params: dict | None = None,
        data: Any = None,
        files: dict | None = None,
        json: Any = None,
        headers: dict | None = None,
        json_resp: bool = True,
        retry_statuses: Any = (),
        retry_if: Any = None,
        **kwargs: Any,
    ) -> Any:
        if data is not None or files is not None or retry_if:
            # a body from a file or a stream (dandi's uploads of content) cannot
            # be sent again by this loop: dandi's own request
            return super().request(
                method, path, params, data, files, json, headers, json_resp,
                retry_statuses, retry_if, **kwargs,
            )  # fmt: skip
        if json is not None:  # a JSON body is sent again as it is
            kwargs["json"] = json
        url = self.get_url(path)
        headers = {"accept": "application/json", **(headers or {})}
        statuses = {*RETRY_STATUSES, *retry_statuses}
        outer = left()  # a deadline of the caller's: never outlived
        budget = self.timeout if outer is None else min(self.timeout, outer)
        with deadline(budget):
            result = self._attempts(method, url, params, headers, statuses, kwargs)
        if not result.ok:
            failure = _failure(method, url, result)
            lgr.debug("%s", failure)  # for dandi's log file: the caller reports it
            raise failure
        if not json_resp:
            return result
        return result.json() if result.text.strip() else None

    def _attempts(
        self,
        method: str,
        url: str,
        params: dict | None,
        headers: dict,
        statuses: set[int],
        kwargs: dict,
    ) -> requests.Response:
        """The attempts of one request, within this thread's deadline."""
        started = time.monotonic()
        for attempt in range(1, REQUEST_RETRIES + 1):
            try:
                result = self._attempt(method, url, params, headers, kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if isinstance(exc, DeadlineExceeded) or not isinstance(
                    exc, requests.ConnectionError
                ):
                    raise _timed_out(self.timeout, method, url, attempt) from None
                wait = self._wait(attempt, None, method, url, describe_error(exc))
                if wait is None:
                    raise
            else:
                if result.status_code not in statuses:
                    return result
                wait = self._wait(attempt, result, method, url, describe_error(
                    requests.HTTPError(response=result)
                ))  # fmt: skip
                if wait is None:
                    return result
            tenacity.nap.sleep(wait)  # the sleep of dandi's retry library
        raise AssertionError(f"unreachable after {time.monotonic() - started} s")

    def _attempt(
        self, method: str, url: str, params: dict | None, headers: dict, kwargs: dict
    ) -> requests.Response:
        remaining = left() or 0.0
        if remaining <= 0:
            raise DeadlineExceeded("no time left")
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                headers=headers,
                stream=True,
                timeout=(remaining, remaining),
                **kwargs,
            )
        except requests.RequestException:
            if expired():  # the watchdog shut the connection down
                raise DeadlineExceeded("no time left") from None
            raise
        if response.history and origin(response.url) != origin(url):
            response.close()
            raise ForeignRedirect(
                f"{method} {url} was redirected to another origin, "
                f"{safe_text(origin(response.url), QUOTED_CHARS)}: not followed"
            )
        read_capped(response, MAX_JSON_BYTES)
        return response

    def _wait(
        self,
        attempt: int,
        result: requests.Response | None,
        method: str,
        url: str,
        what: str,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up."""
        remaining = left() or 0.0
        asked = retry_after(result) if result is not None else None
        if asked is not None and asked > remaining:
            lgr.debug("%s %s: %s; Retry-After beyond the time left", method, url, what)
            header = safe_text(result.headers.get("Retry-After", ""), 40)
            beyond = (
                f"is beyond the {remaining:.1f} s left"
                if asked < math.inf
                else "is not a wait dandi honours (neither seconds within a week "
                f"nor a date to come), with {remaining:.1f} s left"
            )
            raise RetryAfterTooLong(
                f"the server's Retry-After: {header} {beyond} of the "
                f"{self.timeout:g} s timeout ({what})",
                response=result,
            )
        wait = max(backoff(attempt), asked or 0.0)
        if attempt >= REQUEST_RETRIES or wait >= remaining:
            lgr.debug("%s %s failed after %d attempts: %s", method, url, attempt, what)
            return None
        lgr.debug(
            "%s %s: %s; attempt %d again in %.1f s",
            method, url, what, attempt + 1, wait,
        )  # fmt: skip
        return wait


def _timed_out(timeout: float, method: str, url: str, attempt: int) -> Exception:
    lgr.debug(
        "%s %s: no answer within %g s (attempt %d)",
        method,
        url,
        timeout,
        attempt,
    )
    return DeadlineExceeded(
        f"timed out: no complete answer within the {timeout:g} s timeout "
        f"({method} {url}, attempt {attempt})"
    )


def _failure(method: str, url: str, result: requests.Response) -> Exception:
    """dandi's exception for a failed answer, its text redacted and shortened."""
    quoted = safe_text(result.text or "", 4 * QUOTED_CHARS)
    message = f"Error {result.status_code} while sending {method} request to {url}"
    message += f": {quoted}" if quoted else ""
    cls = HTTP404Error if result.status_code == 404 else requests.HTTPError
    return cls(message, response=result)
