"""The errors: one module that imports nothing of the package, one base class,
every error exported, and the texts of an incomplete run taken from its report.

- ``errors.py`` imports no module of the package, not even for type checkers:
  read with :mod:`ast`, run alone (outside the package, its ``TYPE_CHECKING``
  block executed too) and imported in a fresh interpreter;
- every public error is a :class:`DandiComputeError`, keeps its built-in base and
  is exported from :mod:`dandi_compute_plugin` (``tests/test_docs.py`` holds
  each to an ``autoexception`` in the API reference);
- :class:`DeletionIncomplete` and :class:`MoveIncomplete` name every directory
  not done, with its status and reason, and every directory not read, for
  generated reports.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st
import pytest

import dandi_compute_plugin
from dandi_compute_plugin import errors
from dandi_compute_plugin._text import escape_control
from dandi_compute_plugin.deletion import (
    DeletionReport,
    DeletionTarget,
    TargetResult,
    TargetStatus,
)
from dandi_compute_plugin.errors import (
    DandiComputeError,
    DeletionIncomplete,
    MoveIncomplete,
)
from dandi_compute_plugin.move import CopyOutcome, MoveReport, MoveResult
from dandi_compute_plugin.versions import VersionDirectory

ERRORS = Path(errors.__file__)
PACKAGE = "dandi_compute_plugin"

#: the built-in base each error had before the common base came, which callers'
#: ``except ValueError`` / ``except RuntimeError`` clauses may rely on
BUILT_IN_BASES = {
    "InvalidVersionError": ValueError,
    "ManifestFormatError": ValueError,
    "ManifestLocationError": ValueError,
    "ArchiveError": RuntimeError,
    "AuthenticationError": RuntimeError,
    "JournalBusyError": RuntimeError,
    "JournalError": RuntimeError,
    "JournalMismatchError": RuntimeError,
    "UnsafePathError": RuntimeError,
    "UnknownPluginError": ValueError,
    "DeletionIncomplete": RuntimeError,
    "MoveUsageError": ValueError,
    "NotADandisetError": ValueError,
    "MoveIncomplete": RuntimeError,
}


def public_errors() -> dict[str, type[BaseException]]:
    return {
        name: value
        for name, value in vars(errors).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
        and not name.startswith("_")
    }


def imported_modules(source: str) -> list[tuple[int, str]]:
    """``(level, module)`` of every import anywhere in ``source`` (in functions
    and ``if`` blocks too); ``level`` > 0 for a relative import."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def package_imports(source: str) -> list[str]:
    """The imports of ``source`` that reach into the package."""
    return [
        "." * level + module
        for level, module in imported_modules(source)
        if level > 0 or module == PACKAGE or module.startswith(PACKAGE + ".")
    ]


def run_python(code: str) -> list[str]:
    """The JSON list a fresh interpreter prints for ``code``."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


# ----------------------------------------------------------------- the module


def test_errors_imports_nothing_of_the_package() -> None:
    source = ERRORS.read_text(encoding="utf-8")
    assert package_imports(source) == []
    # what it does import is the standard library's
    modules = {module.split(".")[0] for _, module in imported_modules(source)}
    assert modules <= set(sys.stdlib_module_names), modules


def test_the_import_check_can_fail() -> None:
    source = (
        "TYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n"
        "    from .deletion.model import DeletionReport\n"
        "def f():\n"
        "    import dandi_compute_plugin.move\n"
    )
    assert package_imports(source) == [".deletion.model", "dandi_compute_plugin.move"]


@pytest.mark.parametrize("type_checking", [False, True])
def test_errors_runs_outside_the_package(type_checking: bool) -> None:
    """Executed as a module of no package (a relative import fails there), with
    its type checkers' block run as well: only the standard library is loaded."""
    code = f"""
import importlib.util, json, sys
source = open({str(ERRORS)!r}, encoding="utf-8").read()
if {type_checking}:
    assert "TYPE_CHECKING = False" in source
    source = source.replace("TYPE_CHECKING = False", "TYPE_CHECKING = True")
before = set(sys.modules)
module = importlib.util.module_from_spec(
    importlib.util.spec_from_loader("standalone_errors", loader=None)
)
exec(compile(source, "errors.py", "exec"), module.__dict__)
assert issubclass(module.DeletionIncomplete, module.DandiComputeError)
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    loaded = run_python(code)
    assert not [m for m in loaded if m.split(".")[0] not in sys.stdlib_module_names]


def test_importing_errors_loads_no_other_module_of_the_package() -> None:
    code = """
