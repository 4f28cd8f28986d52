"""The defaults module: standard library only, the one source of the command
line's and the library's defaults, and the one reader of the environment."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from dandi_compute_plugin import defaults

from .subprocesses import REPO, run_python

#: the package under test (in tox, the installed one, not the source tree)
PACKAGE = Path(defaults.__file__).resolve().parent


def test_the_defaults_module_imports_only_the_standard_library() -> None:
    """In an interpreter without ``site`` (``-S``: no start-up hook), importing
    it loads nothing but the standard library and the package's ``__init__``;
    and its source names no other module."""
    code = (
        "import json, sys; import dandi_compute_plugin.defaults; "
        "print(json.dumps([m for m in sys.modules "
        "if m.split('.')[0] not in (*sys.stdlib_module_names, '__main__')]))"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    assert loaded == {
        "dandi_compute_plugin",
        "dandi_compute_plugin._version",
        "dandi_compute_plugin.defaults",
    }
    tree = ast.parse(Path(defaults.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(a.name in sys.stdlib_module_names for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module in sys.stdlib_module_names


# Changed defaults, set before anything else of the package is imported: every
# default the command line and the library show must be one of these.
_SENTINELS = """
import json, sys
from dandi_compute_plugin import defaults as d
d.DEFAULT_JOBS, d.MAX_JOBS, d.DEFAULT_TIMEOUT = 7, 9, 12.5
d.VERIFY_CHOICES, d.DEFAULT_VERIFY = ("digest", "size", "neither"), "size"
d.TIMEOUT_ENV = "SENTINEL_TIMEOUT"
d.DEFAULT_DANDISET_ID, d.DEFAULT_DANDISET_VERSION = "000123", "0.1.2"
d.DEFAULT_INSTANCE = "sentinel-instance"
import inspect, os
os.environ.pop(d.INSTANCE_ENV, None)
from dandi_compute_plugin.cli import compute
from dandi_compute_plugin.cli.manifest_source import manifest_request
from dandi_compute_plugin.deletion import DEFAULT_JOBS, DeletionOptions
from dandi_compute_plugin.deletion import delete_dandiset_version
from dandi_compute_plugin.deletion.archive import ArchiveSession
from dandi_compute_plugin.deletion.local.verify import find_unuploaded
from dandi_compute_plugin.manifest import ManifestRequest, manifest_url
from dandi_compute_plugin.manifest import iter_asset_metadata
from dandi_compute_plugin.manifest import load_assets_jsonld_metadata
from dandi_compute_plugin.move import move_version_directories

def params(group):
    for command in group.commands.values():
        if hasattr(command, "commands"):
            yield from params(command)
        yield from ((command.name, p) for p in command.params)

cli = {}
for command, p in params(compute):
    if p.name in ("jobs", "timeout", "verify", "dandiset_version"):
        seen = {"default": p.default, "envvar": p.envvar}
        if p.name == "jobs":
            seen["range"] = [p.type.min, p.type.max]
        if p.name == "verify":
            seen["choices"] = list(p.type.choices)
        cli[f"{command} --{p.name}"] = seen
options = DeletionOptions()
request = ManifestRequest()
library = {
    "deletion.DEFAULT_JOBS": DEFAULT_JOBS,
    "DeletionOptions": [options.jobs, options.timeout, options.verify],
    "ManifestRequest": [
        request.dandiset_id, request.version, request.dandi_instance, request.timeout
    ],
    "manifest_request": inspect.signature(manifest_request)
    .parameters["timeout"]
    .default,
}
named = ("dandiset_id", "version", "dandi_instance", "jobs", "timeout", "verify")
for f in (
    delete_dandiset_version,
    move_version_directories,
    iter_asset_metadata,
    load_assets_jsonld_metadata,
    manifest_url,
    find_unuploaded,
    ArchiveSession,
):
    sig = inspect.signature(f).parameters
    library[f.__name__] = [
        sig[n].default for n in named if n in sig and sig[n].default is not sig[n].empty
    ]
