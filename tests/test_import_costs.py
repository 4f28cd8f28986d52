"""What a piece of the package loads: the deletion's data without its machinery,
the commands' help and option parsing without the library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .subprocesses import run_python, subprocess_env

#: what the deletion's machinery brings: the hook manager, HTTP, dandi's client
HEAVY = ("pluggy", "requests", "dandi.dandiapi", "dandi_compute_plugin.plugins")


def _loaded_after(code: str) -> list[str]:
    """The modules of :data:`HEAVY` and of the package's library that a fresh
    interpreter has loaded after ``code``."""
    script = (
        f"import json, sys\n{code}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith("
        f"{HEAVY!r} + ('dandi_compute_plugin.deletion.', "
        "'dandi_compute_plugin.move', 'dandi_compute_plugin.manifest')))))"
    )
    out = run_python(script, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import dandi_compute_plugin.deletion.model",
        "from dandi_compute_plugin.deletion import DeletionOptions, TargetStatus",
        "from dandi_compute_plugin.deletion import DEFAULT_JOBS",
    ],
)
def test_the_deletions_data_loads_without_its_machinery(code: str) -> None:
    loaded = _loaded_after(code)
    assert not [m for m in loaded if m.startswith(HEAVY)], loaded
    assert "dandi_compute_plugin.deletion.plan" not in loaded


def test_help_and_option_parsing_load_no_library(tmp_path) -> None:
    """``--help`` of every command, and a usage error in a deleting command's
    options, load neither the library nor pluggy, requests or dandi's client."""
    runs = [
        ["delete-version", "--help"],
        ["move", "--help"],
        ["index", "--help"],
        ["scan-versions", "--help"],
        ["versions", "--help"],
        ["plugins", "--help"],
        ["cache", "--help"],
        ["delete-version", str(tmp_path), "v1", "--jobs", "0"],
        ["move", str(tmp_path), "v1", "--to", "001697", "--verify", "both"],
        ["delete-version", str(tmp_path), "v1", "--timeout", "-1"],
    ]
    code = (
        "from click.testing import CliRunner\n"
        "from dandi_compute_plugin.cli import compute\n"
        f"for args in {runs!r}:\n"
        "    result = CliRunner().invoke(compute, args)\n"
        "    assert result.exit_code == (0 if '--help' in args else 2), "
        "(args, result.output)\n"
    )
    assert _loaded_after(code) == []


@pytest.mark.parametrize("switch", ["", "1"])
def test_a_python_start_loads_only_the_hook(installed: Path, switch: str) -> None:
    """The ``.pth`` runs at every Python start: it loads the package's
    ``__init__`` and ``_host``, nothing else of it (the switch is read when
    dandi starts), whatever ``DANDI_DISABLE_PLUGINS`` says."""
    code = (
        "import json, sys; print(json.dumps(sorted(m for m in sys.modules "
        "if m.startswith('dandi_compute_plugin'))))"
    )
    out = run_python(code, env=subprocess_env(DANDI_DISABLE_PLUGINS=switch), timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        "dandi_compute_plugin",
        "dandi_compute_plugin._host",
        "dandi_compute_plugin._version",
    ]
