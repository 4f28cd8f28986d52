"""``ManifestRequest`` and ``iter_assets``: the option object the loaders build."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from dandi_compute_plugin.manifest import (
    ManifestRequest,
    iter_asset_metadata,
    iter_assets,
    load_assets_jsonld_metadata,
)

from .common import PATH, TEMPLATE_PATH, dumps, example_records, expected_metadata
from .server import ManifestServer


def test_a_request_is_frozen_and_hashable() -> None:
    request = ManifestRequest("000233", "0.230629.1955", cache=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.cache = True  # type: ignore[misc]
    same = ManifestRequest("000233", "0.230629.1955", cache=False)
    assert request == same and hash(request) == hash(same)
    assert dataclasses.replace(request, refresh=True).refresh is True


@pytest.mark.parametrize("function", [iter_asset_metadata, load_assets_jsonld_metadata])
def test_the_functions_defaults_are_the_requests(function: object) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(ManifestRequest)}
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    assert list(parameters)[:2] == ["dandiset_id", "version"]
    for name, default in defaults.items():
        assert parameters[name].default == default, name


def test_iter_assets_of_a_file_equals_iter_asset_metadata(tmp_path: Path) -> None:
    records = example_records()
    (tmp_path / "m.jsonld").write_bytes(dumps(records))
    request = ManifestRequest(source=tmp_path / "m.jsonld")
    expected = [expected_metadata(r) for r in records]
    assert list(iter_assets(request)) == expected
    assert list(iter_asset_metadata(source=tmp_path / "m.jsonld")) == expected


def test_iter_assets_of_a_dandiset_fetches_then_reuses_the_cache(
    server: ManifestServer,
) -> None:
    records = example_records()
    server.add(PATH, dumps(records))
    request = ManifestRequest(url_template=server.url(TEMPLATE_PATH))
    seen: list[tuple[int, int | None]] = []
    first = list(iter_assets(request, progress=lambda d, t: seen.append((d, t))))
    assert first == [expected_metadata(r) for r in records]
    assert seen and seen[-1][0] == seen[-1][1]
    assert list(iter_assets(request)) == first
    assert list(iter_asset_metadata(url_template=request.url_template)) == first
    assert server.statuses(PATH) == [200, 304, 304]
    refreshed = dataclasses.replace(request, refresh=True)
    assert list(iter_assets(refreshed)) == first
    assert server.statuses(PATH)[-1] == 200


@pytest.mark.parametrize(
    "timeout", [0, -1, float("inf"), float("nan"), 1e12, True, "5", None]
)
def test_a_timeout_that_bounds_nothing_is_a_value_error(
    server: ManifestServer, timeout: object
) -> None:
    """Every wait of a request (connection, body, the cache entry's lock) is
    bounded by its timeout: one that bounds nothing is refused at once, never
    a wait forever or an error from deep inside (an overflow in a lock wait)."""
    server.add(PATH, dumps(example_records()))
    with pytest.raises(ValueError, match="timeout must be a number of seconds"):
        ManifestRequest(timeout=timeout)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout must be a number of seconds"):
        load_assets_jsonld_metadata(source=server.url(PATH), timeout=timeout)
    assert server.requests == []
