"""Check the built HTML: options print with two hyphens, the figures are there.

Usage: ``python docs/check_built.py docs/_build/html`` (after sphinx-build).
"""

from __future__ import annotations

from pathlib import Path
import re
import sys

# an en dash (or an em dash) right before an option name: smart quotes at work
DASHED_OPTION = re.compile(r"[\u2013\u2014][a-z][a-z-]+")


def main(built: Path) -> int:
    problems = []
    for page in sorted(built.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        for match in sorted(set(DASHED_OPTION.findall(text)))[:5]:
            problems.append(f"{page.relative_to(built)}: {match!r}")
    if not (built / "_images" / "deletion-flow.svg").is_file():
        problems.append("_images/deletion-flow.svg is missing")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
