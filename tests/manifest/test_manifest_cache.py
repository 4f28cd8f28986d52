"""The download cache: conditional requests, 304 reuse, damage, concurrency,
the offline fallback, summaries from the cache, and the record of each use."""

from __future__ import annotations

from datetime import UTC, datetime
import json
import logging
import os
from pathlib import Path
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from dandi_compute_plugin import iter_asset_metadata
from dandi_compute_plugin.errors import ManifestUnavailableError
from dandi_compute_plugin.manifest import ManifestRequest, summarize
from dandi_compute_plugin.manifest.cache import CacheEntry, cache_directory

from ..records import asset_record, example_paths
from .common import PATH, dumps, expected_metadata, load_fresh
from .server import ManifestServer


def records(tag: str = "") -> list[dict[str, Any]]:
    return [asset_record(p + tag) for p in example_paths()]


def entry_of(url: str) -> CacheEntry:
    return CacheEntry(url)


def cached_files(cache: Path) -> list[str]:
    """The files of the cache entries (the lock file aside)."""
    return sorted(p.name for p in cache.rglob("*") if p.is_file() and p.name != "lock")


def test_cache_directory_is_relocatable_and_defaults_next_to_dandis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert cache_directory() == tmp_path / "cache"
    monkeypatch.delenv("DANDI_COMPUTE_CACHE_DIR")
    import platformdirs

    default = cache_directory()
    assert default.name == "dandi-compute"
    assert default.parent == Path(platformdirs.user_cache_dir("dandi", "dandi")).parent


def test_second_load_is_a_304_answered_from_the_cached_index(
    server: ManifestServer, cache_dir: Path
) -> None:
    recs = records()
    entry = server.add(PATH, dumps(recs))
    url = server.url(PATH)
    first = load_fresh(source=url)
    assert server.statuses(PATH) == [200]
    assert server.requests[0].if_none_match is None
    names = cached_files(cache_dir)
    assert "meta.json" in names and len(names) == 5
    raw = next(cache_dir.rglob("assets-*.jsonld"))
    assert raw.read_bytes() == entry.body
    second = load_fresh(source=url)
    assert second == first
    assert server.statuses(PATH) == [200, 304]
    assert server.requests[1].if_none_match == entry.etag
    assert server.requests[1].if_modified_since == entry.last_modified
    # the stream of assets reads the index only
    assert list(iter_asset_metadata(source=url)) == list(
        first.path_to_asset_metadata.values()
    )
    assert server.statuses(PATH) == [200, 304, 304]
    # the records are read from the copy held open, even once it is gone
    raw.unlink()
    assert dict(second.content_id_to_asset) == dict(first.content_id_to_asset)


