"""Fixtures of the manifest tests: a private cache (for every test: the root
conftest names this module in ``pytest_plugins``) and the HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dandi_compute_plugin.defaults import CACHE_DIR_ENV, MANIFEST_URL_ENV

from .server import ManifestServer


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own cache; no manifest URL template from outside."""
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(MANIFEST_URL_ENV, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def server() -> Iterator[ManifestServer]:
    """A manifest server on 127.0.0.1, for this test only."""
    with ManifestServer() as srv:
        yield srv
