"""Equal to the original on every input it accepts, a ManifestFormatError naming
the record on every other one: generated manifests against the original's
algorithm (``original.py``), and the inputs found to break the reader before."""

from __future__ import annotations

import copy
import io
import itertools
import json
from pathlib import Path
import pickle
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
import pytest

from dandi_compute_plugin import iter_asset_metadata, load_assets_jsonld_metadata
from dandi_compute_plugin.errors import ManifestFormatError

from .common import PATH, dumps, load_fresh
from .original import build_asset_metadata, original_load
from .server import ManifestServer

GOOD = {
    "path": "derivatives/a.nwb",
    "contentSize": 5,
    "dateModified": "2026-01-01T00:00:00+00:00",
    "contentUrl": ["https://api/assets/x/download/", "https://s3/blobs/abc/def"],
}

# what the plugin rejects on purpose although the original accepts it (the
# table of docs/api.rst): every generated record is one or the other
text = st.text(
    st.characters(blacklist_categories=("Cs",)), max_size=8
) | st.sampled_from(["a\ud800b", "\udfff", "é", "\u2028", "?", "#", "/"])
#: the content-id rule's corners named by the issue, whole
ISSUE_URLS = [
    "https://h/blobs/abc#frag",
    "https://h/blobs/abc?redirect=a/b",
    "https://h/download/?next=/blobs/foo",
    "https://h/blobs/",
]
url_parts = st.lists(
    st.sampled_from(["https://h", "/blobs/", "/zarr/", "/", "?", "#", "x", "a/b"])
    | text,
    max_size=5,
).map("".join) | st.sampled_from(ISSUE_URLS)
sizes = st.one_of(
    st.integers(0, 1 << 70),
    st.sampled_from([(1 << 63) - 1, 1 << 63]),
    st.integers(-5, -1),
    st.booleans(),
    st.sampled_from(["123", "0012", "١٢", "²", "", "1.5", "1" * 70, "9" * 4400, 1.0]),
)
dates = st.sampled_from(
    ["2026-01-01T00:00:00", "2026-01-01T00:00:00\x00", "yesterday", "2026-13-01", ""]
)
paths = st.sampled_from(["a/b", "a\ud800b", "/abs", "a/../b", "a\x00b", "é/ü", "", "."])


def _deep(levels: int, leaf: Any) -> Any:
    """A value of ``levels`` levels of arrays around ``leaf``."""
    for _ in range(levels):
        leaf = [leaf]
    return leaf


@st.composite
def records(draw: Any) -> Any:
    record: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        record["path"] = draw(paths | text)
    if draw(st.integers(0, 9)):
        record["contentSize"] = draw(sizes)
    if draw(st.integers(0, 9)):
        record["dateModified"] = draw(dates)
    if draw(st.integers(0, 9)):
        record["contentUrl"] = draw(st.lists(url_parts | st.integers(), max_size=3))
    if draw(st.integers(0, 3)) == 0:
        record["extra"] = draw(
            st.recursive(
                st.none() | st.floats(allow_nan=False) | text,
                lambda kids: (
                    st.lists(kids, max_size=2) | st.dictionaries(text, kids, max_size=2)
                ),
                max_leaves=6,
            )
        )
    if draw(st.integers(0, 9)) == 0:  # at the nesting limit, or one past it
        record["deep"] = _deep(draw(st.sampled_from([63, 64])), draw(text))
    return record


def _levels(value: Any) -> int:
    """How deep ``value`` nests (the record is level 1), counted here."""
    if isinstance(value, dict):
        return 1 + max(map(_levels, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_levels, value), default=0)
    return 0


