"""No temporary file outlives its run: killed downloads, full disks, bad locks.

A killed run (a real child process, SIGKILL or SIGTERM in the middle of a real
download) leaves temporaries that the next run removes -- at once, not after a
day -- while the temporaries of a run that is still alive, in another process or
in another thread, are never touched.  A full disk (a real, tiny tmpfs) and a lock
that cannot be taken leave nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import errno
import logging
import os
from pathlib import Path
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from dandi_compute_plugin.manifest.cache import CacheEntry
from dandi_compute_plugin.manifest.cache.writer import CacheWriter
from dandi_compute_plugin.manifest.index import TotalingIndexBuilder

from ..records import asset_record
from .common import PATH, dumps, expected_metadata, load_fresh
from .original import original_load
from .server import ManifestServer

#: a child that downloads a manifest into the cache (argv: URL, refresh 0/1)
DOWNLOAD = (
    "import sys\n"
    "from dandi_compute_plugin import load_assets_jsonld_metadata\n"
    "load_assets_jsonld_metadata(source=sys.argv[1], refresh=sys.argv[2] == '1')\n"
)


def big_records() -> list[dict[str, Any]]:
    """A manifest of about a megabyte: a download that takes many chunks."""
    return [asset_record(f"many/{i:05d}.txt") for i in range(3000)]


def temporaries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("*.tmp"))


def entry_files(cache: Path) -> list[str]:
    """The names of the entries' files, the lock aside."""
    return sorted(p.name for p in cache.rglob("*") if p.is_file() and p.name != "lock")


