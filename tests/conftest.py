"""Fixtures for every test: the installed environment, the project's wheel, and
(through ``pytest_plugins``) the fake archive's and the manifest server's.

Helpers to import are in modules of their own (``subprocesses``, ``records``,
``venvs``, ``unprivileged``, ``archive``, ``manifest.common``), never here."""

from __future__ import annotations

import os
from pathlib import Path
import sysconfig

import dandi.cli.command  # noqa: F401 - imported before install() below
import pytest

from dandi_compute_plugin import _host

# dandi's own pytest plugin (entry point pytest11) makes pytest's assertion rewriter
# load every dandi module itself, in front of the post-import hook: register the
# commands for the in-process tests the documented way.  The subprocess tests
# (test_host.py) prove the real hook.
_host.install()

#: the fixtures shared by the test directories (each module's docstring says
#: what they give); ``isolated_dandi`` and ``cache_dir`` apply to every test
pytest_plugins = ["tests.archive.fixtures", "tests.manifest.fixtures"]


@pytest.fixture(scope="session")
def installed() -> Path:
    """The site-packages where the package is really installed, with its ``.pth``.

    The host-hook tests need a real installation (tox provides one). Outside CI
    they are skipped when the package is only importable from the source tree.
    """
    purelib = Path(sysconfig.get_paths()["purelib"])
    if not (purelib / "dandi_compute_plugin.pth").exists():
        if os.environ.get("CI"):
            pytest.fail("dandi_compute_plugin.pth is not installed in the test env")
        pytest.skip("the package is not installed in this environment (use tox)")
    return purelib


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project's wheel, built once per session."""
    from .venvs import build_wheel

    return build_wheel(tmp_path_factory.mktemp("wheel"))
