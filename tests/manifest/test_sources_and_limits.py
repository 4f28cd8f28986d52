"""Any readable non-directory --source is streamed (a FIFO, a process
substitution); one record may hold at most a documented number of bytes."""

from __future__ import annotations

import io
import os
from pathlib import Path
import shutil
import subprocess
import sys
import threading
import time
import zlib

import pytest

from dandi_compute_plugin import load_assets_jsonld_metadata
from dandi_compute_plugin.errors import ManifestFormatError
from dandi_compute_plugin.manifest import ManifestRequest, iter_assets, summarize

from .common import PATH, dumps, example_records, load_fresh
from .original import original_load
from .server import ManifestServer


def test_a_fifo_is_streamed_once(tmp_path: Path) -> None:
    body = dumps(example_records())
    fifo = tmp_path / "manifest.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as f:
            f.write(body)

    for read in (
        lambda: dict(load_fresh(source=fifo).content_id_to_asset),
        lambda: summarize(ManifestRequest(source=str(fifo))),
        lambda: [a.path for a in iter_assets(ManifestRequest(source=fifo))],
    ):
        writer = threading.Thread(target=feed)
        writer.start()
        got = read()
        writer.join()
        by_id, by_path = original_load(body)
        assert got in (
            by_id,
            (len(by_path), sum(m.content_size for m in by_path.values())),
            list(by_path),
        )


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_process_substitution_is_read_by_the_command(tmp_path: Path) -> None:
    body = dumps(example_records())
    (tmp_path / "m.jsonld").write_bytes(body)
    dandi = Path(sys.executable).with_name("dandi")
    script = f"{dandi} compute index --source <(cat m.jsonld) --summary"
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    by_path = original_load(body)[1]
    total = sum(m.content_size for m in by_path.values())
    assert done.stdout.strip() == f"{len(by_path)} assets, {total} bytes"


def _with_text(size: int) -> bytes:
    record = dict(example_records()[0], note="x" * size)
    return dumps([example_records()[1], record])


def test_a_record_may_hold_32_mib() -> None:
    limit = 32 * 1024 * 1024  # the documented MAX_RECORD_BYTES
    index = load_assets_jsonld_metadata(source=io.BytesIO(_with_text(limit - 2000)))
    assert len(index.path_to_asset_metadata) == 2
    with pytest.raises(ManifestFormatError, match="longer than 33554432") as raised:
        load_assets_jsonld_metadata(source=io.BytesIO(_with_text(limit + 10)))
    assert raised.value.record == 2


def _gzip_of_one_record(text_bytes: int) -> bytes:
    """gzip data that inflates to a manifest of one record holding
    ``text_bytes`` bytes of text (a few hundred kilobytes for hundreds of MiB)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip format
    parts = [packer.compress(b'[{"path": "a.txt", "note": "')]
    zeros = b"0" * (1 << 20)
    for _ in range(text_bytes >> 20):
        parts.append(packer.compress(zeros))
    parts.append(packer.compress(b'"}]'))
    parts.append(packer.flush())
    return b"".join(parts)


#: load the manifest at argv[1]; print the error's record and the peak RSS (MiB)
_LOAD_AND_MEASURE = """
import resource, sys
from dandi_compute_plugin import load_assets_jsonld_metadata
from dandi_compute_plugin.errors import ManifestFormatError
try:
    load_assets_jsonld_metadata(source=sys.argv[1])
except ManifestFormatError as exc:
    print(exc.record, "longer than" in str(exc))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def test_a_small_gzip_answer_inflating_to_a_huge_record_fails_in_bounded_memory(
    server: ManifestServer,
) -> None:
    """A few hundred kilobytes of gzip that inflate to one 512 MiB record: the
    record cap ends the download once 32 MiB of it are held, whatever the
    compression ratio (decoded a chunk at a time, never all at once)."""
    server.add(PATH, _gzip_of_one_record(512 << 20), mode="gzipped")
    baseline = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_MEASURE, "-"],
        input=dumps(example_records()),
        capture_output=True,
        check=True,
    )
    done = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_MEASURE, server.url(PATH)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    error, peak = done.stdout.split("\n")[:2]
    assert error == "1 True"
    # the window holds at most twice the cap, and decoding is not reached
    assert int(peak) - int(baseline.stdout.split()[-1]) < 4 * 32


def test_a_body_that_never_ends_is_stopped_at_the_size_cap(
    server: ManifestServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that sends ``[`` and then white space for ever (valid JSON so far:
    no record ends, no record cap applies, and it comes fast enough for any
    deadline): the download stops at the manifest cap, the client hangs up, and
    nothing of it is left in the cache."""
    from dandi_compute_plugin.errors import ManifestUnavailableError
    from dandi_compute_plugin.manifest import http

    cap = 4 << 20
    monkeypatch.setattr(http, "MAX_MANIFEST_BYTES", cap)
    server.add(PATH, b" " * 65536, mode="endless")
    with pytest.raises(ManifestUnavailableError, match=r"passed 4\.0 MiB once decoded"):
        load_fresh(source=server.url(PATH))
    (request,) = server.requests
    deadline = time.monotonic() + 30  # the server notices at its next write
    while not request.hung_up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert request.hung_up
    assert cap <= request.sent < 64 * cap  # what the sockets' buffers hold beyond
    leftovers = [p for p in cache_dir.rglob("*") if p.is_file() and p.name != "lock"]
    assert leftovers == []
