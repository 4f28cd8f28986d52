"""The index of ``load_assets_jsonld_metadata`` answers like plain dicts.

The dicts are those ``dandi_compute_code.dandiset`` builds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
import random
from typing import Any

import pytest

from dandi_compute_plugin import AssetMetadata
from dandi_compute_plugin.manifest import index as index_module
from dandi_compute_plugin.manifest.index import AssetTally
from dandi_compute_plugin.manifest.records import asset_metadata

from ..records import asset_record
from .common import PATH, dumps, example_records, load_fresh
from .original import original_load
from .server import ManifestServer


def reference_dicts(records: list[dict[str, Any]]) -> tuple[dict, dict]:
    """As ``dandi_compute_code.dandiset`` builds them from ``json.load`` of the
    manifest: plain dicts, the last record wins, full records by content id."""
    by_id, by_path = original_load(dumps(records))
    return by_path, by_id


def load_both_ways(server: ManifestServer, records: list[dict[str, Any]]) -> list:
    """The index of a first run (parsed) and of a re-run (HTTP 304, cached)."""
    server.add(PATH, dumps(records))
    first = load_fresh(source=server.url(PATH))
    again = load_fresh(source=server.url(PATH))
    assert server.statuses(PATH) == [200, 304]
    return [first, again]


def test_the_index_answers_like_plain_dicts(server: ManifestServer) -> None:
    records = example_records()
    by_path, by_id = reference_dicts(records)
    for index in load_both_ways(server, records):
        paths = index.path_to_asset_metadata
        assert len(paths) == len(by_path)
        assert list(paths) == list(by_path)  # manifest order
        assert list(paths.keys()) == list(by_path.keys())
        assert list(paths.values()) == list(by_path.values())
        assert list(paths.items()) == list(by_path.items())
        assert dict(paths) == by_path and paths == by_path
        some = records[5]["path"]
        assert paths[some] == by_path[some] and some in paths
        assert paths.get("no/such/path") is None and "no/such/path" not in paths
        assert paths.get("no/such/path", 7) == 7
        with pytest.raises(KeyError):
            paths["no/such/path"]
        ids = index.content_id_to_asset
        assert dict(ids) == by_id and len(ids) == len(by_id)
        assert list(ids) == list(by_id)
        assert all(ids[cid] == record for cid, record in by_id.items())
        assert json.dumps(dict(ids)) == json.dumps(by_id)
        assert (
            ids[records[1]["contentUrl"][1].rsplit("/", 1)[1]]["path"]
            == (records[1]["path"])
        )
        assert "not-a-blob" not in ids


def test_repeated_paths_keep_the_last_record_and_warn(
    server: ManifestServer, caplog: pytest.LogCaptureFixture
) -> None:
    records = [asset_record(f"f/{i}.txt") for i in range(5)]
    records.append(asset_record("f/2.txt", size=999))
    by_path, _ = reference_dicts(records)
    with caplog.at_level(logging.WARNING, logger="dandi.compute"):
        both = load_both_ways(server, records)
    assert caplog.text.count("6 records for 5 paths") == 2
    for index in both:
        paths = index.path_to_asset_metadata
        assert paths == by_path and len(paths) == 5
        assert paths["f/2.txt"].content_size == 999
        assert list(paths) == [f"f/{i}.txt" for i in range(5)]
        assert [m.content_size for m in paths.values()] == [
            by_path[p].content_size for p in paths
        ]


def test_an_index_from_a_file_source(tmp_path: Path) -> None:
    records = example_records()
    (tmp_path / "m.jsonld").write_bytes(dumps(records))
    index = load_fresh(source=tmp_path / "m.jsonld")
    by_path, by_id = reference_dicts(records)
    assert index.path_to_asset_metadata == by_path
    assert index.content_id_to_asset == by_id
    assert "records" in repr(index.path_to_asset_metadata)


def test_the_index_is_read_only(tmp_path: Path) -> None:
    (tmp_path / "m.jsonld").write_bytes(dumps(example_records()))
    index = load_fresh(source=tmp_path / "m.jsonld")
    with pytest.raises(TypeError):
        index.path_to_asset_metadata["x"] = None  # type: ignore[index]
    meta = next(iter(index.path_to_asset_metadata.values()))
    with pytest.raises(AttributeError):
        meta.path = "elsewhere"  # type: ignore[misc]


def test_the_tally_counts_a_repeated_path_once_with_its_last_size() -> None:
    rows = [(f"p/{i % 7}", "d", 10 * i + 1, f"id{i}") for i in range(40)]
    tally = AssetTally()
    tally.add(rows[:25])
    for path, _, size, _ in rows[25:]:
        tally.add_asset(path, size)
    last = {path: size for path, _, size, _ in rows}
    assert (tally.records, tally.assets, tally.total_bytes) == (
        40,
        len(last),
        sum(last.values()),
    )
    unique = AssetTally()
    unique.add(rows[:7])
    assert (unique.assets, unique.total_bytes) == (7, sum(r[2] for r in rows[:7]))


@pytest.mark.parametrize("at_once", [1 << 17, 100, 1])
def test_the_tally_finds_repeats_among_many_paths(
    monkeypatch: pytest.MonkeyPatch, at_once: int
) -> None:
    # the tally sorts the hashes a range of values at a time: all at once, in
    # 36 ranges, in one range per record
    monkeypatch.setattr(index_module, "SORTED_AT_ONCE", at_once)
    rng = random.Random(1697)
    paths = [f"sub-{i}/file-{i}.nwb" for i in range(3000)]
    rows = [(p, "d", rng.randrange(10**9), "id") for p in paths]
    rows += [(p, "d", rng.randrange(10**9), "id") for p in rng.choices(paths, k=500)]
    rng.shuffle(rows)
    tally = AssetTally()
    tally.add(rows)
    last = {path: size for path, _, size, _ in rows}
    assert (tally.records, tally.assets, tally.total_bytes) == (
        3500,
        len(last),
        sum(last.values()),
    )


def test_the_fast_maker_makes_the_same_frozen_metadata() -> None:
    fields = ("sub-1/a.nwb", "2026-04-01T21:51:57-04:00", 12, "blob-1")
    made, built = asset_metadata(*fields), AssetMetadata(*fields)
    assert type(made) is AssetMetadata
    assert made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert dataclasses.astuple(made) == fields
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.content_size = 13  # type: ignore[misc]
