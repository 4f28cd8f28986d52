"""The table that records make on a terminal: fixed columns, one line a record.

pyout (dandi's table) redraws the whole table as rows arrive and as columns
widen, which costs seconds for thousands of rows, and cuts every path to the same
tail.  This table sizes its columns once (from the rows it is shown first, or the
headers), then prints each record as one line through the given ``echo`` -- above
progress bars, never over them.  Paths keep the parts that tell rows apart
(dandiset, subject, session, version) and drop the others first; sizes are
humanized; every cell is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
import shutil
import sys
from typing import Any

from .._text import escape_control

#: headers shorter than the field names, where columns are many
HEADERS = {
    "remote_directories": "REMOTE DIRS",
    "remote_assets": "REMOTE ASSETS",
    "remote_bytes": "REMOTE SIZE",
    "local_files": "LOCAL FILES",
    "local_bytes": "LOCAL SIZE",
    "deleted_assets": "DELETED",
    "total_bytes": "SIZE",
    "content_size": "SIZE",
    "asset_count": "ASSETS",
    "date_modified": "MODIFIED",
    "unuploaded_count": "UNUPLOADED",
}
#: the headers of a narrow terminal, where a header longer than its values
#: would take the path's room (the remote side is the assets', the local the files')
NARROW_HEADERS = {
    "remote_assets": "ASSETS",
    "remote_bytes": "SIZE",
    "local_files": "FILES",
    "created_assets": "CREATED",
    "directories": "DIRS",
    "remote_directories": "R.DIRS",
}
#: where both sides' bytes are columns, the remote one's narrow header says so
NARROW_REMOTE_SIZE = "R.SIZE"
#: free text, printed under its row when its column would be cut
UNDER_THE_ROW = ("reason",)
#: the least room a free-text column gets beside the others
MIN_TEXT_WIDTH = 30
#: columns whose text the path repeats: left out first when the terminal is narrow
IN_THE_PATH = ("pipeline", "session", "subject", "dandiset")
#: level prefixes that the levels' places tell: dropped from a path too long
PLACE_PREFIXES = (("dandiset-", "version-"), ("sub-", "ses-"))
GAP = "  "
ELLIPSIS = "…"
#: the width of values known before any row (the longest status, nothing-to-do),
#: for a table that is not shown its rows first
KNOWN_WIDTHS = {"status": len("nothing-to-do")}
#: the narrowest a shrunk column gets
MIN_WIDTH = 6
#: a value this long or shorter (a status, a count, a size) is not cut to make
#: room for the path
SHORT_VALUE = 13
#: the width of a table that is not on a terminal: nothing is cut
UNBOUNDED = 10**6


def header(field: str) -> str:
    return HEADERS.get(field, field.replace("_", " ").upper())


def is_size(field: str) -> bool:
    return field.endswith("bytes") or field in ("content_size", "size")


def cell(field: str, value: Any) -> str:
    """The text of one cell: sizes humanized, None empty, text escaped."""
    if value is None:
        return ""
    if is_size(field) and isinstance(value, int):
        import humanize

        return humanize.naturalsize(value)
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    return escape_control(str(value))


def shorten_path(path: str, width: int) -> str:
    """``path`` in at most ``width`` characters, keeping what tells rows apart.

    Until it fits: ``derivatives/`` goes, the ``pipeline-`` level becomes
    ``…``, the prefixes that a level's place tells go (``dandiset-`` and
    ``version-``, then ``sub-`` and ``ses-``), the ``…`` goes; then the levels
    are cut in their middle, the longest first (each keeps its start and end),
    the version directory keeping up to half of the width.
    """
    if len(path) <= width:
        return path
    parts = path.split("/")
    if parts[0] == "derivatives" and len(parts) > 1:
        parts = parts[1:]
    if len("/".join(parts)) <= width:
        return "/".join(parts)
    parts = [ELLIPSIS if p.startswith("pipeline-") else p for p in parts]
    for prefixes in ((), *PLACE_PREFIXES):
        # a file's name (an asset's path) keeps its prefixes
        last = _drop_prefix(parts[-1], tuple(x for x in prefixes if x == "version-"))
        parts = [_drop_prefix(p, prefixes) for p in parts[:-1]] + [last]
        if len("/".join(parts)) <= width:
            return "/".join(parts)
    parts = [p for p in parts if p != ELLIPSIS] or parts  # the version stays last
    room = width - (len(parts) - 1)  # the slashes
    last = min(len(parts[-1]), max(room // 2, room - sum(map(len, parts[:-1]))))
    limit = _water_level([len(p) for p in parts[:-1]], room - last)
    parts = [_cut_middle(p, max(limit, 3)) for p in parts[:-1]] + [
        _cut_middle(parts[-1], max(last, 3))
    ]
    text = "/".join(parts)
    return text if len(text) <= width else ELLIPSIS + text[-(width - 1) :]


def _drop_prefix(part: str, prefixes: tuple[str, ...]) -> str:
    for prefix in prefixes:
        if part.startswith(prefix) and len(part) > len(prefix):
            return part[len(prefix) :]
    return part


def _water_level(lengths: list[int], room: int) -> int:
    """The largest L with sum(min(n, L)) <= room (each part cut to at most L)."""
    level = 0
    for i, n in enumerate(sorted(lengths)):
        rest = len(lengths) - i
        if n * rest + sum(sorted(lengths)[:i]) > room:
            return max(level, (room - sum(sorted(lengths)[:i])) // rest)
        level = n
    return level


def _on_a_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def _cut_middle(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    keep = width - 1
    head = (keep + 1) // 2
    return text[:head] + ELLIPSIS + text[len(text) - (keep - head) :]


class TerminalTable:
    """Print records as the rows of a table.

    On a narrow terminal, the columns the path repeats go first, then the long
    headers of short values give way to shorter ones (:data:`NARROW_HEADERS`),
    and a free-text column (:data:`UNDER_THE_ROW`) that would get less than
    :data:`MIN_TEXT_WIDTH` is printed under its row instead, indented.  A table
    without a path narrows its headers, leaves out the columns empty in every
    row and closes its gaps to one space.  Whatever still does not fit is cut:
    headers before values, the values that say what a row is last.

    Parameters
    ----------
    fields
        The columns, in order.
    echo
        Prints one line.
    sample
        Records the columns are sized for (those known before the first
        line); without them the headers size the columns and the path column
        takes the rest of the terminal.
    width
        The terminal's width (default: asked).
    """

    def __init__(
        self,
        fields: Sequence[str],
        echo: Callable[[str], Any],
        sample: Iterable[dict[str, Any]] = (),
        width: int | None = None,
    ) -> None:
        self.fields = list(fields)
        self.echo = echo
        self.headers = {f: header(f) for f in self.fields}
        self.under: list[str] = []
        self.gap = GAP
        # off a terminal (-f pyout into a file) nothing is cut
        self.width = width or (
            shutil.get_terminal_size().columns if _on_a_terminal() else UNBOUNDED
        )
        sample = list(sample)
        self.widths = self._plan(sample)
        for narrower in self._narrowing():
            if not self._cramped():
                break
            narrower()
            self.widths = self._plan(sample)
        self.echo(self._line(self.headers, header_line=True))

    def write(self, record: dict[str, Any]) -> None:
        """Print one record as one line, and its free text under it if it has
        to go there."""
        numeric = {f for f in self.fields if isinstance(record.get(f), (int, float))}
        cells = {f: cell(f, record.get(f)) for f in self.fields}
        self.echo(self._line(cells, numeric))
        for f in self.under:
            text = cell(f, record.get(f))
            if text:
                room = self.width - 4
                self.echo(
                    "    "
                    + (text if len(text) <= room else text[: room - 1] + ELLIPSIS)
                )

    def _narrowing(self) -> list[Callable[[], None]]:
        """The ways to give the path more room, in the order they are taken."""

        def leave_out(label: str) -> Callable[[], None]:
            return lambda: self.fields.remove(label)

        def narrow_headers() -> None:
            self.headers.update(
                (f, NARROW_HEADERS[f]) for f in self.fields if f in NARROW_HEADERS
            )
            if "remote_bytes" in self.fields and "bytes" in self.fields:
                self.headers["remote_bytes"] = NARROW_REMOTE_SIZE

        def leave_out_empty() -> None:
            # a column with nothing in any row tells nothing (a pending 0)
            self.fields = [f for f in self.fields if f in keys or self._values[f]]

        def single_gap() -> None:
            self.gap = " "

        def text_under_the_row() -> None:
            self.under = [f for f in self.fields if f in UNDER_THE_ROW]
            self.fields = [f for f in self.fields if f not in UNDER_THE_ROW]

        keys = self.fields[:2]  # what a row is: its path and status, or its name
        if "path" not in self.fields:
            return [narrow_headers, leave_out_empty, single_gap]
        steps = [leave_out(label) for label in IN_THE_PATH if label in self.fields]
        return [*steps, narrow_headers, text_under_the_row]

    def _cramped(self) -> bool:
        """Whether the path column lost more than a quarter of its text, or a
        free-text column has too little room; without a path, whether a column
        lost anything."""
        if "path" not in self.fields:
            return any(self.widths[f] < self._natural[f] for f in self.fields)
        text_cut = any(
            self.widths[f] < min(MIN_TEXT_WIDTH, self._natural[f])
            for f in self.fields
            if f in UNDER_THE_ROW
        )
        return text_cut or self.widths.get("path", 0) < 0.75 * self._natural_path

    def _plan(self, sample: list[dict[str, Any]]) -> dict[str, int]:
        widths = {}
        self._values = {}
        for f in self.fields:
            cells = [len(cell(f, r.get(f))) for r in sample if r.get(f) not in (0, "")]
            self._values[f] = max(cells, default=KNOWN_WIDTHS.get(f, 0))
            natural = max(len(self.headers[f]), self._values[f])
            widths[f] = natural if sample or f != "path" else self.width
        if self.width == UNBOUNDED and "path" in widths:
            widths["path"] = max(len(header("path")), min(widths["path"], 80))
        self._natural = dict(widths)
        self._natural_path = min(widths.get("path", 0), self.width)
        room = self.width - len(self.gap) * (len(self.fields) - 1)
        if "path" in widths:
            # the path first: the other columns give way down to their headers
            path_share = min(widths["path"], max(room // 2, 20))
            others = {f: w for f, w in widths.items() if f != "path"}
            for f in sorted(others, key=others.__getitem__, reverse=True):
                excess = sum(others.values()) + path_share - room
                if excess <= 0:
                    break
                # short values (statuses, counts, sizes) stay whole
                short = min(self._values[f], SHORT_VALUE)
                floor = max(short, min(len(self.headers[f]), 12), MIN_WIDTH)
                others[f] = max(floor, others[f] - excess)
            widths.update(others)
            widths["path"] = max(20, min(widths["path"], room - sum(others.values())))
        # headers longer than their values give way first, then the values,
        # what a row is (its status or its name) last
        keys = self.fields[:2]
        for floor, spared in (
            (lambda f: max(self._values[f], MIN_WIDTH), ()),
            (lambda f: MIN_WIDTH, keys),
            (lambda f: MIN_WIDTH, ()),
        ):
            while sum(widths.values()) > room:
                shrinkable = [
                    f
                    for f in widths
                    if f != "path" and f not in spared and widths[f] > floor(f)
                ]
                if not shrinkable:
                    break
                widths[max(shrinkable, key=widths.__getitem__)] -= 1
        return widths

    def _line(
        self,
        cells: dict[str, str],
        numeric: set[str] = frozenset(),
        header_line: bool = False,
    ) -> str:
        out = []
        for f in self.fields:
            text, width = cells[f], self.widths[f]
            if len(text) > width and self.width != UNBOUNDED:
                if header_line:
                    text = text[: width - 1] + ELLIPSIS
                elif f == "path":
                    text = shorten_path(text, width)
                elif f in self.fields[:2]:  # a name or version: both ends tell
                    text = _cut_middle(text, width)
                else:
                    text = text[: width - 1] + ELLIPSIS
            right = f in numeric or (header_line and is_size(f))
            out.append(text.rjust(width) if right else text.ljust(width))
        return self.gap.join(out).rstrip()
