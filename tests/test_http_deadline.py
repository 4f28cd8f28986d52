"""One deadline for a whole request, whichever way it goes: straight to the
server, or through the HTTP proxy of the environment (``http_proxy``), as on
many compute clusters."""

from __future__ import annotations

from collections.abc import Iterator
import socket
import threading

import pytest

from dandi_compute_plugin._http import (
    DeadlineExceeded,
    deadline,
    read_capped,
    session_with_deadlines,
)

#: an answer sent a byte at a time: each byte in time for a per-read timeout,
#: the whole far later than the deadline
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n" + b"x" * 400


class Dripping:
    """A server on 127.0.0.1 that answers anything, proxy requests too, with
    :data:`ANSWER` dripped."""

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
            conn.recv(65536)
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


@pytest.mark.parametrize("way", ["direct", "proxy"])
def test_a_dripping_answer_is_cut_at_the_deadline(dripping: Dripping, way: str) -> None:
    session = session_with_deadlines(timeout=5)
    if way == "proxy":
        url, proxies = "http://archive.invalid/api/", {"http": dripping.url}
    else:
        url, proxies = f"{dripping.url}/api/", {}
    with pytest.raises(DeadlineExceeded), deadline(1):
        response = session.get(url, proxies=proxies, stream=True)
        read_capped(response, 1 << 20)
    # the connection itself was shut, not the answer waited for and then
    # refused: the server sees the client hang up long before its last byte
    dripping.ended.wait(len(ANSWER))
    assert dripping.cut.is_set() and not dripping.sent.is_set()
