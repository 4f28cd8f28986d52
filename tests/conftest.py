"""Shared fixtures: the installed environment and the real ``dandi`` command."""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess
import sys
import sysconfig

import dandi.cli.command  # noqa: F401 - imported before install() below
import pytest

from dandi_compute_plugin import _host

# dandi's own pytest plugin (entry point pytest11) makes pytest's assertion rewriter
# load every dandi module itself, in front of the post-import hook: register the
# commands for the in-process tests the documented way.  The subprocess tests
# (test_host.py) prove the real hook.
_host.install()

REPO = Path(__file__).resolve().parents[1]


def dandi_executable() -> str:
    """The ``dandi`` script of the environment running the tests."""
    found = shutil.which("dandi", path=str(Path(sys.executable).parent))
    if found is None:  # pragma: no cover - dandi is a dependency
        pytest.fail("no `dandi` executable next to the test interpreter")
    return found


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for subprocesses: no version check, no plugin switch-off,
    and standard output buffered in a pipe as users have it (no
    ``PYTHONUNBUFFERED``, which would hide a missing flush)."""
    dropped = ("DANDI_DISABLE_PLUGINS", "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["DANDI_NO_ET"] = "1"
    env.update(extra)
    return env


def run_dandi(
    *args: str, env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """Run the real ``dandi`` executable with ``args``; capture text output."""
    return subprocess.run(
        [dandi_executable(), *args],
        capture_output=True,
        text=True,
        env=env or subprocess_env(),
        stdin=subprocess.DEVNULL,
        timeout=300,
        **kwargs,
    )


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
