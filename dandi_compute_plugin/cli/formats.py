"""Output formats of the ``dandi compute`` commands.

The choices are those of ``dandi ls``: ``auto``, ``pyout``, ``json``, ``json_pp``,
``json_lines`` and ``yaml``.  ``auto`` means a table on a terminal and one plain
line per record (its ``path``) in a pipe, so that ``dandi compute ... | xargs``
works.  JSON and YAML go through dandi's own formatters; the table (``pyout`` and
``auto`` on a terminal) is :mod:`.table`'s, one line a record, since pyout redraws
the whole table as rows arrive.  Only click is imported at module level; the
formatters are imported when output is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
import itertools
import os
import sys
from typing import Any

import click

from .._text import escape_control

FORMATS = ("auto", "pyout", "json", "json_pp", "json_lines", "yaml")
#: how many records the table's columns are sized by
TABLE_SAMPLE = 500


def format_option(help_text: str | None = None) -> Callable:
    """Return the ``-f/--format`` option, as in ``dandi ls``."""
    return click.option(
        "-f",
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default="auto",
        show_default=True,
        help=help_text
        or "Output format: 'auto' is a table on a terminal and one path per line "
        "in a pipe; the others are those of 'dandi ls'.",
    )


def resolve_format(output_format: str, stream: Any = None) -> str:
    """Turn ``auto`` into ``pyout`` on a terminal and ``lines`` otherwise."""
    if output_format != "auto":
        return output_format
    stream = stream or sys.stdout
    isatty = getattr(stream, "isatty", None)
    return "pyout" if isatty is not None and isatty() else "lines"


def write_records(
    records: Iterable[dict[str, Any]],
    output_format: str,
    fields: Sequence[str],
    line: Callable[[dict[str, Any]], str] | None = None,
) -> int:
    """Write ``records`` in ``output_format`` to standard output.

    Parameters
    ----------
    records
        Plain dictionaries (JSON-serialisable values).
    output_format
        One of :data:`FORMATS`.
    fields
        The columns of the ``pyout`` table, in order.
    line
        For ``auto`` in a pipe: the text of one record's line (default: its
        ``path``).

    Returns
    -------
    int
        The number of records written.

    Notes
    -----
    In a pipe the records go out a buffer at a time, as from ``ls`` or ``find``
    (a write per record would be a system call per record, a cost that ``index``
    pays over every record of a large manifest).  When the reader of
    standard output goes away (``... | head``), the process stops quietly with
    exit status 141 (128 + SIGPIPE), as the shell tools do.
    """
    try:
        return _write_records(records, output_format, fields, line)
    except BrokenPipeError:
        # no traceback and no "Broken pipe" error: point stdout at /dev/null so
        # that the interpreter's final flush cannot fail again, then stop
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(141)


class RecordWriter:
    """Writes records one by one in an output format, as they become known.

    ``auto`` in a pipe and ``json_lines`` print each record as it comes; a JSON
    or YAML document is closed only by :meth:`close` with ``complete`` (records
    that fail to arrive must not leave a valid, shorter document); a ``pyout``
    table is closed whatever happens.

    Parameters
    ----------
    output_format, fields, line
        As for :func:`write_records`.
    echo
        Prints a line of ``auto`` in a pipe (e.g. without breaking a progress
        bar on the same terminal); ``click.echo``, the default, flushes it.
    flush_each
        Flush standard output after each ``json_lines`` record, for records that
        come one by one over time; else a pipe gets them a buffer at a time (a
        write per record would cost more than making it).
    sample
        For the table (``pyout``, ``auto`` on a terminal): records known before
        the first one is written, to size the columns by.
    """

    def __init__(
        self,
        output_format: str,
        fields: Sequence[str],
        line: Callable[[dict[str, Any]], str] | None = None,
        echo: Callable[[str], Any] = click.echo,
        flush_each: bool = True,
        sample: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.format = resolve_format(output_format)
        self.line = line or (lambda rec: str(rec["path"]))
        self.echo = echo
        self.flush_each = flush_each
        self.count = 0
        self._out = None
        self._table = None
        if self.format == "pyout":
            from .table import TerminalTable

            self._table = TerminalTable(fields, echo, sample)
        elif self.format != "lines":
            self._out = _formatter(self.format)
            self._out.__enter__()

    def write(self, record: dict[str, Any]) -> None:
        """Write one record; a line of ``auto`` or ``json_lines`` reaches a pipe
        at once (standard output is otherwise buffered there)."""
        if self._table is not None:
            self._table.write(record)
        elif self._out is None:
            self.echo(escape_control(self.line(record)))
        else:
            self._out(record)
            if self.format == "json_lines" and self.flush_each:
                sys.stdout.flush()
        self.count += 1

    def close(self, complete: bool = True) -> None:
        """End the output; an unfinished JSON or YAML document stays unfinished."""
        out, self._out = self._out, None
        if out is not None and complete:
            out.__exit__(None, None, None)


def _formatter(fmt: str) -> Any:
    from dandi.cli.formatter import (
        JSONFormatter,
        JSONLinesFormatter,
        YAMLFormatter,
    )

    if fmt in ("json", "json_pp"):
        return JSONFormatter(indent=2 if fmt == "json_pp" else None)
    if fmt == "json_lines":
        return JSONLinesFormatter()
    if fmt == "yaml":
        return YAMLFormatter()
    raise ValueError(f"Unknown output format {fmt!r}")  # click.Choice guards this


def _write_records(
    records: Iterable[dict[str, Any]],
    output_format: str,
    fields: Sequence[str],
    line: Callable[[dict[str, Any]], str] | None,
) -> int:
    records = iter(records)
    sample: list[dict[str, Any]] = []
    if resolve_format(output_format) == "pyout":  # the table's columns fit these
        sample = list(itertools.islice(records, TABLE_SAMPLE))
    writer = RecordWriter(
        output_format, fields, line, _print, flush_each=False, sample=sample
    )
    complete = False
    try:
        for rec in itertools.chain(sample, records):
            writer.write(rec)
        complete = True
    finally:
        writer.close(complete)
    sys.stdout.flush()  # here, where a reader gone away is handled
    return writer.count


def _print(text: str) -> None:
    """A line on standard output, buffered in a pipe (``click.echo`` flushes)."""
    print(text)
