"""Listing, choosing and removing the cache's entries (the library of
``dandi compute cache info|clear``)."""

from __future__ import annotations

import json
from pathlib import Path
import time

import pytest

from dandi_compute_plugin.manifest import MANIFEST_URL_ENV, ManifestRequest, iter_assets
from dandi_compute_plugin.manifest.cache import CacheEntry
from dandi_compute_plugin.manifest.cache.listing import (
    list_entries,
    manifest_dandiset,
    remove_entry,
    select_entries,
)
from dandi_compute_plugin.manifest.cache.writer import CacheWriter
from dandi_compute_plugin.manifest.index import TotalingIndexBuilder

from ..records import asset_record, example_paths
from .common import TEMPLATE_PATH, dumps, load_fresh
from .server import ManifestServer


def fill_cache(server: ManifestServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Cache two versions of 000233, one of 001697 and a plain URL."""
    monkeypatch.setenv(MANIFEST_URL_ENV, server.url(TEMPLATE_PATH))
    urls = []
    for dandiset, version in [
        ("000233", "draft"),
        ("000233", "0.230629.1955"),
        ("001697", "draft"),
    ]:
        path = TEMPLATE_PATH.format(dandiset_id=dandiset, version=version)
        server.add(path, dumps([asset_record(p) for p in example_paths()]))
        list(iter_assets(ManifestRequest(dandiset, version)))
        urls.append(server.url(path))
    server.add("/elsewhere/m.jsonld", dumps([asset_record("a/b.txt")]))
    load_fresh(source=server.url("/elsewhere/m.jsonld"))
    urls.append(server.url("/elsewhere/m.jsonld"))
    return sorted(urls)


def test_list_entries_describes_each_cached_manifest(
    server: ManifestServer, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    before = time.time()
    urls = fill_cache(server, monkeypatch)
    entries = list_entries()
    assert [e.url for e in entries] == urls
    by_url = {e.url: e for e in entries}
    one = by_url[urls[0]]
    assert urls[0].endswith("/dandisets/000233/0.230629.1955/assets.jsonld")
    assert (one.dandiset_id, one.version) == ("000233", "0.230629.1955")
    assert one.status == "ok" and one.records == len(example_paths())
    served = server.served["/dandisets/000233/0.230629.1955/assets.jsonld"]
    assert (one.etag, one.last_modified) == (served.etag, served.last_modified)
    assert one.size == sum(f.stat().st_size for f in one.directory.iterdir())
    assert one.size > len(served.body)  # the manifest and its index
    assert one.cached is not None and one.last_used is not None
    assert before - 1 <= one.cached <= one.last_used <= time.time() + 1
    plain = by_url[urls[-1]]
    assert plain.dandiset_id is None and plain.version is None
    record = one.as_record()
    assert record["directory"] == str(one.directory)
    assert record["cached"].startswith(time.strftime("%Y-"))
    json.dumps(record)  # plain values only


def test_list_entries_tells_damaged_outdated_and_incomplete_ones(
    server: ManifestServer, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    urls = fill_cache(server, monkeypatch)
    entries = {e.url: e for e in list_entries()}
    next(entries[urls[0]].directory.glob("index-*.txt")).write_bytes(b"short")
    meta_path = entries[urls[1]].directory / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["format"] = 1
    meta_path.write_text(json.dumps(meta))
    (entries[urls[2]].directory / "meta.json").write_text("{not json")
    writer = CacheWriter(CacheEntry("http://example.org/new"), TotalingIndexBuilder())
    try:
        found = sorted((e.url or "", e.status) for e in list_entries())
        assert found == sorted(
            [
                (urls[0], "damaged"),
                (urls[1], "outdated"),
                (urls[3], "ok"),
                ("", "damaged"),  # its URL is unknown
                ("", "incomplete"),  # a download in progress
            ]
        )
    finally:
        writer.abort()


@pytest.mark.parametrize(
    ("template", "url", "expected"),
    [
        (None, "https://dandiarchive.s3.amazonaws.com/dandisets/000233/draft/"
         "assets.jsonld", ("000233", "draft")),
        (None, "https://dandiarchive.s3.amazonaws.com/dandisets/000233/0.1/"
         "assets.jsonld", None),
        (None, "https://example.org/dandisets/000233/draft/assets.jsonld", None),
        ("https://m.example/{dandiset_id}.jsonld", "https://m.example/000233.jsonld",
         ("000233", None)),
        ("https://m.example/{{x}}/{version}/{dandiset_id}/{version}",
         "https://m.example/{x}/draft/000233/draft", ("000233", "draft")),
        ("https://m.example/{{x}}/{version}/{dandiset_id}/{version}",
         "https://m.example/{x}/draft/000233/0.230629.1955", None),
        ("https://m.example/{version}.jsonld", "https://m.example/draft.jsonld",
         None),
        ("https://m.example/{other}/{dandiset_id}", "https://m.example/x/000233",
         None),
    ],
)  # fmt: skip
def test_manifest_dandiset_reads_the_known_templates_back(
    monkeypatch: pytest.MonkeyPatch,
    template: str | None,
    url: str,
    expected: tuple[str, str | None] | None,
) -> None:
    if template is not None:
        monkeypatch.setenv(MANIFEST_URL_ENV, template)
    assert manifest_dandiset(url) == expected


def test_select_entries_by_url_and_dandiset_id(
    server: ManifestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = fill_cache(server, monkeypatch)
    entries = list_entries()
    chosen, unmatched = select_entries(["DANDI:000233", urls[-1]], entries)
    assert [e.url for e in chosen] == [urls[0], urls[1], urls[-1]]
    assert unmatched == []
    chosen, unmatched = select_entries(
        ["001697", "000000", "http://nowhere/x", "junk"], entries
    )
    assert [e.url for e in chosen] == [urls[2]]
    assert unmatched == ["000000", "http://nowhere/x", "junk"]


def test_remove_entry_leaves_the_lock_and_a_live_download(
    server: ManifestServer, monkeypatch: pytest.MonkeyPatch, cache_dir: Path
) -> None:
    urls = fill_cache(server, monkeypatch)
    target = next(e for e in list_entries() if e.url == urls[0])
    writer = CacheWriter(CacheEntry(urls[0]), TotalingIndexBuilder())
    writer.write_manifest(b"[")
    try:
        live = sorted(p.name for p in target.directory.glob("*.tmp"))
        assert len(live) == 4
        remove_entry(target)
        left = sorted(p.name for p in target.directory.iterdir())
        assert left == sorted([*live, "lock"])
        assert [e.url for e in list_entries()] == [*urls[1:], None]  # incomplete
    finally:
        writer.abort()
    assert [e.url for e in list_entries()] == urls[1:]
    assert CacheEntry(urls[0]).read_rows() is None