print(json.dumps({"cli": cli, "library": library}))
"""


def test_the_command_line_and_the_library_take_their_defaults_from_one_place() -> None:
    """Changing a default in :mod:`defaults` changes it everywhere: no copy."""
    out = run_python(_SENTINELS, timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    cli, library = seen["cli"], seen["library"]
    assert {name.split()[0] for name in cli} >= {"delete-version", "move", "index"}
    for name, option in cli.items():
        if name.endswith("--jobs"):
            assert option == {"default": 7, "envvar": None, "range": [1, 9]}, name
        elif name.endswith("--timeout"):
            assert option == {"default": 12.5, "envvar": "SENTINEL_TIMEOUT"}, name
        elif name.endswith("--dandiset_version"):
            assert option == {"default": "0.1.2", "envvar": None}, name
        else:
            assert option == {
                "default": "size",
                "envvar": None,
                "choices": ["digest", "size", "neither"],
            }, name
    assert library == {
        "deletion.DEFAULT_JOBS": 7,
        "DeletionOptions": [7, 12.5, "size"],
        "ManifestRequest": ["000123", "0.1.2", "sentinel-instance", 12.5],
        "manifest_request": 12.5,
        "delete_dandiset_version": [None, 7, 12.5, "size"],
        "move_version_directories": [None, 7, 12.5, "size"],
        # None: the instance of the environment, or DEFAULT_INSTANCE (the request)
        "iter_asset_metadata": ["000123", "0.1.2", None, 12.5],
        "load_assets_jsonld_metadata": ["000123", "0.1.2", None, 12.5],
        "manifest_url": ["000123", "0.1.2", None],
        "find_unuploaded": ["size"],
        "ArchiveSession": [7, 12.5],
    }


def _reads_environment(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
        return isinstance(node.value, ast.Name) and node.value.id == "os"
    if isinstance(node, ast.ImportFrom) and node.module == "os":
        return any(a.name in ("environ", "getenv") for a in node.names)
    return False


def test_only_the_defaults_module_reads_the_environment() -> None:
    readers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(map(_reads_environment, ast.walk(ast.parse(path.read_text()))))
    )
    assert readers == ["defaults.py"]


def test_the_two_entry_point_groups_have_two_names() -> None:
    from dandi_compute_plugin import _host, hookspecs

    assert defaults.COMMAND_ENTRY_POINT_GROUP == "dandi.commands"
    assert defaults.HOOK_ENTRY_POINT_GROUP == hookspecs.PROJECT_NAME
    assert not hasattr(_host, "ENTRY_POINT_GROUP")
    pyproject = (REPO / "pyproject.toml").read_text()
    assert f'[project.entry-points."{defaults.COMMAND_ENTRY_POINT_GROUP}"]' in (
        pyproject
    )


@pytest.mark.parametrize("command", ["delete-version", "move", "index"])
def test_the_command_line_takes_the_timeouts_the_library_takes(command: str) -> None:
    """At the ceiling and either side of it: a timeout the option accepts is one
    the options accept (none gets past the parser to fail as a ValueError)."""
    import math

    import click

    from dandi_compute_plugin.cli import compute
    from dandi_compute_plugin.deletion import DeletionOptions

    [option] = [p for p in compute.commands[command].params if p.name == "timeout"]
    ceiling = defaults.MAX_TIMEOUT
    for value in (math.nextafter(ceiling, 0), ceiling, math.nextafter(ceiling, 2e9)):
        try:
            DeletionOptions(timeout=value)
            library_takes = True
        except ValueError:
            library_takes = False
        try:
            option.type.convert(str(value), option, None)
            cli_takes = True
        except click.BadParameter:
            cli_takes = False
        assert cli_takes == library_takes == (value < ceiling), value


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "dandi"), ("", "dandi"), ("dandi-sandbox", "dandi-sandbox")],
)
def test_the_instance_is_read_when_asked(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str
) -> None:
    monkeypatch.delenv(defaults.INSTANCE_ENV, raising=False)
    if value is not None:
        monkeypatch.setenv(defaults.INSTANCE_ENV, value)
    assert defaults.dandi_instance() == expected


@pytest.mark.parametrize(
    ("value", "disabled"),
    [
        (None, False),
        ("", False),
        ("0", False),
        (" False ", False),
        ("no", False),
        ("OFF", False),
        ("1", True),
        ("yes", True),
        ("anything", True),
    ],
)
def test_the_host_switch_is_read_when_asked(
    monkeypatch: pytest.MonkeyPatch, value: str | None, disabled: bool
) -> None:
    monkeypatch.delenv(defaults.HOST_DISABLE_ENV, raising=False)
    if value is not None:
        monkeypatch.setenv(defaults.HOST_DISABLE_ENV, value)
    assert defaults.host_plugins_disabled() is disabled


def test_lists_and_paths_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(defaults.HOOK_DISABLE_ENV, " a, ,b ,a,")
    assert defaults.disabled_hook_plugins() == {"a", "b"}
    monkeypatch.setenv(defaults.MANIFEST_URL_ENV, "")
    monkeypatch.setenv(defaults.CACHE_DIR_ENV, "")
    assert defaults.manifest_url_template() is None
    assert defaults.cache_directory_from_env() is None
    monkeypatch.setenv(defaults.CACHE_DIR_ENV, "/some/where")
    assert defaults.cache_directory_from_env() == "/some/where"


#: what the prose names just before a "default N", and the default it states
_DOCUMENTED = {
    "--jobs": "DEFAULT_JOBS",
    "--timeout": "DEFAULT_TIMEOUT",
    "timeout=": "DEFAULT_TIMEOUT",
    defaults.TIMEOUT_ENV: "DEFAULT_TIMEOUT",
    defaults.HOOK_TIMEOUT_ENV: "DEFAULT_HOOK_TIMEOUT",
}


def test_the_documented_defaults_are_the_defaults() -> None:
    """The README, the docs and the plugin authors' manual (the hookspecs'
    docstring) state the defaults in words: each "default N" is the value of
    the option or variable named last before it."""
    import re

    from dandi_compute_plugin import hookspecs

    texts = {
        path.name: path.read_text()
        for path in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.rst"))]
    }
    texts["hookspecs"] = hookspecs.__doc__ or ""
    seen = []
    for name, text in texts.items():
        for found in re.finditer(r"default (\d+)", text):
            before = text[max(0, found.start() - 200) : found.start()]
            at = {token: before.rfind(token) for token in _DOCUMENTED}
            token = max(at, key=lambda t: at[t])
            if at[token] < 0:
                continue
            default = getattr(defaults, _DOCUMENTED[token])
            assert float(found[1]) == default, (name, found[0], token)
            seen.append((name, _DOCUMENTED[token]))
    assert {d for _, d in seen} == set(_DOCUMENTED.values())
    assert {n for n, _ in seen} >= {"README.md", "deletion.rst", "hookspecs"}
