"""One deadline for a whole request, whichever way it goes: straight to the
server, or through the HTTP proxy of the environment (``http_proxy``), as on
many compute clusters; and for a body read after it (a manifest's), a deadline
that moves on only while the body keeps coming."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import socket
import threading

import pytest

from dandi_compute_plugin._http import (
    MIN_BODY_RATE,
    DeadlineExceeded,
    deadline,
    keep_for_body,
    read_capped,
    session_with_deadlines,
)
from dandi_compute_plugin.errors import ManifestUnavailableError
from dandi_compute_plugin.manifest.http import http_get, response_chunks

#: an answer sent a byte at a time: each byte in time for a per-read timeout,
#: the whole far later than the deadline
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n" + b"x" * 400


class Dripping:
    """A server on 127.0.0.1 that answers anything, proxy requests too (an
    HTTP proxy's, or through a SOCKS5 tunnel), with :data:`ANSWER` dripped."""

    def __init__(self, url: str) -> None:
        self.url = url
        #: set when a client hung up before the whole answer was sent
        self.cut = threading.Event()
        #: set when a whole answer was sent
        self.sent = threading.Event()
        #: set when an answer ended, either way
        self.ended = threading.Event()


@pytest.fixture
def dripping() -> Iterator[Dripping]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    seen = Dripping(f"http://127.0.0.1:{server.getsockname()[1]}")

    def drip(conn: socket.socket) -> None:
        with conn:
            if conn.recv(65536).startswith(b"\x05"):  # a SOCKS5 greeting
                conn.sendall(b"\x05\x00")  # no authentication
                conn.recv(65536)  # "connect to archive.invalid:80": done
                conn.sendall(b"\x05\x00\x00\x01" + bytes(6))
                conn.recv(65536)  # the HTTP request, through the tunnel
            for byte in ANSWER:
                if stop.wait(0.05):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    seen.cut.set()  # the client gave up: what the deadline is for
                    seen.ended.set()
                    return
            seen.sent.set()
            seen.ended.set()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield seen
    stop.set()
    server.close()


@pytest.mark.parametrize("way", ["direct", "proxy", "socks5", "socks5h"])
def test_a_dripping_answer_is_cut_at_the_deadline(dripping: Dripping, way: str) -> None:
    session = session_with_deadlines(timeout=5)
    url = "http://archive.invalid/api/"
    if way == "direct":
        url, proxies = f"{dripping.url}/api/", {}
    elif way == "proxy":
        proxies = {"http": dripping.url}
    else:  # requests[socks]: a SOCKS proxy, the host resolved here or there
        pytest.importorskip("socks", reason="requests[socks] is not installed")
        if way == "socks5":
            url = f"{dripping.url}/api/"
        proxies = {"http": dripping.url.replace("http", way, 1)}
    with pytest.raises(DeadlineExceeded), deadline(1):
        response = session.get(url, proxies=proxies, stream=True)
        read_capped(response, 1 << 20)
    # the connection itself was shut, not the answer waited for and then
    # refused: the server sees the client hang up long before its last byte
    dripping.ended.wait(len(ANSWER))
    assert dripping.cut.is_set() and not dripping.sent.is_set()


class BodyServer:
    """A server on 127.0.0.1 whose headers come at once and whose body of
    ``size`` bytes comes ``piece`` bytes every ``pause`` seconds."""

    def __init__(self, size: int, piece: int, pause: float) -> None:
        self.size, self.piece, self.pause = size, piece, pause
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/assets.jsonld"
        self.cut = threading.Event()
        self.sent = threading.Event()
        self.ended = threading.Event()
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {self.size}\r\n\r\n"
            try:
                conn.sendall(head.encode())
                for start in range(0, self.size, self.piece):
                    if self.stop.wait(self.pause):
                        return
                    conn.sendall(b" " * min(self.piece, self.size - start))
            except OSError:
                self.cut.set()  # the client gave up
            else:
                self.sent.set()
            finally:
                self.ended.set()

    def close(self) -> None:
        self.stop.set()
        self.server.close()


@pytest.fixture
def body_server() -> Iterator[list[BodyServer]]:
    made: list[BodyServer] = []
    yield made
    for server in made:
        server.close()


def test_a_body_dripping_past_the_deadline_is_cut(
    body_server: list[BodyServer],
) -> None:
    """Twenty bytes a second, each read in time: the body may outlast the
    request's deadline only at MIN_BODY_RATE; it is cut, the server sees the
    client hang up long before its 200 s of body are sent."""
    server = BodyServer(size=4000, piece=1, pause=0.05)
    body_server.append(server)
    session = session_with_deadlines(timeout=5)
    with deadline(1):
        response = session.get(server.url, stream=True)
        body = keep_for_body()
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the read meets
        while response.raw.read1(1 << 16):
            body.received(response.raw.tell())
    assert body.expired
    body.close()
    server.ended.wait(server.size * server.pause)
    assert server.cut.is_set() and not server.sent.is_set()


def test_a_manifest_body_that_stops_coming_fails_naming_the_rate(
    body_server: list[BodyServer],
) -> None:
    server = BodyServer(size=4000, piece=1, pause=0.05)
    body_server.append(server)
    response = http_get(server.url, {}, timeout=1, what=None)
    with pytest.raises(ManifestUnavailableError, match="did not keep coming at"):
        for _chunk in response_chunks(response, server.url):
            pass
    server.ended.wait(server.size * server.pause)
    assert server.cut.is_set() and not server.sent.is_set()


def test_a_manifest_body_that_keeps_coming_may_outlast_the_timeout(
    body_server: list[BodyServer],
) -> None:
    """A quarter of a MiB over more than the 1 s timeout, at ten times
    MIN_BODY_RATE: read whole (its deadline, 1 s and a second per
    MIN_BODY_RATE bytes, is far ahead of it all along)."""
    piece = MIN_BODY_RATE // 2
    server = BodyServer(size=32 * piece, piece=piece, pause=0.05)
    body_server.append(server)
    response = http_get(server.url, {}, timeout=1, what=None)
    read = sum(len(chunk) for chunk in response_chunks(response, server.url))
    assert read == server.size and server.sent.is_set()


def test_the_docs_state_the_body_rate_in_force() -> None:
    from .subprocesses import REPO

    for doc in ("README.md", "docs/user-guide/manifests.rst"):
        text = " ".join((REPO / doc).read_text().split())
        assert f"{MIN_BODY_RATE // 1024} KiB" in text, doc


def test_index_ends_a_manifest_download_that_stops_coming(
    body_server: list[BodyServer], tmp_path: Path
) -> None:
    """The real command, its download read ahead by a thread: one line naming
    the rate, the server sees it hang up (200 s of body unsent)."""
    from .subprocesses import run_dandi, subprocess_env

    server = BodyServer(size=4000, piece=1, pause=0.05)
    body_server.append(server)
    env = subprocess_env(HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = run_dandi(
        "compute", "index", "--source", server.url, "--timeout", "1", "--no-cache",
        env=env,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "did not keep coming at" in proc.stderr and "Traceback" not in proc.stderr
    server.ended.wait(server.size * server.pause)
    assert server.cut.is_set() and not server.sent.is_set()
