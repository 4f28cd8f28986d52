"""The four needs of a manifest (summary, rows, index, records), split into one
function each, attacked where the split could let a damaged or replaced cache
entry through: a file damaged when the server cannot be reached (the offline
answer), and copies of one entry read by different needs while a refresh
replaces the entry under them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from dandi_compute_plugin.errors import ManifestUnavailableError
from dandi_compute_plugin.manifest import iter_asset_metadata

from .common import PATH, dumps, example_records, load_fresh
from .server import ManifestServer
from .test_cache_trust import _flip, entry_dir, expected_of, served, uses

#: the files each need reads of an entry (checked against their digests);
#: the others must only be there with their sizes
READS = {
    "api": ("meta.json", "index-", "offsets-", "blocks-"),
    "listing": ("meta.json", "index-"),
    "summary": ("meta.json",),
    "records": ("meta.json", "assets-"),
}


@pytest.mark.parametrize(
    "part", ["meta.json", "assets-", "index-", "offsets-", "blocks-"]
)
@pytest.mark.parametrize("use", sorted(READS))
def test_a_damaged_file_is_no_offline_answer_for_the_need_that_reads_it(
    server: ManifestServer,
    cache_dir: Path,
    caplog: pytest.LogCaptureFixture,
    part: str,
    use: str,
) -> None:
    """The server answers 503 (the offline fallback) and one file of the entry
    has a flipped byte: a need that reads that file gets the 503, never the
    damaged copy; a need that does not read it is answered from the cache with
    the true records (a damaged manifest is found as the api reads a record)."""
    url, body = served(server)
    load_fresh(source=url)
    (path,) = (p for p in entry_dir(cache_dir).iterdir() if p.name.startswith(part))
    _flip(path, path.stat().st_size // 2)
    server.served[PATH].mode = "503"
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        if part in READS[use]:
            with pytest.raises(ManifestUnavailableError) as info:
                uses(url)[use]()
            assert info.value.status == 503
            assert "is damaged" in caplog.text
            assert not any(entry_dir(cache_dir).glob(f"{part}*"))
        elif use == "api" and part == "assets-":
            with pytest.raises(ManifestUnavailableError, match="damaged"):
                uses(url)[use]()
        else:
            assert uses(url)[use]() == expected_of(body)[use]
            assert "may be out of date" in caplog.text


def test_copies_read_before_a_refresh_stay_whole_after_it(
    server: ManifestServer, cache_dir: Path
) -> None:
    """The api's lazy index and a listing half-read come from the cache (304);
    then the manifest changes on the server and a refresh replaces the entry.
    Both old copies go on answering with the old manifest, whole (never a mix
    of the two, never a damage error for the entry that replaced theirs); the
    next reads answer with the new one, from the new entry."""
    url, old_body = served(server)
    load_fresh(source=url)
    old_index = load_fresh(source=url)  # 304: the cached index, records lazy
    listing = iter_asset_metadata(source=url)  # 304: the cached rows, streamed
    first = next(listing)
    new_records = example_records()[::-1]
    for r in new_records:
        r["dateModified"] = "2030-01-01T00:00:00+00:00"
    new_body = dumps(new_records)
    server.add(PATH, new_body)  # a new ETag and date
    refreshed = load_fresh(source=url, refresh=True)
    assert [first, *listing] == expected_of(old_body)["listing"]
    old = {k: dict(v) for k, v in old_index.content_id_to_asset.items()}
    assert old == expected_of(old_body)["api"]
    new = {k: dict(v) for k, v in refreshed.content_id_to_asset.items()}
    assert new == expected_of(new_body)["api"]
    for use in READS:  # each need, now from the new entry
        assert uses(url)[use]() == expected_of(new_body)[use]
    meta = json.loads((entry_dir(cache_dir) / "meta.json").read_text())
    assert meta["manifest"]["size"] == len(new_body)


def test_the_memo_never_answers_for_another_manifest_url_of_the_environment(
    server: ManifestServer, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest URL template is read from the environment at call time: a
    call after ``DANDI_COMPUTE_MANIFEST_URL`` names another server's manifest
    is answered with that manifest, not with the one the same arguments gave
    before (the memo keeps a result per URL, as the original's per arguments)."""
    from dandi_compute_plugin.defaults import MANIFEST_URL_ENV
    from dandi_compute_plugin.manifest import load_assets_jsonld_metadata

    first_records = example_records()
    second_records = example_records()[:2]
    server.add("/one/001697/draft/assets.jsonld", dumps(first_records))
    server.add("/two/001697/draft/assets.jsonld", dumps(second_records))
    template = "/{dandiset_id}/{version}/assets.jsonld"
    load_assets_jsonld_metadata.cache_clear()  # type: ignore[attr-defined]
    monkeypatch.setenv(MANIFEST_URL_ENV, server.url("/one" + template))
    one = load_assets_jsonld_metadata("001697", "draft")
    monkeypatch.setenv(MANIFEST_URL_ENV, server.url("/two" + template))
    two = load_assets_jsonld_metadata("001697", "draft")
    assert len(one.path_to_asset_metadata) == len(first_records)
    assert len(two.path_to_asset_metadata) == len(second_records)
    monkeypatch.setenv(MANIFEST_URL_ENV, server.url("/one" + template))
    assert load_assets_jsonld_metadata("001697", "draft") is one  # still memoized
