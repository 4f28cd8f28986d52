"""The index by content id gives the full records, exactly as json.load does,
read back from the manifest's bytes for every kind of source."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
import sys
from typing import Any

import pytest

from dandi_compute_plugin.errors import ManifestUnavailableError

from .common import PATH, dumps, example_records, load_fresh
from .original import original_load
from .server import ManifestServer


def manifest() -> tuple[bytes, dict[str, Any]]:
    """A manifest with floats, non-ASCII text and a string size, and the dict
    ``dandi_compute_code.dandiset`` makes of it (``json.load``, last wins)."""
    records = example_records()
    records[0]["measure"] = {"value": 0.1, "ratio": 1e-7, "count": 3}
    records[3]["description"] = 'façade ✓ \u2028 "quoted"'
    records.append(dict(records[4], path="another/path/to/the/same.blob"))
    body = dumps(records)
    return body, original_load(body)[0]


def served(server: ManifestServer) -> tuple[str, dict[str, Any]]:
    """The URL of the manifest on the server, and its expected records."""
    body, expected = manifest()
    server.add(PATH, body)
    return server.url(PATH), expected


def check(index: Any, expected: dict[str, Any]) -> None:
    ids = index.content_id_to_asset
    assert dict(ids) == expected and list(ids) == list(expected)
    assert json.dumps(dict(ids)) == json.dumps(expected)
    some = next(iter(expected))
    assert ids[some]["path"] == expected[some]["path"]
    assert type(ids[some]["measure"]["value"]) is float


def test_from_a_url_with_and_without_the_cache(
    server: ManifestServer, cache_dir: Path
) -> None:
    url, expected = served(server)
    for cache in (True, True, False):
        check(load_fresh(source=url, cache=cache), expected)
    assert server.statuses(PATH) == [200, 304, 200]


def test_from_a_file_stdin_and_a_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, expected = manifest()
    (tmp_path / "m.jsonld").write_bytes(body)
    check(load_fresh(source=tmp_path / "m.jsonld"), expected)
    check(load_fresh(source=io.BytesIO(body)), expected)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(body)))
    check(load_fresh(source="-"), expected)


def test_a_spooled_copy_leaves_no_file_behind(
    server: ManifestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setenv("TMPDIR", str(spool))
    monkeypatch.setattr("tempfile.tempdir", None)
    body, expected = manifest()
    server.add(PATH, body)
    index = load_fresh(source=server.url(PATH), cache=False)
    check(index, expected)
    assert list(spool.iterdir()) == []  # anonymous: nothing to clean up


def test_a_file_changed_in_place_is_refused_and_a_replaced_one_still_answers(
    tmp_path: Path,
) -> None:
    body, expected = manifest()
    path = tmp_path / "m.jsonld"
    path.write_bytes(body)
    index = load_fresh(source=path)
    (tmp_path / "new.jsonld").write_bytes(b"[]")
    os.replace(tmp_path / "new.jsonld", path)  # the open file is the old one
    check(index, expected)
    path.write_bytes(body)
    changed = load_fresh(source=path)
    with open(path, "r+b") as f:
        f.write(b" ")
    with pytest.raises(ManifestUnavailableError, match="has changed since"):
        changed.content_id_to_asset[next(iter(expected))]


@pytest.mark.parametrize("damage", ["shifted", "other-blob"])
def test_a_damaged_cached_copy_is_named_on_access_and_dropped(
    server: ManifestServer,
    cache_dir: Path,
    damage: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, expected = served(server)
    load_fresh(source=url)
    raw = next(cache_dir.rglob("assets-*.jsonld"))
    second = list(expected)[1]
    damaged = bytes(raw.read_bytes())
    if damage == "shifted":  # the records no longer start where the index says
        damaged = b" " * 50 + damaged[:-50]
    else:  # the record at the second offset is of another blob
        damaged = damaged.replace(second.encode(), second[::-1].encode())
    raw.write_bytes(damaged)  # same size: found by its blocks' digests
    index = load_fresh(source=url)
    assert server.statuses(PATH) == [200, 304]
    with pytest.raises(ManifestUnavailableError, match="damaged.*removed"):
        index.content_id_to_asset[second]
    check(load_fresh(source=url), expected)
    assert server.statuses(PATH) == [200, 304, 200]
