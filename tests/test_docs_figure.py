"""The deletion-flow figure of the user guide: every way a target leaves the
flow is drawn (refused for un-uploaded data or its place, vetoed, remote-only,
not confirmed, failed), and its texts are sized for the content column.

The browser test (``test_docs_rendered.py``) measures the texts as drawn; this one
reads the SVG and needs no browser."""

from __future__ import annotations

from pathlib import Path
import re
import xml.etree.ElementTree as ET

FIGURE = Path(__file__).resolve().parents[1] / "docs/user-guide/deletion-flow.svg"
SVG = "{http://www.w3.org/2000/svg}"
#: Furo's content column, in CSS pixels: a wider figure is scaled down to it
CONTENT_WIDTH = 720
#: the smallest font size the figure may declare, drawn at its own size
MIN_FONT = 11


def texts_and_sizes() -> tuple[list[str], list[float], float]:
    root = ET.parse(FIGURE).getroot()
    default = float(root.get("font-size", "16"))
    texts, sizes = [], []
    for el in root.iter(f"{SVG}text"):
        texts.append("".join(el.itertext()).strip())
        sizes.append(float(el.get("font-size", default)))
    classes = re.findall(r"font-size:\s*([\d.]+)", FIGURE.read_text())
    sizes += [float(s) for s in classes]
    return texts, sizes, float(root.get("width", "0"))


def test_every_way_out_of_the_flow_is_drawn() -> None:
    texts, _, _ = texts_and_sizes()
    for label in (
        "refused: nothing of it is touched",  # un-uploaded data, its place, nesting
        "refused: vetoed",
        "remote-only: kept",
        "refused: not confirmed",
        "planned: --dry-run stops here",
        "deleted",
    ):
        assert label in texts, (label, texts)
    assert sum(t.startswith("failed") for t in texts) >= 3


def test_the_figure_fits_the_column_with_readable_text() -> None:
    _, sizes, width = texts_and_sizes()
    assert 0 < width <= CONTENT_WIDTH
    assert sizes and min(sizes) >= MIN_FONT
