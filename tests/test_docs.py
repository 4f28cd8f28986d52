"""The documentation keeps up with the code: nothing user-visible goes undocumented.

``tox -e docs`` builds the site (Sphinx, warnings as errors); this test needs no
Sphinx.  It reads the documentation *sources* -- every ``.rst`` and ``.md`` file below
``docs/`` -- and fails when the code has something they do not mention:

- a ``dandi compute`` command: its full name (``dandi compute scan-versions``) must
  appear in the text (whitespace between the words may vary);
- an option of any command: each of its long names (``--dry-run``; its short names
  only when it has no long one) must appear as a whole token, i.e. not as part of a
  longer option (``--source`` is not mentioned by ``--source-dir``).  The CLI
  reference page is generated at build time from the commands, so its source holds
  no option names: a mention must be written by hand, in the user guide or another
  page;
- a choice of an option (the ``-f`` formats): written as an inline literal,
  ````json_pp````;
- an environment variable: every ``DANDI_...`` string constant in the package and
  every option's ``envvar``, as a whole token;
- a hook: every ``dandi_compute_*`` function of ``hookspecs.py`` needs an
  ``.. autofunction::`` directive (so that its docstring is on the site) and a
  mention by name outside that directive;
- a public name (``dandi_compute_plugin.__all__``): an ``auto*`` or ``data``
  directive in the API reference;
- an exception of ``errors.py`` (every one a caller can meet): an
  ``.. autoexception::`` directive in the API reference.

And the other way round, the documentation mentions no ``dandi compute`` command and
no ``--option`` that does not exist (apart from those of other programs, listed in
``FOREIGN_OPTIONS``).

``test_the_checks_can_fail`` runs the same checks on a command tree with an extra
command, option, choice and environment variable, and on a hook and a public name
that do not exist, and expects each to be reported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
import re

import click
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "dandi_compute_plugin"
HOOKSPECS = PACKAGE / "hookspecs.py"
ERRORS = PACKAGE / "errors.py"
API_PAGE = "api.rst"

#: options of other programs that the docs may mention: ``dandi`` itself
#: (``dandi -l DEBUG compute``), uv (``--with``), and click's ``--help``
FOREIGN_OPTIONS = {"--help", "--log-level", "--pdb", "--with"}

pytestmark = pytest.mark.skipif(
    not DOCS.is_dir(), reason="no docs/ directory next to the tests"
)


# ----------------------------------------------------------------- the sources


def doc_sources() -> dict[str, str]:
    """``{path relative to docs/: text}`` of the hand-written sources."""
    found = {}
    for path in sorted(DOCS.rglob("*")):
        rel = path.relative_to(DOCS)
        if rel.parts[0].startswith(("_build", ".")) or path.suffix not in (
            ".rst",
            ".md",
        ):
            continue
        found[rel.as_posix()] = path.read_text(encoding="utf-8")
    return found


def token_re(token: str) -> re.Pattern[str]:
    """``token`` as a whole token: not inside a longer name or option."""
    return re.compile(rf"(?<![\w-]){re.escape(token)}(?![\w-])")


def mentions(text: str, token: str) -> bool:
    return token_re(token).search(text) is not None


def squeeze(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------- the code


def iter_commands(
    command: click.Command, path: str = "dandi compute"
) -> Iterator[tuple[str, click.Command]]:
    """Yield ``(full name, command)`` for ``command`` and all below it."""
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from iter_commands(command.commands[name], f"{path} {name}")


def option_names(option: click.Option) -> list[str]:
    """The names that must be mentioned: the long ones, else the short ones."""
    names = [*option.opts, *option.secondary_opts]
    return [n for n in names if n.startswith("--")] or names


def package_env_vars() -> set[str]:
    """Every ``DANDI_...`` string constant in the package's modules."""
    found = set()
    for module in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"DANDI_[A-Z0-9_]+", node.value)
            ):
                found.add(node.value)
    return found


