"""Check the built HTML: options print with two hyphens, the figures are there,
and no page shows an error box (a Sphinx system message, a theme's error).

Usage: ``python docs/check_built.py docs/_build/html`` (after sphinx-build).
"""

from __future__ import annotations

from pathlib import Path
import re
import sys

# an en dash (or an em dash) right before an option name: smart quotes at work
DASHED_OPTION = re.compile(r"[\u2013\u2014][a-z][a-z-]+")
# what a reader sees as an error box: docutils' system messages (which -W lets
# through when the theme renders them) and the red markers they leave in the text
# (``problematic``, also when the message itself is not shown), error admonitions,
# and a local table of contents, which Furo's style sheet covers with a red
# "ERROR: Adding a table of contents ... is unnecessary" box
ERROR_BOX = re.compile(
    r'class="[^"]*\b(system-message|problematic|admonition error|error admonition)\b'
    r'|class="(?![^"]*this-will-duplicate-information)[^"]*\bcontents\b'
)
# the search page's box for browsers without JavaScript is no error of ours
NOSCRIPT = re.compile(r"<noscript>.*?</noscript>", re.S)


def main(built: Path) -> int:
    problems = []
    for page in sorted(built.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        for match in sorted(set(DASHED_OPTION.findall(text)))[:5]:
            problems.append(f"{page.relative_to(built)}: {match!r}")
        box = ERROR_BOX.search(NOSCRIPT.sub("", text))
        if box is not None:
            problems.append(f"{page.relative_to(built)}: an error box ({box[0]!r})")
    reference = (built / "cli.html").read_text(encoding="utf-8")
    shown = len(re.findall(r'Examples:</p>\s*<div class="highlight-shell', reference))
    if shown != reference.count("Examples:"):
        problems.append("cli.html: an Examples: epilog not shown as a code block")
    if not (built / "_images" / "deletion-flow.svg").is_file():
        problems.append("_images/deletion-flow.svg is missing")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