def test_a_304_parses_nothing(server: ManifestServer, cache_dir: Path) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    load_fresh(source=url)
    code = (
        "from dandi_compute_plugin.manifest import split\n"
        "def no_parse(self): raise SystemExit('the manifest was parsed')\n"
        "split.RecordSplitter.__iter__ = no_parse\n"
        "from dandi_compute_plugin import load_assets_jsonld_metadata\n"
        f"index = load_assets_jsonld_metadata(source={url!r})\n"
        "print(len(index.path_to_asset_metadata))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"DANDI_COMPUTE_CACHE_DIR": str(cache_dir), "PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(len(records()))
    assert server.statuses(PATH) == [200, 304]


def test_keep_records_on_a_304_reparses_the_cached_copy(server: ManifestServer) -> None:
    recs = records()
    server.add(PATH, dumps(recs))
    url = server.url(PATH)
    load_fresh(source=url)
    index = load_fresh(source=url, keep_records=True)
    assert server.statuses(PATH) == [200, 304]
    assert sorted(r["path"] for r in index.content_id_to_asset.values()) == sorted(
        r["path"] for r in recs
    )


def test_a_changed_manifest_is_downloaded_again(server: ManifestServer) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    load_fresh(source=url)
    new = records(tag=".new")
    server.add(PATH, dumps(new))
    index = load_fresh(source=url)
    assert list(index.path_to_asset_metadata) == [r["path"] for r in new]
    assert server.statuses(PATH) == [200, 200]
    assert load_fresh(source=url) == index
    assert server.statuses(PATH) == [200, 200, 304]


def test_only_last_modified_is_enough(server: ManifestServer) -> None:
    entry = server.add(PATH, dumps(records()))
    entry.etag = None  # a server that sends Last-Modified only
    url = server.url(PATH)
    load_fresh(source=url)
    load_fresh(source=url)
    assert server.statuses(PATH) == [200, 304]
    assert server.requests[1].if_none_match is None
    assert server.requests[1].if_modified_since == entry.last_modified


def test_refresh_and_no_cache(server: ManifestServer, cache_dir: Path) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    first = load_fresh(source=url, cache=False)
    assert not cache_dir.exists() or cached_files(cache_dir) == []
    load_fresh(source=url)
    before = cached_files(cache_dir)
    assert load_fresh(source=url, refresh=True) == first
    assert load_fresh(source=url, cache=False) == first
    assert server.statuses(PATH) == [200, 200, 200, 200]
    assert [r.if_none_match for r in server.requests] == [None] * 4
    after = cached_files(cache_dir)
    assert len(after) == 5 and after != before  # refreshed: a new entry
    load_fresh(source=url)
    assert server.statuses(PATH)[-1] == 304


def test_no_validators_no_cache(server: ManifestServer, cache_dir: Path) -> None:
    server.add(PATH, dumps(records()), mode="no-validators")
    url = server.url(PATH)
    load_fresh(source=url)
    load_fresh(source=url)
    assert server.statuses(PATH) == [200, 200]
    assert not list(cache_dir.rglob("meta.json"))


def damage_index(cache: Path) -> None:
    index = next(cache.rglob("index-*.txt"))
    data = bytearray(index.read_bytes())
    data[len(data) // 2] ^= 0x01
    index.write_bytes(bytes(data))


def damage_meta(cache: Path) -> None:
    next(cache.rglob("meta.json")).write_text("{not json")


def remove_index(cache: Path) -> None:
    next(cache.rglob("index-*.txt")).unlink()


def shorten_index(cache: Path) -> None:
    index = next(cache.rglob("index-*.txt"))
    index.write_bytes(index.read_bytes()[:-10])


def wrong_count(cache: Path) -> None:
    meta_path = next(cache.rglob("meta.json"))
    meta = json.loads(meta_path.read_text())
    meta["index"]["count"] += 1
    meta_path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage", [damage_index, damage_meta, remove_index, shorten_index, wrong_count]
)
def test_a_damaged_entry_is_detected_and_fetched_again(
    server: ManifestServer,
    cache_dir: Path,
    damage: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    recs = records()
    server.add(PATH, dumps(recs))
    url = server.url(PATH)
    first = load_fresh(source=url)
    damage(cache_dir)
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        again = load_fresh(source=url)
    assert again == first
    assert "damaged" in caplog.text
    assert server.statuses(PATH) == [200, 200]
    assert server.requests[1].if_none_match is None  # unconditional
    load_fresh(source=url)
    assert server.statuses(PATH) == [200, 200, 304]  # and repaired


def test_keep_records_with_a_damaged_manifest_copy_fetches_again(
    server: ManifestServer, cache_dir: Path
) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    load_fresh(source=url)
    raw = next(cache_dir.rglob("assets-*.jsonld"))
    raw.write_bytes(raw.read_bytes().replace(b"sub-CGM3", b"sub-CGM4", 1))
    index = load_fresh(source=url, keep_records=True)
    assert server.statuses(PATH) == [200, 200]
    assert {r["path"] for r in index.content_id_to_asset.values()} == {
        r["path"] for r in records()
    }


def test_an_unfinished_iteration_caches_nothing(
    server: ManifestServer, cache_dir: Path
) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    assets = iter_asset_metadata(source=url)
    next(assets)
    assets.close()
    assert not list(cache_dir.rglob("meta.json"))
    assert not list(cache_dir.rglob("*.tmp"))
    assert len(list(iter_asset_metadata(source=url))) == len(records())
    assert server.statuses(PATH) == [200, 200]


def test_concurrent_runs_leave_one_consistent_entry(
    server: ManifestServer, cache_dir: Path
) -> None:
    recs = [asset_record(f"many/{i:05d}.txt") for i in range(3000)]
    server.add(PATH, dumps(recs))
    url = server.url(PATH)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(load_fresh(source=url))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    expected = [expected_metadata(r) for r in recs]
    assert all(list(r.path_to_asset_metadata.values()) == expected for r in results)
    cached = entry_of(url).read_index()
    assert cached is not None and cached.index is not None
    assert list(cached.index.values()) == expected
    assert len(cached_files(cache_dir)) == 5  # the losers' files are gone
    load_fresh(source=url)
    assert server.statuses(PATH)[-1] == 304


def test_an_unwritable_cache_is_logged_and_ignored(
    server: ManifestServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("DANDI_COMPUTE_CACHE_DIR", str(blocker / "cache"))
    server.add(PATH, dumps(records()))
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        index = load_fresh(source=server.url(PATH))
    assert len(index.path_to_asset_metadata) == len(records())
    assert "Not using the manifest cache" in caplog.text


def test_concurrent_processes_leave_one_consistent_entry(
    server: ManifestServer, cache_dir: Path
) -> None:
    recs = [asset_record(f"many/{i:05d}.txt") for i in range(3000)]
    server.add(PATH, dumps(recs))
    url = server.url(PATH)
    code = (
        "import sys\n"
        "from dandi_compute_plugin import load_assets_jsonld_metadata\n"
        "index = load_assets_jsonld_metadata(source=sys.argv[1], refresh=True)\n"
        "print(len(index.path_to_asset_metadata))\n"
    )
    env = {"DANDI_COMPUTE_CACHE_DIR": str(cache_dir), "PATH": ""}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url], stdout=subprocess.PIPE, env=env
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4
    assert outputs == [b"3000\n"] * 4
    cached = entry_of(url).read_index()
    assert cached is not None and cached.index is not None
    expected = [expected_metadata(r) for r in recs]
    assert list(cached.index.values()) == expected
    assert len(cached_files(cache_dir)) == 5


def test_reading_a_damaged_entry_answers_none_and_removes_it(
    server: ManifestServer, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    load_fresh(source=url)
    entry = entry_of(url)
    sound = entry.read_manifest()
    assert sound is not None and sound.manifest is not None
    sound.close()
    damage_index(cache_dir)
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        assert entry.read_rows() is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "damaged" in warnings[0].getMessage()
    assert cached_files(cache_dir) == []
    caplog.clear()
    assert entry.read_rows() is None  # no entry at all: no warning either
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


# ----------------------------------------------------------------- offline


def cached_on(cache: Path) -> str:
    """The date the entry was written, as the offline warning names it."""
    meta = json.loads(next(cache.rglob("meta.json")).read_text())
    when = datetime.fromtimestamp(meta["written"], tz=UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def test_an_unreachable_server_is_answered_from_the_cache_with_a_warning(
    cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ManifestServer() as server:
        server.add(PATH, dumps(records()))
        url = server.url(PATH)
        first = load_fresh(source=url)
    # the server is gone: the connection is refused
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        again = load_fresh(source=url)
        full = load_fresh(source=url, keep_records=True)
    assert again == first
    assert {r["path"] for r in full.content_id_to_asset.values()} == {
        r["path"] for r in records()
    }
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert f"using the copy cached on {cached_on(cache_dir)}" in warnings[0]
    assert "Could not download" in warnings[0] and url in warnings[0]
    with pytest.raises(ManifestUnavailableError, match="Could not download") as info:
        load_fresh(source=url, refresh=True)
    assert info.value.status is None
    with pytest.raises(ManifestUnavailableError):
        load_fresh(source=url, cache=False)


@pytest.mark.parametrize("mode", ["500", "503", "hang"])
def test_a_server_error_or_timeout_is_answered_from_the_cache(
    server: ManifestServer, cache_dir: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    first = load_fresh(source=url)
    server.served[PATH].mode = mode
    server.stall_seconds = 5
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        assert load_fresh(source=url, timeout=0.5) == first
    assert f"using the copy cached on {cached_on(cache_dir)}" in caplog.text
    with pytest.raises(ManifestUnavailableError) as info:
        load_fresh(source=url, refresh=True, timeout=0.5)
    assert info.value.status == (None if mode == "hang" else int(mode))


@pytest.mark.parametrize("mode", ["404", "403"])
def test_a_missing_manifest_is_not_answered_from_the_cache(
    server: ManifestServer, mode: str
) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    load_fresh(source=url)
    server.served[PATH].mode = mode
    with pytest.raises(ManifestUnavailableError) as info:
        load_fresh(source=url)
    assert info.value.status == int(mode)


def test_a_damaged_entry_is_no_offline_answer(
    server: ManifestServer, cache_dir: Path
) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    load_fresh(source=url)
    damage_index(cache_dir)
    server.served[PATH].mode = "503"
    with pytest.raises(ManifestUnavailableError) as info:
        load_fresh(source=url)
    assert info.value.status == 503


# ----------------------------------------------------------------- summary


def test_summarize_streams_then_answers_from_the_entrys_description(
    server: ManifestServer, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recs = records()
    recs.append(dict(recs[0], contentSize=7))  # a repeated path: the last counts
    server.add(PATH, dumps(recs))
    url = server.url(PATH)
    last = {r["path"]: int(r["contentSize"]) for r in recs}
    expected = (len(last), sum(last.values()))
    assert expected[0] == len(recs) - 1
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        assert summarize(ManifestRequest(source=url)) == expected
    assert f"{len(recs)} records for {len(recs) - 1} paths" in caplog.text
    # neither the manifest nor the index is read for the next answers (a flip
    # of their bytes goes unseen), but they must be there with their sizes
    for name in ("assets-*.jsonld", "index-*.txt"):
        path = next(cache_dir.rglob(name))
        data = bytearray(path.read_bytes())
        data[1] ^= 1
        path.write_bytes(data)
    assert summarize(ManifestRequest(source=url)) == expected
    assert server.statuses(PATH) == [200, 304]
    next(cache_dir.rglob("assets-*.jsonld")).unlink()
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        assert summarize(ManifestRequest(source=url)) == expected
    assert "is damaged" in caplog.text
    assert server.statuses(PATH) == [200, 304, 200]
    server.served[PATH].mode = "503"
    assert summarize(ManifestRequest(source=url)) == expected  # offline
    with pytest.raises(ManifestUnavailableError):
        summarize(ManifestRequest(source=url, refresh=True))


def test_summarize_from_the_cache_parses_nothing(
    server: ManifestServer, cache_dir: Path
) -> None:
    recs = records()
    server.add(PATH, dumps(recs))
    url = server.url(PATH)
    first = summarize(ManifestRequest(source=url))
    code = (
        "from dandi_compute_plugin.manifest import split\n"
        "def no_parse(self): raise SystemExit('the manifest was parsed')\n"
        "split.RecordSplitter.__iter__ = no_parse\n"
        "from dandi_compute_plugin.manifest import ManifestRequest, summarize\n"
        f"print(*summarize(ManifestRequest(source={url!r})))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"DANDI_COMPUTE_CACHE_DIR": str(cache_dir), "PATH": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(n) for n in first]
    assert server.statuses(PATH) == [200, 304]


def test_summarize_a_file_and_without_the_cache(
    server: ManifestServer, cache_dir: Path, tmp_path: Path
) -> None:
    recs = records()
    expected = (len(recs), sum(int(r["contentSize"]) for r in recs))
    (tmp_path / "m.jsonld").write_bytes(dumps(recs))
    assert summarize(ManifestRequest(source=tmp_path / "m.jsonld")) == expected
    server.add(PATH, dumps(recs))
    seen: list[tuple[int, int | None]] = []
    request = ManifestRequest(source=server.url(PATH), cache=False)
    assert summarize(request, lambda d, t: seen.append((d, t))) == expected
    assert seen[-1] == (len(dumps(recs)), len(dumps(recs)))
    assert summarize(request) == expected
    assert server.statuses(PATH) == [200, 200]
    assert not cache_dir.exists() or cached_files(cache_dir) == []


def test_an_entry_of_another_format_is_fetched_again_quietly(
    server: ManifestServer, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    first = load_fresh(source=url)
    meta_path = next(cache_dir.rglob("meta.json"))
    meta = json.loads(meta_path.read_text())
    meta["format"] = 1  # as the plugin wrote them before the summary was kept
    del meta["index"]["total_bytes"]
    meta_path.write_text(json.dumps(meta))
    with caplog.at_level(logging.INFO, logger="dandi.compute"):
        assert load_fresh(source=url) == first
    assert server.statuses(PATH) == [200, 200]
    assert server.requests[1].if_none_match is None
    assert "outdated" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(cached_files(cache_dir)) == 5


def test_each_use_of_an_entry_is_recorded(
    server: ManifestServer, cache_dir: Path
) -> None:
    server.add(PATH, dumps(records()))
    url = server.url(PATH)
    load_fresh(source=url)
    meta_path = next(cache_dir.rglob("meta.json"))
    long_ago = time.time() - 30 * 24 * 3600
    for use in (
        lambda: load_fresh(source=url),  # 304
        lambda: summarize(ManifestRequest(source=url)),  # 304, description only
        lambda: list(iter_asset_metadata(source=url)),
    ):
        os.utime(meta_path, (long_ago, long_ago))
        use()
        assert time.time() - meta_path.stat().st_mtime < 60
    assert server.statuses(PATH) == [200, 304, 304, 304]
