"""Each need of a manifest -- rows, summary, index, full records -- gives the same
answer whichever way the manifest came (downloaded, answered by the cache after a
304, read from a file), and keeps no file of the cache open once its answer is
dropped: a run that reads many manifests must not run out of descriptors, and an
entry replaced meanwhile must not be held."""

from __future__ import annotations

from collections.abc import Callable
import gc
import os
from pathlib import Path
from typing import Any

import pytest

from dandi_compute_plugin.manifest import (
    ManifestRequest,
    iter_asset_metadata,
    load_assets_jsonld_metadata,
    summarize,
)

from .common import PATH, dumps, example_records, load_fresh
from .server import ManifestServer

FDS = Path("/proc/self/fd")


def open_under(directory: Path) -> list[str]:
    """The files under ``directory`` this process holds open."""
    found = []
    for fd in FDS.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile (the listing's own descriptor)
            continue
        if target.startswith(str(directory.resolve())):
            found.append(target)
    return found


def needs(source: str) -> dict[str, Callable[[], Any]]:
    """Each need, through the public API, giving a plain comparable answer."""

    def index() -> Any:
        loaded = load_fresh(source=source)
        # a full record read through the index: the cached manifest is opened
        return {k: dict(v) for k, v in loaded.content_id_to_asset.items()}

    def records() -> Any:
        return dict(load_fresh(source=source, keep_records=True).content_id_to_asset)

    return {
        "rows": lambda: list(iter_asset_metadata(source=source)),
        "summary": lambda: summarize(ManifestRequest(source=source)),
        "index": index,
        "records": records,
    }


@pytest.mark.skipif(not FDS.is_dir(), reason="needs /proc/self/fd")
@pytest.mark.parametrize("need", ["rows", "summary", "index", "records"])
def test_each_need_answers_alike_and_leaves_no_cache_file_open(
    server: ManifestServer, cache_dir: Path, tmp_path: Path, need: str
) -> None:
    body = dumps(example_records())
    server.add(PATH, body)
    url = server.url(PATH)
    manifest = tmp_path / "assets.jsonld"
    manifest.write_bytes(body)
    downloaded = needs(url)[need]()
    answered = needs(url)[need]()  # from the cache entry, after a 304
    assert server.statuses(PATH) == [200, 304]
    assert answered == downloaded == needs(str(manifest))[need]()
    load_assets_jsonld_metadata.cache_clear()  # type: ignore[attr-defined]
    gc.collect()
    assert open_under(cache_dir) == []
