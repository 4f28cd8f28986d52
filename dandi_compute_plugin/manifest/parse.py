"""Parsing ``assets.jsonld`` as it is read, from a file, standard input or a stream.

The manifest is one compact JSON array of asset records (``[{...},{...}]``).  It is
parsed *while it arrives*: :mod:`.split` cuts it into records, each is checked
(:func:`~.checks.check_record`), reduced to its :data:`~.records.Fields` and
dropped, so memory does not grow with the manifest (:func:`parse_fields`), or
handed out whole (:func:`parse_records`).  Bad input raises
:class:`~dandi_compute_plugin.errors.ManifestFormatError` naming the record
(numbered from 1) and its path.

:class:`ManifestBytes` is a manifest's bytes to be parsed once, either way: a
file's, standard input's or a stream's (:func:`source_bytes`), or a download's
(:class:`~.fetch.Download`, which caches them on the way).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import logging
import os
from pathlib import Path
import re
import stat
import sys
from typing import IO, TYPE_CHECKING, Any

from ..errors import (
    ManifestLocationError,
    ManifestUnavailableError,
)
from .checks import check_record
from .index import ROWS_PER_FLUSH
from .records import Fields
from .split import RecordSplitter

if TYPE_CHECKING:  # pragma: no cover
    from .index import IndexBuilder, TotalingIndexBuilder
    from .location import Source
    from .stored import ManifestCopy

lgr = logging.getLogger("dandi.compute")

#: bytes read at a time from a file
CHUNK_SIZE = 1 << 18


_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def iter_file_chunks(stream: IO[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the bytes of a binary stream in chunks of ``size``."""
    while chunk := stream.read(size):
        yield chunk


def parse_fields(
    chunks: Iterable[bytes],
    source: str,
    builder: IndexBuilder | None = None,
) -> Iterator[Fields]:
    """Parse a manifest as it is read; yield each record's checked fields.

    Each record is dropped once checked: memory does not grow with the manifest.

    Parameters
    ----------
    chunks
        The manifest's bytes, in pieces of any size.
    source
        Where the manifest comes from, for error messages.
    builder
        Each record's fields and byte offset are added to it, if given.

    Yields
    ------
    Fields

    Raises
    ------
    ManifestFormatError
        On the first invalid record or invalid JSON, naming the record.
    """
    records = RecordSplitter(chunks, source)
    rows = builder.rows if builder is not None else None
    offsets = builder.offsets if builder is not None else None
    for record, offset in records:
        fields = check_record(record, records.count, source)
        records.last_path = fields[0]
        if rows is not None:
            rows.append(fields)
            offsets.append(offset)  # type: ignore[union-attr]
            if len(rows) >= ROWS_PER_FLUSH:
                builder.flush()  # type: ignore[union-attr]
        yield fields


def parse_records(
    chunks: Iterable[bytes],
    source: str,
    builder: IndexBuilder | None = None,
) -> Iterator[tuple[Fields, dict[str, Any]]]:
    """Parse a manifest as it is read; yield each record's checked fields and
    the full record, exactly as ``json.load`` gives it.

    Parameters and errors as for :func:`parse_fields`.

    Yields
    ------
    tuple of (Fields, dict)
    """
    records = RecordSplitter(chunks, source)
    for record, offset in records:
        fields = check_record(record, records.count, source)
        records.last_path = fields[0]
        if builder is not None:
            builder.rows.append(fields)
            builder.offsets.append(offset)
            if len(builder.rows) >= ROWS_PER_FLUSH:
                builder.flush()
        yield fields, record


