"""Library messages that name a command-line option name the Python parameter too.

A Python caller told to pass ``--include-remote`` has to guess the keyword; every
message of the library (the package outside ``cli/``) that names an option says it
in one form, ``--option [VALUE] (parameter=[VALUE] in Python)``, as in::

    kept; --include-remote (include_remote=True in Python) deletes it
    pass --source URL|FILE|- (source= in Python)

The check reads every string of the package's code (docstrings aside: they
document, they are not messages), an f-string with its fields as ``{}``, and
holds each option it names to that form; the parameter must be the option's own
(the click option's name) and a keyword of the public function the message is
about.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
import re

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dandi_compute_plugin"

#: an option as a command line writes it: ``--dry-run``, ``-i``
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")
#: an option with its value, if any, and the Python parameter that follows it
NAMED = re.compile(
    r"(?<![\w-])(?P<option>--[a-z][a-z0-9-]*|-[a-zA-Z])(?: [^\s(]+)?"
    r" \((?P<param>[a-z_]+)=[^\s)]* in Python\)"
)


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string nodes that are docstrings (of a module, class or
    function) or attribute docstrings (a bare string statement)."""
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found.add(id(node.value))
    return found


def _text(node: ast.Constant | ast.JoinedStr) -> str:
    if isinstance(node, ast.Constant):
        return node.value
    return "".join(
        v.value if isinstance(v, ast.Constant) else "{}" for v in node.values
    )


def message_strings(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of every string of ``source`` but its docstrings."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # its parts are read with it
            skip.update(id(v) for v in node.values)
    return [
        (node.lineno, _text(node))
        for node in ast.walk(tree)
        if id(node) not in skip
        and (
            isinstance(node, ast.JoinedStr)
            or (isinstance(node, ast.Constant) and isinstance(node.value, str))
        )
    ]


def option_problems(
    text: str, option_params: dict[str, set[str]], api_params: set[str]
) -> list[str]:
    """What is wrong with the options ``text`` names (empty when nothing)."""
    named = {m.start("option"): m for m in NAMED.finditer(text)}
    problems = []
    for match in OPTION.finditer(text):
        option = match[1]
        found = named.get(match.start())
        if found is None:
            problems.append(f"{option} without its Python parameter")
            continue
        param = found["param"]
        if param not in option_params.get(option, set()):
            problems.append(f"{option} is not the option of {param}")
        if param not in api_params:
            problems.append(f"{param} is no parameter of the public API")
    return problems


def library_modules() -> list[Path]:
    return sorted(
        p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts
    )


@pytest.fixture(scope="module")
def option_params() -> dict[str, set[str]]:
    """``{option: its click parameter names}`` over every ``dandi compute`` command."""
    from dandi_compute_plugin.cli import compute

    found: dict[str, set[str]] = {}
    commands: list[click.Command] = [compute]
    while commands:
        command = commands.pop()
        if isinstance(command, click.Group):
            commands.extend(command.commands.values())
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in (*param.opts, *param.secondary_opts):
                    found.setdefault(opt, set()).add(param.name or "")
    return found


@pytest.fixture(scope="module")
def api_params() -> set[str]:
    """The keywords of the public functions of the package."""
    import dandi_compute_plugin

    names = set()
    for name in dandi_compute_plugin.__all__:
        value = getattr(dandi_compute_plugin, name)
        if inspect.isfunction(value):
            names.update(inspect.signature(value).parameters)
    return names


def test_every_option_a_library_message_names_has_its_python_parameter(
    option_params: dict[str, set[str]], api_params: set[str]
) -> None:
    problems = []
    checked = 0
    for module in library_modules():
        source = module.read_text(encoding="utf-8")
        for line, text in message_strings(source):
            if OPTION.search(text) is None:
                continue
            checked += 1
            where = f"{module.relative_to(ROOT)}:{line}"
            problems += [
                f"{where}: {p}"
                for p in option_problems(text, option_params, api_params)
            ]
    assert problems == []
    # the messages known today: --include-remote, --include-unuploaded, --to,
    # --disable-plugin, -i, --source
    assert checked >= 6


def test_the_check_can_fail(
    option_params: dict[str, set[str]], api_params: set[str]
) -> None:
    def problems(text: str) -> list[str]:
        return option_problems(text, option_params, api_params)

    assert (
        problems("kept; --include-remote (include_remote=True in Python) deletes it")
        == []
    )
    assert problems("pass --source URL|FILE|- (source= in Python)") == []
    assert problems("the same command with -i {} (dandi_instance= in Python)") == []
    assert problems("kept (--include-remote deletes it)") == [
        "--include-remote without its Python parameter"
    ]
    assert problems("--include-remote (include_unuploaded=True in Python)") == [
        "--include-remote is not the option of include_unuploaded"
    ]
    assert "--frobnicate is not the option of frobnicate" in problems(
        "--frobnicate (frobnicate=True in Python)"
    )
    assert "no_such_keyword is no parameter of the public API" in problems(
        "-i x (no_such_keyword= in Python)"
    )
    # hyphenated words, negative numbers and docstrings are not options
    assert problems("a non-empty, follow-up run at -1 s") == []
    source = '"""Use ``--dry-run``."""\nX = "--dry-run"\nY = f"--to {y}"\n'
    assert message_strings(source) == [(2, "--dry-run"), (3, "--to {}")]
