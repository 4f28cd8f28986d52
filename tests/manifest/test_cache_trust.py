"""The cache is private and checked: attacks by another local user, damage at any
byte of an entry, a held lock.  Whatever is done to the cache, a run answers with
the server's records or an error, never with what the cache was made to hold, and
never deletes or creates anything outside the cache's own names."""

from __future__ import annotations

from collections.abc import Callable
import json
import logging
import os
from pathlib import Path
import subprocess
import sys
from typing import Any

import pytest

from dandi_compute_plugin.defaults import DEFAULT_TIMEOUT
from dandi_compute_plugin.errors import (
    ManifestUnavailableError,
    UnsafeCacheDirectoryError,
)
from dandi_compute_plugin.manifest import (
    ManifestRequest,
    iter_asset_metadata,
    summarize,
)
from dandi_compute_plugin.manifest.cache.entry import CacheEntry
from dandi_compute_plugin.manifest.cache.files import LockTimeout
from dandi_compute_plugin.manifest.cache.listing import list_entries, remove_entry
from dandi_compute_plugin.manifest.cache.meta import seal

from .common import PATH, dumps, example_records, expected_metadata, load_fresh
from .original import original_load
from .server import ManifestServer

OTHER_UID = 65534  # nobody: the other local user


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("making files of another user needs root")


def truth(body: bytes) -> tuple[dict[str, Any], list[Any], tuple[int, int]]:
    """What the server's manifest gives: by content id, the assets, the summary."""
    by_id = original_load(body)[0]
    assets = [expected_metadata(r) for r in json.loads(body)]
    last = {a.path: a.content_size for a in assets}
    return by_id, assets, (len(last), sum(last.values()))


def uses(url: str) -> dict[str, Callable[[], Any]]:
    """Each way of reading a manifest, giving what can be compared with truth."""
    return {
        "api": lambda: {
            k: dict(v) for k, v in load_fresh(source=url).content_id_to_asset.items()
        },
        "listing": lambda: list(iter_asset_metadata(source=url)),
        "summary": lambda: summarize(ManifestRequest(source=url)),
        "records": lambda: dict(
            load_fresh(source=url, keep_records=True).content_id_to_asset
        ),
    }


def expected_of(body: bytes) -> dict[str, Any]:
    by_id, assets, summary = truth(body)
    return {"api": by_id, "listing": assets, "summary": summary, "records": by_id}


def entry_dir(cache_dir: Path) -> Path:
    (entry,) = (cache_dir / "manifests").iterdir()
    return entry


def served(server: ManifestServer) -> tuple[str, bytes]:
    body = dumps(example_records())
    server.add(PATH, body)
    return server.url(PATH), body


# ------------------------------------------------------------ another user