class ManifestBytes:
    """A manifest's bytes, in chunks, and where they come from, to be parsed
    once: for each record's fields (:meth:`fields`), or with the full records
    too (:meth:`records`).

    Parameters
    ----------
    chunks
        The bytes, read as the parse asks for them.
    source
        Where they come from, for error messages.
    """

    def __init__(self, chunks: Iterable[bytes], source: str) -> None:
        self.chunks, self.source = chunks, source

    def fields(self, builder: TotalingIndexBuilder | None = None) -> Iterator[Fields]:
        """:func:`parse_fields` of the bytes."""
        return parse_fields(self.chunks, self.source, builder)

    def records(
        self, builder: TotalingIndexBuilder | None = None
    ) -> Iterator[tuple[Fields, dict[str, Any]]]:
        """:func:`parse_records` of the bytes."""
        return parse_records(self.chunks, self.source, builder)


def source_bytes(source: Source, copy: ManifestCopy | None = None) -> ManifestBytes:
    """The bytes of a manifest file, ``"-"`` (standard input) or a binary stream.

    Parameters
    ----------
    source
        A file path, ``"-"`` or a binary stream (not a URL).
    copy
        Where the bytes are kept to read the records again: a file is adopted
        (kept open), standard input and streams are spooled.

    Returns
    -------
    ManifestBytes

    Raises
    ------
    ManifestUnavailableError
        For a missing file, at once, not when the parse starts.
    """
    if isinstance(source, str | os.PathLike):
        if str(source) == "-":
            return _stream_bytes(sys.stdin.buffer, "<stdin>", copy)
        scheme = _SCHEME.match(str(source))
        if scheme:
            raise ManifestLocationError(
                f"Cannot read {str(source)!r}: {scheme.group(1)}:// is not supported "
                "(an http:// or https:// URL, a file or - for standard input)"
            )
        path = Path(source)
        if _is_regular(path):
            return ManifestBytes(_file_chunks(path, copy), str(path))
        # a FIFO, /dev/stdin, a process substitution: read once, as a stream
        return ManifestBytes(_pipe_chunks(path, copy), str(path))
    label = str(getattr(source, "name", None) or "<stream>")
    return _stream_bytes(source, label, copy)


def _is_regular(path: Path) -> bool:
    """True for a regular file, False for another readable non-directory.

    Raises
    ------
    ManifestUnavailableError
        When it is missing, a directory, or cannot be looked at.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ManifestUnavailableError(
            f"No manifest file {str(path)!r}", str(path)
        ) from None
    except OSError as exc:
        raise ManifestUnavailableError(
            f"Cannot read {str(path)!r}: {exc.strerror or exc}", str(path)
        ) from None
    if stat.S_ISDIR(mode):
        raise ManifestUnavailableError(
            f"{str(path)!r} is a directory, not a manifest file", str(path)
        )
    return stat.S_ISREG(mode)


def _pipe_chunks(path: Path, copy: ManifestCopy | None) -> Iterator[bytes]:
    """The chunks of a pipe or device, opened when the first is asked for
    (opening a FIFO waits for its writer); spooled to ``copy``."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ManifestUnavailableError(
            f"Cannot read {str(path)!r}: {exc.strerror or exc}", str(path)
        ) from None
    with f:
        for chunk in iter_file_chunks(f):
            if copy is not None:
                copy.write(chunk)
            yield chunk


def _stream_bytes(
    stream: IO[bytes], label: str, copy: ManifestCopy | None
) -> ManifestBytes:
    chunks = iter_file_chunks(stream)
    if copy is not None:
        chunks = _copied(chunks, copy)
    return ManifestBytes(chunks, label)


def _copied(chunks: Iterator[bytes], copy: ManifestCopy) -> Iterator[bytes]:
    for chunk in chunks:
        copy.write(chunk)
        yield chunk


def _file_chunks(path: Path, copy: ManifestCopy | None) -> Iterator[bytes]:
    """The chunks of a file, opened when the first is asked for; ``copy`` adopts
    it (and closes it), else it is closed at the end."""
    f = open(path, "rb")  # noqa: SIM115 - closed below, or by the copy
    if copy is not None:
        copy.adopt(f)
        yield from iter_file_chunks(f)
        return
    with f:
        yield from iter_file_chunks(f)
