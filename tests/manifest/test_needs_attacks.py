"""The four needs of a manifest (summary, rows, index, records), split into one
function each, attacked where the split could let a damaged or replaced cache
entry through: a file damaged when the server cannot be reached (the offline
answer), and copies of one entry read by different needs while a refresh
replaces the entry under them."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from dandi_compute_plugin.defaults import CACHE_DIR_ENV
from dandi_compute_plugin.errors import ManifestUnavailableError
from dandi_compute_plugin.manifest import iter_asset_metadata

from .common import PATH, dumps, example_records, load_fresh
from .server import ManifestServer
from .test_cache_trust import _flip, entry_dir, expected_of, served, uses

EXAMPLES = int(os.environ.get("DANDI_COMPUTE_TEST_EXAMPLES", "30"))

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


# ------------------------------------------------------- generated sequences

PARTS = ("meta.json", "assets-", "index-", "offsets-", "blocks-")
STEPS = st.one_of(
    st.tuples(st.just("read"), st.sampled_from(sorted(READS))),
    st.tuples(st.just("change"), st.integers(1, 6)),
    st.tuples(st.just("offline"), st.booleans()),
    st.tuples(st.just("damage"), st.sampled_from(PARTS)),
)


def _body(variant: int) -> bytes:
    records = example_records()[: 4 + variant]
    for r in records:
        r["dateModified"] = f"20{10 + variant}-01-01T00:00:00+00:00"
    return dumps(records)


@settings(
    max_examples=max(10, EXAMPLES // 3),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEPS, min_size=1, max_size=12))
def test_generated_sequences_of_needs_never_get_a_damaged_or_stale_copy(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    steps: list[tuple[str, object]],
) -> None:
    """One manifest URL read by the four needs in any order, while the server's
    manifest changes, the server goes down and up, and a byte of any file of
    the cache entry flips.  A model says what each read must give: online, the
    server's manifest; offline, the cached one unless the need reads a damaged
    file (then the server's error, and the entry is dropped); no entry, the
    error.  Never a damaged, stale or mixed answer."""
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path_factory.mktemp("cache")))
    with ManifestServer() as server:
        served_body = _body(0)
        server.add(PATH, served_body)
        url = server.url(PATH)
        cached: bytes | None = None  # the body of the entry, if any
        damaged: set[str] = set()  # the parts of the entry with a flipped byte
        online = True
        for action, arg in steps:
            if action == "change":
                served_body = _body(int(arg))  # type: ignore[call-overload]
                server.add(PATH, served_body)
                server.served[PATH].mode = "ok" if online else "503"
            elif action == "offline":
                online = not arg
                server.served[PATH].mode = "ok" if online else "503"
            elif action == "damage" and cached is not None and arg not in damaged:
                part = str(arg)  # (a second flip of the same byte would undo it)
                (path,) = (
                    p
                    for p in entry_dir(Path(os.environ[CACHE_DIR_ENV])).iterdir()
                    if p.name.startswith(part)
                )
                _flip(path, path.stat().st_size // 2)
                damaged.add(part)
            elif action == "read":
                need = str(arg)
                cached, damaged = _check_read(
                    need, url, online, served_body, cached, damaged
                )


def _check_read(
    need: str,
    url: str,
    online: bool,
    served_body: bytes,
    cached: bytes | None,
    damaged: set[str],
) -> tuple[bytes | None, set[str]]:
    """Read ``need`` once, check it against the model; the model's new state."""
    reads_damage = bool(damaged & set(READS[need]))
    lazy_damage = need == "api" and "assets-" in damaged
    if online:
        stale = cached != served_body
        if lazy_damage and not reads_damage and not stale:
            # a 304 answered from the entry; its damaged manifest is found as a
            # record is read: the error, and the entry dropped
            with pytest.raises(ManifestUnavailableError, match="damaged"):
                uses(url)[need]()
            return None, set()
        assert uses(url)[need]() == expected_of(served_body)[need]
        if reads_damage or stale:  # downloaded again: a sound new entry
            return served_body, set()
        return cached, damaged
    if cached is None or reads_damage:
        with pytest.raises(ManifestUnavailableError) as info:
            uses(url)[need]()
        assert info.value.status == 503
        return None, set()
    if lazy_damage:
        with pytest.raises(ManifestUnavailableError, match="damaged"):
            uses(url)[need]()
        return None, set()
    assert uses(url)[need]() == expected_of(cached)[need]
    return cached, damaged


def test_needs_read_side_by_side_with_refreshes_get_one_whole_manifest(
    server: ManifestServer, cache_dir: Path
) -> None:
    """Threads read the four needs of one URL while the server's manifest
    flips between two versions and other threads refresh the entry: every
    answer is one of the two manifests, whole (never a mix, never a damage
    error for an entry replaced while read)."""
    import random
    import threading

    bodies = [_body(1), _body(4)]
    server.add(PATH, bodies[0])
    url = server.url(PATH)
    wanted = [expected_of(b) for b in bodies]
    problems: list[str] = []

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(12):
            need = rng.choice(sorted(READS))
            try:
                got = uses(url)[need]()
            except Exception as exc:  # noqa: BLE001 - every failure is reported
                problems.append(f"{need}: {type(exc).__name__}: {exc}")
                continue
            if got not in (wanted[0][need], wanted[1][need]):
                problems.append(f"{need}: a mixed or foreign answer")

    def refresher() -> None:
        for i in range(8):
            server.add(PATH, bodies[i % 2])
            try:
                load_fresh(source=url, refresh=True)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"refresh: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(3)]
    threads.append(threading.Thread(target=refresher))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert problems == []
