"""A real HTTP server on 127.0.0.1 serving manifests the way S3 does, and worse.

Each served path has a body and a *mode*: ``ok`` (ETag, Last-Modified, 304 on a
matching ``If-None-Match``/``If-Modified-Since``), ``gzip`` (the same, with
``Content-Encoding: gzip`` when asked for), ``gzipped`` (the body is gzip data
already, sent as it is with ``Content-Encoding: gzip``), ``no-validators``,
``slow`` (the body in small pieces with pauses), ``truncate`` (a
``Content-Length`` larger than what is sent, then the connection closes),
``truncate-eof`` (half the body, no length,
connection closed: a plain early end), ``drop`` (the connection closes before any
answer), ``hang`` (no answer at all for ``stall_seconds``, then the connection
closes), ``chunked`` (``Transfer-Encoding: chunked`` in pieces of ``chunk_size``
bytes, as servers that compress on the fly send), ``stall`` (part of the body,
then silence for ``stall_seconds``, or until the client hangs up), ``endless``
(chunked: ``[`` and the body's bytes again and again, until the client hangs up),
or an
HTTP status such as ``404``/``403``/``500``.  Unknown paths get 404.  Every request
is recorded (path, conditional headers, status sent).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
import email.utils
import gzip
import hashlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import select
import socket
import threading
import time
from typing import Any


@dataclass
class Served:
    """One path's body and behaviour."""

    body: bytes
    mode: str = "ok"
    etag: str | None = None
    last_modified: str | None = None


@dataclass
class Request:
    """What the server saw and answered."""

    path: str
    if_none_match: str | None
    if_modified_since: str | None
    accept_encoding: str | None
    status: int | None = None
    #: the client hung up while the answer stalled (``stall`` mode) or went on
    #: (``endless`` mode)
    hung_up: bool = False
    #: bytes of the body sent (``endless`` mode)
    sent: int = 0


@dataclass
class ManifestServer:
    """``with ManifestServer() as server: server.add("/x", body); server.url("/x")``."""

    stall_seconds: float = 3.0
    slow_pieces: int = 20
    slow_pause: float = 0.02
    chunk_size: int = 1000
    served: dict[str, Served] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    _httpd: Any = None
    _thread: Any = None

    def add(self, path: str, body: bytes, mode: str = "ok") -> Served:
        """Serve ``body`` at ``path`` (a new body gets a new ETag and date)."""
        stamp = time.time() + len(self.served)  # distinct dates, second resolution
        entry = Served(
            body,
            mode,
            etag='"' + hashlib.md5(body).hexdigest() + '"',
            last_modified=email.utils.formatdate(stamp, usegmt=True),
        )
        self.served[path] = entry
        return entry

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def statuses(self, path: str) -> list[int | None]:
        """The statuses answered for ``path``, in order."""
        return [r.status for r in self.requests if r.path == path]

    def __enter__(self) -> ManifestServer:
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: ManifestServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionError):  # a client that gave up
            super().handle()

    def _record(self) -> Request:
        req = Request(
            self.path,
            self.headers.get("If-None-Match"),
            self.headers.get("If-Modified-Since"),
            self.headers.get("Accept-Encoding"),
        )
        self.owner.requests.append(req)
        return req

    def _answer(self, req: Request, status: int, headers: dict[str, str]) -> None:
        req.status = status
        self.send_response(status)
        for key, value in headers.items():
            if value is not None:
                self.send_header(key, value)
        self.end_headers()

    def _error(self, req: Request, status: int) -> None:
        body = f"<Error><Code>{status}</Code></Error>".encode()
        self._answer(
            req,
            status,
            {"Content-Type": "application/xml", "Content-Length": str(len(body))},
        )
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        req = self._record()
        entry = self.owner.served.get(self.path)
        if entry is None:
            return self._error(req, 404)
        mode = entry.mode
        if mode.isdigit():
            return self._error(req, int(mode))
        if mode == "hang":
            time.sleep(self.owner.stall_seconds)
            self.close_connection = True
            return None
        if mode == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        validators = {}
        if mode != "no-validators":
            validators = {"ETag": entry.etag, "Last-Modified": entry.last_modified}
            if self._not_modified(entry):
                return self._answer(req, 304, validators)
        body, headers = entry.body, {"Content-Type": "application/json", **validators}
        if mode == "gzip" and "gzip" in (req.accept_encoding or ""):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        if mode == "gzipped":
            headers["Content-Encoding"] = "gzip"
        if mode == "chunked":
            self._answer(req, 200, {**headers, "Transfer-Encoding": "chunked"})
            for start in range(0, len(body), self.owner.chunk_size):
                piece = body[start : start + self.owner.chunk_size]
                self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if mode == "endless":
            return self._endless(req, entry.body, headers)
        if mode == "truncate-eof":
            self.close_connection = True
            self._answer(req, 200, {**headers, "Connection": "close"})
            self.wfile.write(body[: len(body) // 2])
            return None
        self._answer(req, 200, {**headers, "Content-Length": str(len(body))})
        if mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif mode == "slow":
            step = max(1, len(body) // self.owner.slow_pieces)
            for start in range(0, len(body), step):
                self.wfile.write(body[start : start + step])
                self.wfile.flush()
                time.sleep(self.owner.slow_pause)
        elif mode == "stall":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            req.hung_up = self._hung_up_within(self.owner.stall_seconds)
            self.close_connection = True
        else:
            self.wfile.write(body)
        return None

    def _endless(self, req: Request, piece: bytes, headers: dict[str, str]) -> None:
        self._answer(req, 200, {**headers, "Transfer-Encoding": "chunked"})
        self.close_connection = True
        try:
            self.wfile.write(b"1\r\n[\r\n")
            while True:
                self.wfile.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                req.sent += len(piece)
        except OSError:  # the client hung up
            req.hung_up = True

    def _hung_up_within(self, seconds: float) -> bool:
        """Wait ``seconds``; True as soon as the client closes its end."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    return not self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    return True
        return False

    def _not_modified(self, entry: Served) -> bool:
        tag = self.headers.get("If-None-Match")
        if tag is not None and entry.etag is not None:
            return entry.etag in [t.strip() for t in tag.split(",")] or tag == "*"
        since = self.headers.get("If-Modified-Since")
        if since is None:
            return False
        try:
            since_ts = email.utils.parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
        modified = email.utils.parsedate_to_datetime(entry.last_modified).timestamp()
        return modified <= since_ts