import json, sys
before = set(sys.modules)
import dandi_compute_plugin.errors
print(json.dumps(sorted(set(sys.modules) - before)))
"""
    loaded = run_python(code)
    ours = {m for m in loaded if m == PACKAGE or m.startswith(PACKAGE + ".")}
    # the package itself may come with it (unless the .pth loaded it already)
    assert ours <= {PACKAGE, f"{PACKAGE}._version", f"{PACKAGE}.errors"}
    assert f"{PACKAGE}.errors" in ours
    others = {m for m in loaded if m not in ours}
    assert not [m for m in others if m.split(".")[0] not in sys.stdlib_module_names]


# ----------------------------------------------------------------- the classes


def test_every_public_error_is_a_dandi_compute_error_and_exported() -> None:
    found = public_errors()
    assert "DandiComputeError" in found and "DeletionIncomplete" in found
    for name, cls in found.items():
        assert issubclass(cls, DandiComputeError), name
        assert name in dandi_compute_plugin.__all__, name
        assert getattr(dandi_compute_plugin, name) is cls, name
    # what the module defines at run time is what its source shows (and what
    # the docs test reads)
    tree = ast.parse(ERRORS.read_text(encoding="utf-8"))
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
    }
    assert defined == set(found)


def test_the_built_in_bases_are_kept() -> None:
    found = public_errors()
    assert set(BUILT_IN_BASES) <= set(found)
    for name, base in BUILT_IN_BASES.items():
        assert issubclass(found[name], base), name
    # and a caller's `except ValueError` still catches one
    with pytest.raises(ValueError):
        dandi_compute_plugin.validate_version("../up")


def test_hook_failures_stay_inside_the_plugins_module() -> None:
    from dandi_compute_plugin import plugins

    assert "HookFailed" not in public_errors()
    assert not issubclass(plugins.HookFailed, DandiComputeError)


# ----------------------------------------------------------------- the texts


STATUSES = list(TargetStatus)
# names and reasons may hold what would break a line: a newline, a carriage
# return, an escape sequence, a backslash
labels = st.text(alphabet="abcdefghij0123456789\n\r\x1b\\", min_size=1, max_size=6)
reasons = st.one_of(st.none(), st.text(alphabet="abcxyz :;,()-\n\x1b", max_size=30))
scan_errors = st.lists(
    labels.map(lambda s: f"derivatives/dandiset-000009/sub-{s}: Permission denied"),
    max_size=3,
)


def _target(tmp: Path, subject: str) -> DeletionTarget:
    relpath = f"derivatives/dandiset-000001/sub-{subject}/pipeline-p/version-v1"
    return DeletionTarget(VersionDirectory.from_relpath(tmp, relpath))


@st.composite
def results(draw: st.DrawFn) -> list[TargetResult]:
    subjects = draw(st.lists(labels, unique=True, max_size=8))
    return [
        TargetResult(
            _target(Path("/clone"), subject), draw(st.sampled_from(STATUSES)), reason
        )
        for subject in subjects
        for reason in [draw(reasons)]
    ]


def _check_lines(text: str, bad: list[tuple[str, str, str | None]], good: list[str]):
    """Each bad directory on its own line with status and reason, its control
    characters escaped; no good one."""
    lines = text.split("\n")
    for relpath, status, reason in bad:
        assert escape_control(f"{relpath}: {status}: {reason}") in lines
    for relpath in good:
        prefix = escape_control(relpath) + ":"
        assert not [line for line in lines if line.startswith(prefix)]


@given(results(), scan_errors)
def test_deletion_incomplete_names_every_directory_not_deleted(
    found: list[TargetResult], unread: list[str]
) -> None:
    report = DeletionReport(Path("/clone"), "v1", results=found, scan_errors=unread)
    error = DeletionIncomplete(report)
    assert error.report is report
    text = str(error)
    bad = [r for r in found if not r.ok]
    head = f"{len(bad)} of {len(found)} version directories not deleted"
    if unread:
        head += f", {len(unread)} directories not read"
    assert text.split("\n")[0] == head + ":"
    _check_lines(
        text,
        [(r.target.relpath, r.status.value, r.reason) for r in bad],
        [r.target.relpath for r in found if r.ok],
    )
    for line in unread:
        assert escape_control(f"cannot be read: {line}") in text.split("\n")
    assert len(text.split("\n")) == 1 + len(bad) + len(unread)


@given(results(), st.lists(st.booleans(), min_size=8, max_size=8), scan_errors)
def test_move_incomplete_names_every_directory_not_moved(
    found: list[TargetResult], copied: list[bool], unread: list[str]
) -> None:
    moves = [
        MoveResult(r, CopyOutcome(True) if c else None)
        for r, c in zip(found, copied, strict=False)
    ]
    report = MoveReport(Path("/clone"), "000002", results=moves, scan_errors=unread)
    error = MoveIncomplete(report)
    assert error.report is report
    text = str(error)
    bad = [m for m in moves if not m.ok]
    assert text.split("\n")[0] == f"{len(bad)} of {len(moves)} directories not moved:"
    _check_lines(
        text,
        [(m.result.target.relpath, m.status, m.result.reason) for m in bad],
        [m.result.target.relpath for m in moves if m.ok],
    )
    for line in unread:
        assert escape_control(f"cannot be read: {line}") in text.split("\n")
    assert len(text.split("\n")) == 1 + len(bad) + len(unread)


# ----------------------------------------------------------------- pickling


def _sample_report() -> DeletionReport:
    refused = TargetResult(_target(Path("/clone"), "A"), TargetStatus.REFUSED, "no")
    return DeletionReport(Path("/clone"), "v1", results=[refused], scan_errors=["x"])


def _sample_move_report() -> MoveReport:
    failed = TargetResult(_target(Path("/clone"), "B"), TargetStatus.FAILED, "gone")
    return MoveReport(Path("/clone"), "000002", results=[MoveResult(failed)])


#: the constructor arguments of the errors that take more than a message
SAMPLE_ARGUMENTS = {
    "ManifestFormatError": ("a.jsonld", "not a list", 3, "sub-1/x.nwb"),
    "ManifestUnavailableError": ("HTTP 404", "https://example.org/m", 404),
    "JournalError": ("bad line 2", "/clone/.journal"),
    "JournalMismatchError": ("another run", "/clone/.journal"),
    "DeletionIncomplete": (_sample_report(),),
    "MoveIncomplete": (_sample_move_report(),),
}


@pytest.mark.parametrize("name", sorted(public_errors()))
def test_every_error_survives_pickling_and_copying(name: str) -> None:
    """A process pool sends a worker's error back pickled: it must come back
    whole, with its attributes (the report of an incomplete run too)."""
    import copy
    import pickle

    cls = public_errors()[name]
    error = cls(*SAMPLE_ARGUMENTS.get(name, ("what went wrong",)))
    error.add_note("a note")
    for again in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert type(again) is cls
        assert (str(again), again.args) == (str(error), error.args)
        assert vars(again) == vars(error)
