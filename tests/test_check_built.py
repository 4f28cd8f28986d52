"""``docs/check_built.py`` fails on every kind of error box it promises to find
in built HTML (and on nothing else): checked on small sites written here, so the
check of the real build (``tox -e docs``) is known to be able to fail."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "check_built.py"

CLEAN_REFERENCE = (
    '<p>Examples:</p>\n<div class="highlight-shell notranslate">'
    "<pre>dandi compute versions 001697</pre></div>"
)


@pytest.fixture(scope="module")
def check_built():
    spec = importlib.util.spec_from_file_location("check_built", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def site(root: Path, page_body: str) -> Path:
    """A built site: the CLI reference, the figure, and one page."""
    (root / "_images").mkdir(parents=True)
    (root / "_images" / "deletion-flow.svg").write_text("<svg/>")
    (root / "cli.html").write_text(f"<html><body>{CLEAN_REFERENCE}</body></html>")
    (root / "page.html").write_text(f"<html><body>{page_body}</body></html>")
    return root


@pytest.mark.parametrize(
    "box",
    [
        '<div class="system-message"><p class="system-message-title">'
        "System Message: ERROR/3</p></div>",
        '<a href="#id1"><span class="problematic" id="id2">`broken`_</span></a>',
        '<div class="admonition error"><p>Error</p></div>',
        '<nav class="contents local" id="contents"><ul></ul></nav>',
        '<div class="topic contents" id="on-this-page"></div>',
    ],
)
def test_an_error_box_fails_the_check(
    check_built, tmp_path: Path, box: str, capsys: pytest.CaptureFixture
) -> None:
    assert check_built(site(tmp_path, f"<p>text</p>{box}")) == 1
    assert "page.html: an error box" in capsys.readouterr().err


@pytest.mark.parametrize(
    "body",
    [
        "<p>A page with an <code>--option</code>.</p>",
        # Furo's escape hatch for a table of contents that is wanted
        '<nav class="contents this-will-duplicate-information-and-it-is-still-'
        'useful-here"></nav>',
        "<noscript><div class='admonition error'>enable JavaScript</div></noscript>",
    ],
)
def test_a_clean_page_passes(check_built, tmp_path: Path, body: str) -> None:
    assert check_built(site(tmp_path, body)) == 0


def test_examples_run_together_and_a_missing_figure_fail(
    check_built, tmp_path: Path
) -> None:
    root = site(tmp_path, "<p>fine</p>")
    (root / "cli.html").write_text(
        "<p>Examples: dandi compute versions 001697 dandi compute versions x</p>"
    )
    assert check_built(root) == 1
    (root / "cli.html").write_text(CLEAN_REFERENCE)
    (root / "_images" / "deletion-flow.svg").unlink()
    assert check_built(root) == 1
