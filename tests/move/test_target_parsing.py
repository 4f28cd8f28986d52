"""``--to`` is read once, and never waited for beyond the timeout: the forms
that name a known instance ask nobody, any other is waited for ``timeout``
seconds at most (dandi's parser asks the instance without a deadline).

Every request of the process goes through a proxy that accepts connections and
never answers: a request made shows as a connection there, and would wait for
ever."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from pathlib import Path
import socket
import threading

import pytest

from dandi_compute_plugin.errors import ArchiveError, MoveUsageError
from dandi_compute_plugin.move import run_move
from dandi_compute_plugin.move.target import parse_target

LIVENESS = 60  # a hang guard, not a measure


@pytest.fixture
def silent_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[socket.socket]]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}"
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, url)
    for name in ("no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    yield accepted
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def _within(call, *args, **kwargs):
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = call(*args, **kwargs)
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(LIVENESS)
    assert not thread.is_alive(), "waited for an answer beyond the timeout"
    return box


@pytest.mark.parametrize(
    "to",
    [
        "001873",
        "DANDI:001873",
        "dandi:001873/draft",
        "https://dandiarchive.org/dandiset/001873",
        "https://dandiarchive.org/dandiset/001873/draft",
        "https://api.dandiarchive.org/api/dandisets/001873/",
        "dandi://dandi/001873@draft",
    ],
)
def test_a_known_instances_forms_ask_nobody(silent_proxy, to: str) -> None:
    box = _within(parse_target, to)
    assert "error" not in box, box
    expected = None if to == "001873" else "dandi"
    assert box["value"] == ("001873", expected)
    assert silent_proxy == []


def test_a_published_version_is_refused_without_asking(silent_proxy) -> None:
    box = _within(parse_target, "DANDI:001873/0.240101.1234")
    assert isinstance(box.get("error"), MoveUsageError)
    assert "assets go to the draft" in str(box["error"])
    assert silent_proxy == []


def test_another_instance_is_waited_for_the_timeout(
    silent_proxy, tmp_path: Path
) -> None:
    to = "https://dandi.example.org/dandiset/001873"
    box = _within(run_move, tmp_path, "v1.1.1", to, timeout=2)
    assert isinstance(box.get("error"), ArchiveError), box
    assert "did not answer within the 2 s timeout" in str(box["error"])
    assert silent_proxy  # dandi's parser did ask it