def hook_names(source: str) -> list[str]:
    """The ``dandi_compute_*`` functions defined at the top of ``hookspecs.py``."""
    return [
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("dandi_compute_")
    ]


# ----------------------------------------------------------------- the checks


def missing_cli(root: click.Command, docs: dict[str, str]) -> list[str]:
    """What of the command tree ``root`` the docs do not mention."""
    text = "\n".join(docs.values())
    flat = squeeze(text)
    problems = []
    for path, command in iter_commands(root):
        if command is not root and path not in flat:
            problems.append(f"command {path!r} is not mentioned")
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            for name in option_names(param):
                if not mentions(text, name):
                    problems.append(f"option {name} of {path!r} is not mentioned")
            if isinstance(param.type, click.Choice):
                for choice in param.type.choices:
                    if f"``{choice}``" not in text:
                        problems.append(
                            f"choice ``{choice}`` of {path} "
                            f"{'/'.join(param.opts)} is not mentioned"
                        )
            envvars = param.envvar or ()
            for envvar in [envvars] if isinstance(envvars, str) else envvars:
                if not mentions(text, envvar):
                    problems.append(f"environment variable {envvar} is not mentioned")
    return problems


def missing_env_vars(names: set[str], docs: dict[str, str]) -> list[str]:
    text = "\n".join(docs.values())
    return [
        f"environment variable {name} is not mentioned"
        for name in sorted(names)
        if not mentions(text, name)
    ]


def missing_hooks(hooks: list[str], docs: dict[str, str]) -> list[str]:
    problems = []
    text = "\n".join(docs.values())
    for hook in hooks:
        directive = re.compile(
            rf"^\.\. autofunction:: +dandi_compute_plugin\.hookspecs\.{hook} *$",
            re.MULTILINE,
        )
        if directive.search(text) is None:
            problems.append(
                f"hook {hook} has no '.. autofunction:: "
                f"dandi_compute_plugin.hookspecs.{hook}'"
            )
        if not mentions(directive.sub("", text), hook):
            problems.append(f"hook {hook} is not mentioned outside its autofunction")
    return problems


def missing_api(names: list[str], docs: dict[str, str]) -> list[str]:
    page = docs.get(API_PAGE, "")
    problems = []
    for name in names:
        directive = re.compile(
            r"^\.\. (?:auto)?(?:function|class|exception|data)::"
            rf" +(?:dandi_compute_plugin\.)?{re.escape(name)} *$",
            re.MULTILINE,
        )
        if directive.search(page) is None:
            problems.append(f"public name {name} is not documented in {API_PAGE}")
    return problems


def error_names(source: str) -> list[str]:
    """The exception classes defined at the top level of ``errors.py``."""
    return [
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_")
    ]


def missing_errors(names: list[str], docs: dict[str, str]) -> list[str]:
    page = docs.get(API_PAGE, "")
    problems = []
    for name in names:
        directive = re.compile(
            rf"^\.\. autoexception:: +(?:dandi_compute_plugin\.errors\.)?"
            rf"{re.escape(name)} *$",
            re.MULTILINE,
        )
        if directive.search(page) is None:
            problems.append(f"exception {name} is not documented in {API_PAGE}")
    return problems


def stale_mentions(root: click.Command, docs: dict[str, str]) -> list[str]:
    """Commands and options the docs mention that do not exist."""
    commands = {path for path, _ in iter_commands(root)}
    options = set(FOREIGN_OPTIONS)
    for _, command in iter_commands(root):
        for param in command.params:
            if isinstance(param, click.Option):
                options.update(param.opts)
                options.update(param.secondary_opts)
    problems = []
    for name, text in docs.items():
        flat = squeeze(text)
        for match in re.finditer(r"\bdandi compute ([a-z][a-z0-9-]*)", flat):
            if f"dandi compute {match[1]}" not in commands:
                problems.append(f"{name}: no command 'dandi compute {match[1]}'")
        for match in re.finditer(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text):
            if match[1] not in options:
                problems.append(f"{name}: no option {match[1]}")
    return sorted(set(problems))


