"""The download's read-ahead thread: what it hands over, joined or not, and when."""

from __future__ import annotations

from collections.abc import Iterator
import time

import pytest

from dandi_compute_plugin.manifest.http import prefetch


def test_small_reads_are_joined_while_the_consumer_is_busy() -> None:
    pieces = [bytes([i % 256]) * 100 for i in range(2000)]
    seen: list[bytes] = []
    chunks = prefetch(iter(pieces), seen.append, batch_size=10_000)
    first = next(chunks)
    time.sleep(0.3)  # the parse is busy: the thread reads on
    got = [first, *chunks]
    assert b"".join(got) == b"".join(pieces)
    assert seen == got  # every byte passed on once, in order
    assert len(got) < len(pieces) // 10
    assert max(map(len, got)) < 10_000 + 100


def test_what_was_read_is_handed_over_before_the_error() -> None:
    def broken() -> Iterator[bytes]:
        yield from [b"a" * 100] * 50
        raise OSError("connection reset")

    got: list[bytes] = []
    with pytest.raises(OSError, match="connection reset"):
        for chunk in prefetch(broken(), batch_size=1 << 20):
            got.append(chunk)
            time.sleep(0.01)
    assert b"".join(got) == b"a" * 5000
