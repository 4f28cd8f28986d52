"""Fixtures of the tests against the fake archive: one archive per test, and an
environment without a real keyring or version check (for every test: the root
conftest names this module in ``pytest_plugins``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..subprocesses import subprocess_env
from . import FakeArchive
from .clones import KEY

NULL_KEYRING = "keyring.backends.null.Keyring"


@pytest.fixture(autouse=True)
def isolated_dandi(monkeypatch: pytest.MonkeyPatch) -> None:
    # no version check against the internet, never the user's keyring
    monkeypatch.setenv("DANDI_NO_ET", "1")
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", NULL_KEYRING)
    monkeypatch.delenv("DANDI_API_KEY", raising=False)
    monkeypatch.delenv("DANDI_INSTANCE", raising=False)


@pytest.fixture
def archive() -> Iterator[FakeArchive]:
    with FakeArchive(tokens={KEY: "owner", "other-key-4567": "stranger"}) as a:
        yield a


@pytest.fixture
def keyed(archive: FakeArchive, monkeypatch: pytest.MonkeyPatch) -> FakeArchive:
    """The archive, with the owner's key in ``{INSTANCE}_API_KEY``."""
    monkeypatch.setenv(archive.api_key_env_var, KEY)
    return archive


def cli_env(
    archive: FakeArchive, tmp_home, key: str | None = KEY, **extra: str
) -> dict:
    """Environment of a ``dandi`` subprocess: own HOME (dandi's log), null keyring."""
    env = subprocess_env(
        PYTHON_KEYRING_BACKEND=NULL_KEYRING,
        HOME=str(tmp_home),
        XDG_STATE_HOME=str(tmp_home / "state"),
        XDG_DATA_HOME=str(tmp_home / "data"),
        XDG_CONFIG_HOME=str(tmp_home / "config"),
        **extra,
    )
    for name in ("DANDI_API_KEY", "DANDI_INSTANCE", archive.api_key_env_var):
        env.pop(name, None)
    if key is not None:
        env[archive.api_key_env_var] = key
    return env