# ----------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def docs() -> dict[str, str]:
    return doc_sources()


@pytest.fixture(scope="module")
def compute() -> click.Group:
    from dandi_compute_plugin.cli import compute

    return compute


def test_every_command_option_and_choice_is_documented(compute, docs) -> None:
    assert missing_cli(compute, docs) == []


def test_every_environment_variable_is_documented(docs) -> None:
    assert missing_env_vars(package_env_vars(), docs) == []


def test_every_hook_is_documented(docs) -> None:
    if not HOOKSPECS.exists():
        pytest.skip("dandi_compute_plugin/hookspecs.py does not exist yet")
    hooks = hook_names(HOOKSPECS.read_text(encoding="utf-8"))
    assert hooks, "hookspecs.py defines no dandi_compute_* hook"
    assert missing_hooks(hooks, docs) == []


def test_every_public_name_is_in_the_api_reference(docs) -> None:
    import dandi_compute_plugin

    assert missing_api(list(dandi_compute_plugin.__all__), docs) == []


def test_every_exception_is_in_the_api_reference(docs) -> None:
    names = error_names(ERRORS.read_text(encoding="utf-8"))
    assert "DeletionIncomplete" in names and "ManifestError" in names
    assert missing_errors(names, docs) == []


def test_the_docs_mention_no_command_or_option_that_does_not_exist(
    compute, docs
) -> None:
    assert stale_mentions(compute, docs) == []


def test_the_cli_reference_is_generated_from_the_commands(docs) -> None:
    page = docs.get("cli.rst", "")
    assert ".. click:: dandi_compute_plugin.cli:compute" in page
    assert ":prog: dandi compute" in page and ":nested: full" in page


def test_the_checks_can_fail(compute, docs) -> None:
    """Each check reports what it should, on a tree with undocumented additions."""

    @click.group()
    def extended() -> None:
        pass

    for name, command in compute.commands.items():
        extended.add_command(command, name)

    @extended.command("frobnicate-versions")
    @click.option("--frobnicate-harder", is_flag=True)
    def frobnicate() -> None:
        pass

    scan = compute.commands["scan-versions"]
    patched = click.Command(
        "scan-versions",
        params=[
            *scan.params,
            click.Option(["--undocumented-dummy"], envvar="DANDI_UNDOCUMENTED_DUMMY"),
            click.Option(["--style"], type=click.Choice(["plain", "zigzag-dummy"])),
        ],
    )
    extended.add_command(patched, "scan-versions")

    problems = missing_cli(extended, docs)
    assert "command 'dandi compute frobnicate-versions' is not mentioned" in problems
    expected = [
        "option --frobnicate-harder of 'dandi compute frobnicate-versions'",
        "option --undocumented-dummy of 'dandi compute scan-versions'",
        "environment variable DANDI_UNDOCUMENTED_DUMMY",
        "choice ``zigzag-dummy`` of dandi compute scan-versions --style",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in problems), (text, problems)
    # a name that only occurs inside a longer option is not a mention
    assert not mentions("--dry-run-twice", "--dry-run")
    assert mentions("pass ``--dry-run``.", "--dry-run")

    assert missing_env_vars({"DANDI_NO_SUCH_VARIABLE"}, docs)
    assert missing_hooks(["dandi_compute_no_such_hook"], docs)
    assert missing_api(["no_such_public_name"], docs)
    assert missing_errors(["NoSuchError"], docs)
    assert error_names("class AError(Exception):\n    pass\n") == ["AError"]
    assert hook_names("def dandi_compute_x(target):\n    pass\n") == ["dandi_compute_x"]

    stale = stale_mentions(compute, {"x.rst": "dandi compute gone --no-such-flag"})
    assert stale == [
        "x.rst: no command 'dandi compute gone'",
        "x.rst: no option --no-such-flag",
    ]