def _stricter(record: dict[str, Any]) -> bool:
    """True where the plugin deliberately differs (docs/api.rst's table)."""
    from datetime import datetime

    if _levels(record) > 64:
        return True
    size = record.get("contentSize")
    if type(size) is bool or (type(size) is int and not 0 <= size < 1 << 63):
        return True
    if type(size) is str and size.isdigit() and len(size) > 64:
        return True
    date = record.get("dateModified")
    try:
        datetime.fromisoformat(date)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True
    if "\x00" in date:  # type: ignore[operator]
        return True
    path = record.get("path")
    if not path or path[0] == "/" or "\x00" in path:
        return True
    if any(part in ("", ".", "..") for part in path.split("/")):
        return True
    urls = record.get("contentUrl")
    ids = [
        u.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        for u in (urls if isinstance(urls, list) else [])
        if isinstance(u, str) and ("/blobs/" in u or "/zarr/" in u)
    ]
    return bool(ids) and "\x00" in ids[0]


def _ours(body: bytes) -> Any:
    return load_assets_jsonld_metadata(source=io.BytesIO(body))


def _body(recs: list, ascii_only: bool, indent: int | None) -> bytes:
    """The manifest: JSON escapes for all but ASCII, or UTF-8 bytes (a lone
    surrogate as its bytes, which ``json.loads`` of bytes accepts)."""
    text = json.dumps(recs, ensure_ascii=ascii_only, indent=indent)
    return text.encode("utf-8", "surrogatepass")


def _original_or_none(body: bytes, recs: list) -> Any:
    """The original's result, or None where it fails or the plugin refuses on
    purpose."""
    try:
        result = original_load(body)
    except (ValueError, RecursionError):
        return None
    return None if any(_stricter(r) for r in recs) else result


def _same_as_the_original(ours: Any, by_id: dict, by_path: dict) -> None:
    """``ours`` holds the original's result, as the original holds it: the
    same keys in the same order, a record handed out twice the same dict that
    keeps changes, equal again once pickled or deep-copied."""
    assert dict(ours.path_to_asset_metadata) == by_path
    assert list(ours.path_to_asset_metadata) == list(by_path)
    assert dict(ours.content_id_to_asset) == by_id
    assert list(ours.content_id_to_asset) == list(by_id)
    for content_id in by_id:
        record = ours.content_id_to_asset[content_id]
        assert ours.content_id_to_asset[content_id] is record
        record["_changed"] = by_id[content_id]["_changed"] = content_id
    assert dict(ours.content_id_to_asset) == by_id  # the changes kept
    for other in (pickle.loads(pickle.dumps(ours)), copy.deepcopy(ours)):
        assert dict(other.path_to_asset_metadata) == by_path
        assert dict(other.content_id_to_asset) == by_id


def _at(level: int, leaf: Any) -> list[dict[str, Any]]:
    """GOOD with a field nesting to ``level`` in all (the record is level 1)."""
    return [dict(GOOD, deep=_deep(level - 1, leaf))]


#: the inputs the issue names, each tried whatever the generator draws
ISSUE_INPUTS = [
    [dict(GOOD, dateModified="2026-01-01T00:00:00\x00")],
    [dict(GOOD, contentSize=1 << 63)],
    [dict(GOOD, contentSize=(1 << 63) - 1)],
    [dict(GOOD, path="a\ud800b", contentUrl=["https://h/blobs/c\udfff"])],
    [dict(GOOD, contentSize="9" * 4400)],
    [dict(GOOD, contentSize="0012")],
    [{k: v for k, v in GOOD.items() if k != "dateModified"}],
    [GOOD, dict(GOOD, path="again")],  # one blob, two records
    _at(64, "é"),
    _at(65, "é"),
    _at(64, 1),
    _at(65, 1),
    *([dict(GOOD, contentUrl=[url])] for url in ISSUE_URLS),
]


def _issue_inputs(test: Any) -> Any:
    for recs in ISSUE_INPUTS:
        for ascii_only in (True, False):
            test = example(recs=recs, ascii_only=ascii_only, indent=None)(test)
    return test


@_issue_inputs
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    recs=st.lists(records(), max_size=4),
    ascii_only=st.booleans(),
    indent=st.sampled_from([None, 1]),
)
def test_the_index_equals_the_original_or_names_the_record(
    recs: list, ascii_only: bool, indent: int | None
) -> None:
    body = _body(recs, ascii_only, indent)
    original = _original_or_none(body, recs)
    if original is None:
        with pytest.raises(ManifestFormatError) as raised:
            _ours(body)
        assert raised.value.record is not None or not recs
        return
    by_id, by_path = original
    _same_as_the_original(_ours(body), by_id, by_path)
    kept = load_assets_jsonld_metadata(source=io.BytesIO(body), keep_records=True)
    assert dict(kept.content_id_to_asset) == original_load(body)[0]


