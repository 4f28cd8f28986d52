"""Fixtures of the manifest tests: a private cache and the HTTP server.

Conftests import them to use them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dandi_compute_plugin.manifest import MANIFEST_URL_ENV

from .server import ManifestServer


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache; no manifest URL template from outside."""
    monkeypatch.setenv("DANDI_COMPUTE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(MANIFEST_URL_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def server() -> Iterator[ManifestServer]:
    """A manifest server on 127.0.0.1, for this test only."""
    with ManifestServer() as srv:
        yield srv