def test_a_cache_root_of_another_user_is_neither_used_nor_touched(
    server: ManifestServer, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    needs_root()
    url, body = served(server)
    load_fresh(source=url)  # a real entry, then handed over
    for path in [cache_dir, *cache_dir.rglob("*")]:
        os.chown(path, OTHER_UID, OTHER_UID, follow_symlinks=False)
    before = {p: p.read_bytes() for p in cache_dir.rglob("*") if p.is_file()}
    expected = expected_of(body)
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        for name, use in uses(url).items():
            assert use() == expected[name], name
    # warned once, never a conditional request: the forged validators stay unsent
    assert caplog.text.count("Not using the manifest cache") == 1
    assert server.statuses(PATH) == [200] * (1 + len(expected))
    assert all(r.if_none_match is None for r in server.requests[1:])
    assert {p: p.read_bytes() for p in cache_dir.rglob("*") if p.is_file()} == before
    with pytest.raises(UnsafeCacheDirectoryError, match="owned by user id"):
        load_fresh(source=url, refresh=True)


def test_a_forged_entry_of_another_user_is_not_trusted(
    server: ManifestServer, cache_dir: Path
) -> None:
    """Forged records with the server's real ETag and correct digests, in an
    entry directory that another user made inside the victim's cache."""
    needs_root()
    url, body = served(server)
    forged_body = body.replace(b"sub-", b"sub-X")
    server.add(PATH, forged_body)
    load_fresh(source=url)  # the attacker's entry, correct
    server.add(PATH, body)
    entry = entry_dir(cache_dir)
    server.served[PATH].etag = json.loads((entry / "meta.json").read_text())["etag"]
    for path in [entry, *entry.iterdir()]:
        os.chown(path, OTHER_UID, OTHER_UID)
    expected = expected_of(body)
    for name, use in uses(url).items():
        assert use() == expected[name], name
    assert server.statuses(PATH)[1:] == [200] * len(expected)


def test_a_group_writable_entry_is_not_trusted(
    server: ManifestServer, cache_dir: Path
) -> None:
    url, body = served(server)
    load_fresh(source=url)
    entry_dir(cache_dir).chmod(0o770)
    assert uses(url)["api"]() == expected_of(body)["api"]
    assert server.statuses(PATH) == [200, 200]
    assert [e.status for e in list_entries()] == ["unsafe"]


def test_a_symlinked_entry_directory_deletes_nothing_it_points_to(
    server: ManifestServer, cache_dir: Path, tmp_path: Path
) -> None:
    url, body = served(server)
    load_fresh(source=url)
    entry = entry_dir(cache_dir)
    victim = tmp_path / "victims-files"
    victim.mkdir()
    # the victim's files, named as the cache names its own
    names = [p.name for p in entry.iterdir()] + ["notes.txt"]
    for name in names:
        (victim / name).write_text("precious")
    for path in entry.iterdir():
        path.unlink()
    entry.rmdir()
    entry.symlink_to(victim)
    expected = expected_of(body)
    for name, use in uses(url).items():
        assert use() == expected[name], name
    assert sorted(p.name for p in victim.iterdir()) == sorted(names)
    assert all(p.read_text() == "precious" for p in victim.iterdir())
    (info,) = list_entries()
    assert info.status == "unsafe"
    with pytest.raises(OSError, match="symbolic link"):
        remove_entry(info)
    assert sorted(p.name for p in victim.iterdir()) == sorted(names)


@pytest.mark.parametrize("target_exists", [False, True])
def test_a_planted_lock_symlink_creates_and_truncates_nothing(
    server: ManifestServer,
    cache_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    target_exists: bool,
) -> None:
    url, body = served(server)
    load_fresh(source=url)
    entry = entry_dir(cache_dir)
    target = tmp_path / "chosen-by-the-attacker"
    if target_exists:
        target.write_text("keep")
    (entry / "lock").unlink(missing_ok=True)
    (entry / "lock").symlink_to(target)
    server.add(PATH, body + b" ")  # a new manifest: the entry is rewritten
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        got = uses(url)["api"]()
    assert got == expected_of(body)["api"]
    assert "Not caching" in caplog.text and "is a link" in caplog.text
    assert target.exists() == target_exists
    if target_exists:
        assert target.read_text() == "keep"
    assert (entry / "lock").is_symlink()


def test_a_hard_linked_cache_file_is_not_trusted(
    server: ManifestServer, cache_dir: Path, tmp_path: Path
) -> None:
    url, body = served(server)
    load_fresh(source=url)
    index = next(entry_dir(cache_dir).glob("index-*.txt"))
    os.link(index, tmp_path / "elsewhere")
    assert uses(url)["listing"]() == expected_of(body)["listing"]
    assert server.statuses(PATH) == [200, 200]
    assert (tmp_path / "elsewhere").read_bytes() == index.read_bytes()


@pytest.mark.parametrize("name", ["meta.json", "lock", "index"])
def test_a_fifo_in_an_entry_is_never_waited_on(
    server: ManifestServer, cache_dir: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    url, body = served(server)
    load_fresh(source=url)
    entry = entry_dir(cache_dir)
    if name == "index":
        (path,) = entry.glob("index-*")
    else:
        path = entry / name
    path.unlink()
    os.mkfifo(path)
    server.add(PATH, body + b" ")  # changed: the writer takes the lock too
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        for use, expected in expected_of(body).items():
            assert uses(url)[use]() == expected, use
    assert "not a regular file" in caplog.text


def test_a_symlinked_manifests_directory_is_not_followed(
    server: ManifestServer, cache_dir: Path, tmp_path: Path
) -> None:
    url, body = served(server)
    load_fresh(source=url)
    (cache_dir / "manifests").rename(tmp_path / "moved")
    (cache_dir / "manifests").symlink_to(tmp_path / "moved")
    before = sorted(p.name for p in (tmp_path / "moved").rglob("*"))
    assert uses(url)["api"]() == expected_of(body)["api"]
    assert server.statuses(PATH) == [200, 200]
    assert sorted(p.name for p in (tmp_path / "moved").rglob("*")) == before


# ------------------------------------------------------------ damage


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "part", ["meta.json", "assets-", "index-", "offsets-", "blocks-"]
)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("use", ["api", "listing", "summary", "records"])
def test_a_flipped_byte_anywhere_in_an_entry_never_reaches_the_caller(
    server: ManifestServer,
    cache_dir: Path,
    caplog: pytest.LogCaptureFixture,
    part: str,
    where: str,
    use: str,
) -> None:
    if use == "api" and part == "assets-":
        pytest.skip("checked as records are read: the test below")
    url, body = served(server)
    load_fresh(source=url)
    (path,) = (p for p in entry_dir(cache_dir).iterdir() if p.name.startswith(part))
    size = path.stat().st_size
    _flip(path, {"first": 0, "middle": size // 2, "last": size - 1}[where])
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        assert uses(url)[use]() == expected_of(body)[use]
    reads = {
        "api": ("meta.json", "index-", "offsets-", "blocks-"),
        "listing": ("meta.json", "index-"),
        "summary": ("meta.json",),
        "records": ("meta.json", "assets-"),
    }[use]
    if part in reads:  # found, reported, downloaded again
        assert "is damaged" in caplog.text
        assert server.statuses(PATH) == [200, 200]
    else:  # not read by this use: not needed
        assert server.statuses(PATH) == [200, 304]


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_flipped_manifest_byte_is_found_before_its_record_is_used(
    server: ManifestServer, cache_dir: Path, where: str
) -> None:
    """The index by content id checks the manifest block by block, as its
    records are read: the damaged one is an error, the entry dropped."""
    url, body = served(server)
    load_fresh(source=url)
    (path,) = entry_dir(cache_dir).glob("assets-*.jsonld")
    at = {"first": 0, "middle": len(body) // 2, "last": len(body) - 1}[where]
    _flip(path, at)
    index = load_fresh(source=url)
    assert server.statuses(PATH) == [200, 304]
    with pytest.raises(ManifestUnavailableError, match="damaged.*removed"):
        dict(index.content_id_to_asset)
    assert list(entry_dir(cache_dir).glob("assets-*")) == []
    assert uses(url)["api"]() == expected_of(body)["api"]
    assert server.statuses(PATH) == [200, 304, 200]


def test_a_damaged_record_says_so_when_its_entry_cannot_be_removed(
    server: ManifestServer, cache_dir: Path
) -> None:
    """The entry's lock is held: the damage is reported, never "removed" while
    the damaged copy stays; once the lock is free, the next find removes it."""
    url, body = served(server)
    load_fresh(source=url)
    (path,) = entry_dir(cache_dir).glob("assets-*.jsonld")
    _flip(path, len(body) // 2)
    index = load_fresh(source=url, timeout=0.2)
    holder = _holding(entry_dir(cache_dir) / "lock")
    try:
        with pytest.raises(ManifestUnavailableError, match="could not be removed"):
            dict(index.content_id_to_asset)
        assert path.exists()
    finally:
        holder.kill()
        holder.wait()
    index = load_fresh(source=url, timeout=0.2)
    with pytest.raises(ManifestUnavailableError, match="it was removed"):
        dict(index.content_id_to_asset)
    assert not path.exists()
    assert uses(url)["api"]() == expected_of(body)["api"]


def _reseal(entry: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Change meta.json and seal it again, as a faulty writer would."""
    meta = json.loads((entry / "meta.json").read_text())
    change(meta)
    meta.pop("check")
    (entry / "meta.json").write_text(json.dumps(seal(meta)))


BAD_META: dict[str, Callable[[dict[str, Any]], None]] = {
    "written-huge": lambda m: m.update(written=1e300),
    "written-int-digits": lambda m: m.update(written=int(m["written"] * 1e6)),
    "written-nan": lambda m: m.update(written=float("nan")),
    "etag-number": lambda m: m.update(etag=5),
    "etag-newline": lambda m: m.update(etag='"a"\r\nX-Evil: 1'),
    "count-negative": lambda m: m["index"].update(count=-1),
    "total-edited": lambda m: m["index"].update(total_bytes="12"),
    "file-outside": lambda m: m["index"].update(file="../../x"),
    "size-bool": lambda m: m["manifest"].update(size=True),
    "not-an-object": lambda m: m.update(index=[]),
}


@pytest.mark.parametrize("bad", sorted(BAD_META))
def test_a_bad_description_breaks_no_other_entry_nor_the_offline_fallback(
    server: ManifestServer,
    cache_dir: Path,
    caplog: pytest.LogCaptureFixture,
    bad: str,
) -> None:
    url, body = served(server)
    other_path = "/dandisets/000002/draft/assets.jsonld"
    server.add(other_path, body)
    other = server.url(other_path)
    load_fresh(source=url)
    load_fresh(source=other)
    damaged = next(
        e.directory for e in list_entries() if e.url == url
    )  # before it is damaged
    _reseal(damaged, BAD_META[bad])
    infos = {e.url: e for e in list_entries()}
    assert infos[other].status == "ok" and len(infos) == 2
    assert [i.as_record()["status"] for i in list_entries()].count("damaged") == 1
    # the damaged entry is downloaded again, not taken for an unreachable server
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        assert uses(url)["api"]() == expected_of(body)["api"]
    assert "is damaged" in caplog.text and "may be out of date" not in caplog.text
    assert server.statuses(PATH) == [200, 200]
    server.served[other_path].mode = "503"
    assert uses(other)["summary"]() == expected_of(body)["summary"]  # offline


def test_summary_needs_the_entrys_files(
    server: ManifestServer, cache_dir: Path
) -> None:
    url, body = served(server)
    load_fresh(source=url)
    for path in entry_dir(cache_dir).iterdir():
        if path.name != "meta.json" and path.name != "lock":
            path.unlink()
    assert uses(url)["summary"]() == expected_of(body)["summary"]
    assert server.statuses(PATH) == [200, 200]


# ------------------------------------------------------------ locks

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)
"""


def test_a_held_lock_is_waited_for_no_longer_than_the_timeout(
    server: ManifestServer, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, body = served(server)
    load_fresh(source=url)
    entry = entry_dir(cache_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(entry / "lock")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        server.add(PATH, body + b"\n")  # changed: a new entry would be written
        (entry / "assets-0000000000000000.jsonld.tmp").write_bytes(b"")  # stale?
        with caplog.at_level(logging.WARNING, logger="dandi.compute"):
            index = load_fresh(source=url, timeout=1)
        assert "Not caching" in caplog.text and "held by another run" in caplog.text
        got = {k: dict(v) for k, v in index.content_id_to_asset.items()}
        assert got == expected_of(body)["api"]
    finally:
        holder.kill()
        holder.wait()
    # once the lock is free, the next run caches again
    load_fresh(source=url, timeout=1)
    load_fresh(source=url, timeout=1)
    assert server.statuses(PATH)[-1] == 304


def _holding(lock: Path) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_held_lock_is_waited_for_once_in_a_run_however_many_steps_need_it(
    server: ManifestServer, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A run whose entry has a killed run's temporary (tidying takes the lock)
    and whose manifest changed (writing the new entry takes it too) meets the
    held lock twice: it waits once, then runs uncached without waiting again."""
    url, body = served(server)
    load_fresh(source=url)
    entry = entry_dir(cache_dir)
    holder = _holding(entry / "lock")
    try:
        server.add(PATH, body + b"\n")
        (entry / "assets-0000000000000000.jsonld.tmp").write_bytes(b"")
        with caplog.at_level(logging.DEBUG, logger="dandi.compute"):
            index = load_fresh(source=url, timeout=0.5)
        got = {k: dict(v) for k, v in index.content_id_to_asset.items()}
        assert got == expected_of(body)["api"]
    finally:
        holder.kill()
        holder.wait()
    lock_messages = [
        r.getMessage() for r in caplog.records if "is held" in r.getMessage()
    ]
    assert len(lock_messages) == 2, lock_messages  # tidying, then writing
    assert sum("(waited 0.5 s)" in m for m in lock_messages) == 1, lock_messages
    assert "lock are spent" in lock_messages[1] and "Not caching" in lock_messages[1]


def test_an_entry_without_a_lock_timeout_still_waits_a_bounded_time(
    cache_dir: Path,
) -> None:
    """``CacheEntry(url)`` waits :data:`DEFAULT_TIMEOUT` at most, all uses
    together, never as long as it takes."""
    entry = CacheEntry("http://example.org/m")
    assert entry.lock_timeout == DEFAULT_TIMEOUT
    entry = CacheEntry("http://example.org/m", lock_timeout=0.2)
    with entry.open_directory(create=True) as directory:
        holder = _holding(entry.directory / "lock")
        try:
            messages = []
            for _ in range(2):
                with pytest.raises(LockTimeout) as raised, entry.lock(directory):
                    pass
                messages.append(str(raised.value))
            assert "(waited 0.2 s)" in messages[0] and "spent" not in messages[0]
            assert "spent" in messages[1]
        finally:
            holder.kill()
            holder.wait()
        with entry.lock(directory):  # free again: taken without any wait left
            pass


@pytest.mark.parametrize("part", ["meta.json", "assets-", "index-", "offsets-"])
def test_a_truncated_file_is_damage_never_a_shorter_answer(
    server: ManifestServer, cache_dir: Path, part: str
) -> None:
    url, body = served(server)
    load_fresh(source=url)
    (path,) = (p for p in entry_dir(cache_dir).iterdir() if p.name.startswith(part))
    path.write_bytes(path.read_bytes()[:-1])
    expected = expected_of(body)
    for use in ("listing", "api", "summary", "records"):
        assert uses(url)[use]() == expected[use], use
    assert server.statuses(PATH)[1] == 200


def test_an_entry_copied_under_another_urls_name_is_not_used(
    server: ManifestServer, cache_dir: Path
) -> None:
    """The files of a sound entry of one URL, put in the directory of another."""
    url, body = served(server)
    other_path = "/dandisets/000002/draft/assets.jsonld"
    other_body = dumps(example_records()[:3])
    server.add(other_path, other_body)
    other = server.url(other_path)
    load_fresh(source=url)
    load_fresh(source=other)
    entries = {e.url: e.directory for e in list_entries()}
    for path in entries[url].iterdir():
        path.unlink()
    for path in entries[other].iterdir():
        (entries[url] / path.name).write_bytes(path.read_bytes())
    assert uses(url)["listing"]() == expected_of(body)["listing"]
    assert server.statuses(PATH) == [200, 200]