_SERVED = itertools.count()


@_issue_inputs
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    recs=st.lists(records(), max_size=3),
    ascii_only=st.booleans(),
    indent=st.sampled_from([None, 1]),
)
def test_downloaded_cached_and_memoized_it_is_still_the_original(
    server: ManifestServer, recs: list, ascii_only: bool, indent: int | None
) -> None:
    """The same over HTTP: downloaded (200), from the cache entry (304), and a
    second call of the same arguments, which returns the first result as the
    original's ``lru_cache`` does, until ``cache_clear()``."""
    body = _body(recs, ascii_only, indent)
    path = f"/dandisets/{next(_SERVED):06d}/draft/assets.jsonld"
    server.add(path, body)
    url = server.url(path)
    original = _original_or_none(body, recs)
    if original is None:
        for _ in range(2):  # nothing is cached of a refused manifest
            with pytest.raises(ManifestFormatError):
                load_fresh(source=url)
        assert server.statuses(path) == [200, 200]
        return
    first = load_fresh(source=url)
    _same_as_the_original(first, *original_load(body))
    assert load_assets_jsonld_metadata(source=url) is first
    assert load_assets_jsonld_metadata(source=url) is first
    cached = load_fresh(source=url)
    assert cached is not first
    assert server.statuses(path) == [200, 304]
    _same_as_the_original(cached, *original_load(body))
    rows = [build_asset_metadata(r)[1] for r in json.loads(body)]
    assert list(iter_asset_metadata(source=url)) == rows
    assert server.statuses(path) == [200, 304, 304]


def _record(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


@pytest.mark.parametrize(
    ("url", "content_id"),
    [
        ("https://h/blobs/abc#frag", "abc#frag"),
        ("https://h/blobs/abc?redirect=a/b", "b"),
        ("https://h/download/?next=/blobs/foo", "foo"),
        ("https://h/blobs/", "blobs"),
        ("https://h/zarr/z//", "z"),
    ],
)
def test_the_content_id_is_the_originals(url: str, content_id: str) -> None:
    index = _ours(dumps([_record(contentUrl=[url])]))
    assert list(index.content_id_to_asset) == [content_id]
    assert original_load(dumps([_record(contentUrl=[url])]))[0].keys() == {content_id}


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"dateModified": "2026-01-01T00:00:00\x00"}, "ISO 8601"),
        ({"contentSize": 1 << 63}, "larger than"),
        ({"contentSize": "9" * 4400}, "too large"),
        ({"contentSize": "²"}, "not a size"),
        ({"contentSize": True}, "not a size"),
        ({"contentSize": -1}, "negative"),
        ({"contentUrl": ["https://h/blobs/a\x00b"]}, "NUL"),
        ({"contentUrl": ["https://h/blobs/?x"]}, "no blob or zarr"),
    ],
)
def test_what_the_original_breaks_on_or_is_stricter_names_the_record(
    changes: dict[str, Any], problem: str
) -> None:
    body = dumps([GOOD, _record(path="second", **changes)])
    with pytest.raises(ManifestFormatError, match=problem) as raised:
        _ours(body)
    assert raised.value.record == 2


def test_a_record_without_date_modified_is_refused_as_the_original_refuses_it() -> None:
    """The original raises on it (``missing valid 'dateModified'``): the whole
    manifest is refused there too, so the plugin's refusal names the record."""
    undated = {k: v for k, v in GOOD.items() if k != "dateModified"}
    body = dumps([GOOD, dict(undated, path="second")])
    with pytest.raises(ValueError, match="missing valid 'dateModified'"):
        original_load(body)
    with pytest.raises(ManifestFormatError, match="'dateModified' is missing") as e:
        _ours(body)
    assert (e.value.record, e.value.path) == (2, "second")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