def start_download(url: str, cache: Path, refresh: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DOWNLOAD, url, "1" if refresh else "0"],
        env={"DANDI_COMPUTE_CACHE_DIR": str(cache), "PATH": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def wait_for_temporaries(cache: Path, child: subprocess.Popen) -> list[Path]:
    """Wait until the child has written part of the manifest to a temporary."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = list(cache.rglob("assets-*.jsonld.tmp"))
        if found and found[0].stat().st_size >= 1 << 16:
            return temporaries(cache)
        if child.poll() is not None:
            pytest.fail(f"the download ended early: {child.stderr.read()!r}")
        time.sleep(0.02)
    pytest.fail("the child wrote no temporary")


@contextlib.contextmanager
def stalled_download(
    server: ManifestServer, cache: Path, refresh: bool = False
) -> Iterator[tuple[subprocess.Popen, list[Path]]]:
    """A child process in the middle of a download (half the manifest sent, the
    server silent); killed at the end if still alive."""
    server.stall_seconds = 60
    server.served[PATH].mode = "stall"
    child = start_download(server.url(PATH), cache, refresh)
    try:
        yield child, wait_for_temporaries(cache, child)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        child.stderr.close()  # type: ignore[union-attr]
        server.served[PATH].mode = "ok"


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_download_leaves_temporaries_that_the_next_run_removes(
    server: ManifestServer, cache_dir: Path, how: signal.Signals
) -> None:
    recs = big_records()
    server.add(PATH, dumps(recs))
    with stalled_download(server, cache_dir) as (child, left):
        child.send_signal(how)
        assert child.wait(timeout=30) == -how
    # what the killed run could not remove: a manifest-sized temporary
    assert temporaries(cache_dir) == left
    assert max(p.stat().st_size for p in left) >= 1 << 16
    index = load_fresh(source=server.url(PATH))
    assert list(index.path_to_asset_metadata.values()) == [
        expected_metadata(r) for r in recs
    ]
    assert temporaries(cache_dir) == []
    assert (
        len(entry_files(cache_dir)) == 5
    )  # meta.json, manifest, index, offsets, blocks


def test_a_run_answered_from_the_cache_removes_a_killed_refresh(
    server: ManifestServer, cache_dir: Path
) -> None:
    server.add(PATH, dumps(big_records()))
    url = server.url(PATH)
    first = load_fresh(source=url)
    entry = entry_files(cache_dir)
    with stalled_download(server, cache_dir, refresh=True) as (child, left):
        child.kill()
        child.wait(timeout=30)
    assert left and temporaries(cache_dir) == left
    assert load_fresh(source=url) == first
    assert server.statuses(PATH)[-1] == 304  # nothing was written this time
    assert temporaries(cache_dir) == []
    assert entry_files(cache_dir) == entry


def test_a_live_download_in_another_process_keeps_its_temporaries(
    server: ManifestServer, cache_dir: Path
) -> None:
    recs = big_records()
    server.add(PATH, dumps(recs))
    url = server.url(PATH)
    with stalled_download(server, cache_dir) as (child, theirs):
        server.served[PATH].mode = "ok"
        # this run downloads, sweeps before and after writing, commits...
        index = load_fresh(source=url)
        assert len(index.path_to_asset_metadata) == len(recs)
        # ...and answers from the cache, sweeping again
        assert load_fresh(source=url) == index
        assert server.statuses(PATH)[-2:] == [200, 304]
        assert child.poll() is None
        assert all(p.exists() for p in theirs)  # never the live run's
        assert set(temporaries(cache_dir)) == set(theirs)
    entry = CacheEntry(url).read_index()  # the writer is dead now: swept
    assert entry is not None and entry.index == index.path_to_asset_metadata
    assert temporaries(cache_dir) == []


def test_a_writing_thread_keeps_its_temporaries(
    server: ManifestServer, cache_dir: Path
) -> None:
    server.add(PATH, dumps(big_records()))
    url = server.url(PATH)
    writer = CacheWriter(CacheEntry(url), TotalingIndexBuilder(keep=False))
    writer.write_manifest(b'[{"path":')
    ours = temporaries(cache_dir)
    assert len(ours) == 4
    load_fresh(source=url)  # a run sweeping while we write
    CacheEntry(url).read_rows()
    assert temporaries(cache_dir) == ours
    writer.abort()
    assert temporaries(cache_dir) == []


def test_temporaries_that_nobody_holds_go_at_once_whatever_their_age(
    server: ManifestServer, cache_dir: Path
) -> None:
    server.add(PATH, dumps(big_records()))
    url = server.url(PATH)
    directory = CacheEntry(url).directory
    directory.mkdir(parents=True)
    left = [
        directory / "assets-0123456789abcdef.jsonld.tmp",
        directory / "index-0123456789abcdef.txt.tmp",
        directory / "meta-01234567.json.tmp",
    ]
    for path in left:
        path.write_bytes(b"x" * 1000)  # just written: not a day old
    load_fresh(source=url)
    assert temporaries(cache_dir) == []
    assert len(entry_files(cache_dir)) == 5


def test_an_unusable_lock_leaves_nothing_behind(
    server: ManifestServer, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recs = big_records()
    server.add(PATH, dumps(recs))
    url = server.url(PATH)
    directory = CacheEntry(url).directory
    (directory / "lock").mkdir(parents=True)  # no lock file can be opened there
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        index = load_fresh(source=url)
    assert len(index.path_to_asset_metadata) == len(recs)
    assert "Not caching" in caplog.text
    assert [p.name for p in directory.iterdir()] == ["lock"]
    load_fresh(source=url)  # still no cache, still works
    assert server.statuses(PATH) == [200, 200]
    assert [p.name for p in directory.iterdir()] == ["lock"]


@pytest.fixture
def tiny_disk(cache_dir: Path) -> Iterator[Path]:
    """The cache directory on a 256 kB tmpfs (root only)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root and mount(8) for a tiny tmpfs")
    cache_dir.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(cache_dir)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield cache_dir
    finally:
        subprocess.run(["umount", str(cache_dir)], check=True)


def used_bytes(path: Path) -> int:
    fs = os.statvfs(path)
    return (fs.f_blocks - fs.f_bfree) * fs.f_frsize


# in small HTTP chunks the download is written in small pieces, buffered: the
# disk is full when the buffer is flushed, and closing the file fails again
@pytest.mark.parametrize("mode", ["ok", "chunked"])
def test_a_full_disk_while_downloading_leaves_nothing(
    server: ManifestServer,
    tiny_disk: Path,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    recs = big_records()
    server.add(PATH, dumps(recs), mode=mode)
    assert len(dumps(recs)) > 2 * 256 * 1024  # it cannot fit
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        index = load_fresh(source=server.url(PATH))
    assert len(index.path_to_asset_metadata) == len(recs)  # used anyway
    # the full records are read from a copy kept elsewhere (the temp directory)
    assert list(index.content_id_to_asset.values()) == list(
        original_load(dumps(recs))[0].values()
    )
    del index
    assert "Not caching" in caplog.text and "No space left" in caplog.text
    assert entry_files(tiny_disk) == []
    assert used_bytes(tiny_disk) < 16 * 1024  # the space is free again


def fill(disk: Path) -> None:
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)


def test_a_full_disk_when_the_entry_is_put_in_place_leaves_nothing(
    server: ManifestServer, tiny_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.url(PATH)
    writer = CacheWriter(CacheEntry(url), TotalingIndexBuilder(keep=False))
    writer.write_manifest(b"[" + b" " * 20000 + b"]")
    assert len(temporaries(tiny_disk)) == 4
    fill(tiny_disk)
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        writer.commit('"etag"', None)
    assert "Not caching" in caplog.text and "No space left" in caplog.text
    assert entry_files(tiny_disk) == ["filler"]
    assert CacheEntry(url).read_rows() is None
