"""Equal to the original on every input it accepts, a ManifestFormatError naming
the record on every other one: generated manifests against the original's
algorithm (``original.py``), and the inputs found to break the reader before."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
import pickle
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from dandi_compute_plugin import load_assets_jsonld_metadata
from dandi_compute_plugin.errors import ManifestFormatError

from .common import PATH, dumps, load_fresh
from .original import original_load
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
url_parts = st.lists(
    st.sampled_from(["https://h", "/blobs/", "/zarr/", "/", "?", "#", "x", "a/b"])
    | text,
    max_size=5,
).map("".join)
sizes = st.one_of(
    st.integers(0, 1 << 70),
    st.integers(-5, -1),
    st.booleans(),
    st.sampled_from(["123", "0012", "١٢", "²", "", "1.5", "1" * 70, 1.0]),
)
dates = st.sampled_from(
    ["2026-01-01T00:00:00", "2026-01-01T00:00:00\x00", "yesterday", "2026-13-01", ""]
)
paths = st.sampled_from(["a/b", "a\ud800b", "/abs", "a/../b", "a\x00b", "é/ü", "", "."])


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
    return record


def _stricter(record: dict[str, Any]) -> bool:
    """True where the plugin deliberately differs (docs/api.rst's table)."""
    from datetime import datetime

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


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(records(), max_size=4))
def test_the_index_equals_the_original_or_names_the_record(recs: list) -> None:
    body = json.dumps(recs).encode()  # ASCII: lone surrogates escaped, valid JSON
    try:
        by_id, by_path = original_load(body)
    except ValueError:
        by_id = None
    if by_id is None or any(_stricter(r) for r in recs):
        with pytest.raises(ManifestFormatError) as raised:
            _ours(body)
        assert raised.value.record is not None or not recs
        return
    ours = _ours(body)
    assert dict(ours.path_to_asset_metadata) == by_path
    assert list(ours.path_to_asset_metadata) == list(by_path)
    assert dict(ours.content_id_to_asset) == by_id
    assert list(ours.content_id_to_asset) == list(by_id)
    kept = load_assets_jsonld_metadata(source=io.BytesIO(body), keep_records=True)
    assert dict(kept.content_id_to_asset) == by_id


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
