"""Running the real ``dandi`` command (and other tools) in subprocesses.

The command of the environment running the tests (and its Python), the
environment a subprocess gets, and the repository's top directory.  Test modules
import these; the fixtures are in ``conftest.py`` and the modules its
``pytest_plugins`` names.
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

from dandi_compute_plugin.defaults import HOST_DISABLE_ENV

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
    dropped = (HOST_DISABLE_ENV, "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["DANDI_NO_ET"] = "1"
    env.update(extra)
    return env


def run_python(
    code: str,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Run ``code`` (``python -c``, with ``args``) in a fresh interpreter of the
    environment running the tests; capture text output.  ``env`` None: this
    process's environment."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


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
