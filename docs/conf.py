"""Sphinx configuration of the dandi-compute-plugin documentation.

Build with ``tox -e docs`` (warnings are errors).  The package must be importable:
the CLI reference (sphinx-click) and the API reference (autodoc) are generated
from it.  Nothing here reaches the network.
"""

from __future__ import annotations

import os
import re

# importing dandi must not ask PyPI for a newer dandi
os.environ.setdefault("DANDI_NO_ET", "1")

import dandi_compute_plugin  # noqa: E402

project = "dandi-compute-plugin"
author = "dandi-compute-plugin developers"
copyright = "dandi-compute-plugin developers"
release = dandi_compute_plugin.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_click",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# "--dry-run" must stay two hyphens, to be copied into a shell (smart quotes
# would print an en dash)
smartquotes = False
root_doc = "index"

# -- autodoc and napoleon (the code's docstrings are numpydoc style) -----------
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"

# No intersphinx: its inventories would be fetched from the network at every build.

# -- HTML ----------------------------------------------------------------------
html_theme = "furo"
html_title = f"dandi-compute-plugin {release}"
html_static_path: list[str] = []


# -- sphinx-click ----------------------------------------------------------------
# sphinx-click reads the commands' help as reStructuredText, but click help is plain
# text ("derivatives/dandiset-*/" would open an emphasis): escape inline markup.
_INLINE_MARKUP = re.compile(r"([\\*`|])")
_GENERATED = (".. option::", ":default:", ":options:")


def _plain(line: str) -> str:
    if line.lstrip().startswith("**Required**"):
        head, _, rest = line.partition("**Required**")
        return head + "**Required**" + _INLINE_MARKUP.sub(r"\\\1", rest)
    return _INLINE_MARKUP.sub(r"\\\1", line)


def _escape_help(app, ctx, lines: list[str]) -> None:
    lines[:] = [_plain(line) for line in lines]


def _examples_epilog(app, ctx, lines: list[str]) -> None:
    """The ``Examples:`` epilog (a click ``\\b`` block, which sphinx-click turns
    into line-block bars) as a shell code block, one command a line."""
    out: list[str] = []
    for line in lines:
        if line.strip() == "| Examples:":
            out += ["Examples:", "", ".. code-block:: shell", ""]
        elif line.startswith("|   "):
            out.append("   " + line[4:])
        else:
            out.append(_plain(line))
    lines[:] = out


def _escape_option_help(app, ctx, lines: list[str]) -> None:
    lines[:] = [
        line if line.lstrip().startswith(_GENERATED) else _plain(line) for line in lines
    ]


def setup(app) -> None:
    app.connect("sphinx-click-process-description", _escape_help)
    app.connect("sphinx-click-process-epilog", _examples_epilog)
    app.connect("sphinx-click-process-options", _escape_option_help)