def test_a_manifest_in_another_encoding_than_utf_8_is_refused(encoding: str) -> None:
    """The original's ``json.loads`` of bytes also reads UTF-16 and UTF-32; the
    plugin reads UTF-8 only (docs/api.rst's table): a clear error, never a
    misread index."""
    body = json.dumps([GOOD]).encode(encoding)
    assert original_load(body)[0].keys() == {"def"}
    with pytest.raises(ManifestFormatError, match="JSON"):
        _ours(body)


def test_lone_surrogates_are_kept_as_the_original_keeps_them(
    server: ManifestServer,
) -> None:
    recs = [_record(path="a\ud800b", contentUrl=["https://h/blobs/c\udfff"])]
    body = json.dumps(recs).encode()
    server.add(PATH, body)
    for _ in range(2):  # parsed, then from the cache
        index = load_fresh(source=server.url(PATH))
        assert dict(index.content_id_to_asset) == original_load(body)[0]
        assert dict(index.path_to_asset_metadata) == original_load(body)[1]
    assert server.statuses(PATH) == [200, 304]


def _nested(levels: int, leaf: str = '"é"') -> bytes:
    """A record ``levels`` deep in all (the record itself is level 1)."""
    inner = "[" * (levels - 1) + leaf + "]" * (levels - 1)
    return (json.dumps([GOOD])[:-2] + f', "deep": {inner}' + "}]").encode()


@pytest.mark.parametrize("leaf", ['"é"', "1"])
def test_the_nesting_limit_is_64_levels(leaf: str) -> None:
    _ours(_nested(64, leaf))
    with pytest.raises(ManifestFormatError, match="nested deeper than 64") as raised:
        _ours(_nested(65, leaf))
    assert raised.value.record == 1


@pytest.mark.parametrize("levels", [990, 5000])
def test_a_deep_record_with_non_ascii_text_names_the_record(levels: int) -> None:
    with pytest.raises(ManifestFormatError, match="nested deeper") as raised:
        _ours(_nested(levels))
    assert raised.value.record == 1


# ------------------------------------------------------------ as an object


def test_the_result_pickles_copies_and_keeps_changes(
    server: ManifestServer, tmp_path: Path
) -> None:
    recs = [_record(contentSize="123"), _record(path="b", contentUrl=["/zarr/z"])]
    server.add(PATH, dumps(recs))
    by_id, by_path = original_load(dumps(recs))
    index = load_fresh(source=server.url(PATH))
    record = index.content_id_to_asset["def"]
    assert record["contentSize"] == 123  # the digit string rewritten
    assert index.content_id_to_asset["def"] is record
    record["note"] = "kept"
    assert index.content_id_to_asset["def"]["note"] == "kept"
    for other in (pickle.loads(pickle.dumps(index)), copy.deepcopy(index)):
        assert dict(other.path_to_asset_metadata) == by_path
        assert other.content_id_to_asset["def"]["note"] == "kept"
        assert other.content_id_to_asset["z"] == by_id["z"]


def test_a_second_call_is_answered_by_the_first_result_until_cleared(
    server: ManifestServer,
) -> None:
    server.add(PATH, dumps([GOOD]))
    url = server.url(PATH)
    load_assets_jsonld_metadata.cache_clear()
    first = load_assets_jsonld_metadata(source=url)
    assert load_assets_jsonld_metadata(source=url) is first
    assert server.statuses(PATH) == [200]
    assert load_assets_jsonld_metadata(source=url, keep_records=True) is not first
    fresh = load_assets_jsonld_metadata(source=url, refresh=True)
    assert fresh is not first and load_assets_jsonld_metadata(source=url) is fresh
    load_assets_jsonld_metadata.cache_clear()
    assert load_assets_jsonld_metadata(source=url) is not first
    assert server.statuses(PATH) == [200, 304, 200, 304]
    streamed = [load_assets_jsonld_metadata(source=io.BytesIO(dumps([GOOD])))]
    streamed.append(load_assets_jsonld_metadata(source=io.BytesIO(dumps([GOOD]))))
    assert streamed[0] is not streamed[1]  # a stream is read each time
