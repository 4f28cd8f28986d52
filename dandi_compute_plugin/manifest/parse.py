"""Parsing ``assets.jsonld`` as it is read: the record checks and the ijson reader.

The manifest is one compact JSON array of asset records (``[{...},{...}]``).  It is
parsed *while it arrives* with ijson's C backend: a record is checked
(:func:`check_record`), reduced to its :data:`~.records.Fields` and dropped, so
memory does not grow with the manifest.  Bad input raises
:class:`~dandi_compute_plugin.errors.ManifestFormatError` naming the record
(numbered from 1) and its path.  ``ijson`` is imported only when a manifest is
parsed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import logging
import os
from pathlib import Path
import re
import sys
from typing import IO, TYPE_CHECKING, Any

from ..errors import (
    ManifestFormatError,
    ManifestLocationError,
    ManifestUnavailableError,
)
from .checks import check_record
from .index import ROWS_PER_FLUSH
from .records import Fields

if TYPE_CHECKING:  # pragma: no cover
    from .index import IndexBuilder
    from .location import Source

lgr = logging.getLogger("dandi.compute")

#: bytes read at a time from a file, and ijson's buffer size
CHUNK_SIZE = 1 << 16


# ----------------------------------------------------------------- reading

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_WHAT_STARTS = {ord("{"): "a JSON object", ord('"'): "a JSON string"}


class ChunkReader:
    """A binary ``read(n)`` over byte chunks, checking that they start a JSON array.

    The first bytes are checked before ijson sees them, so that a manifest that is
    a JSON object, a string or nothing at all is named as such.

    Parameters
    ----------
    chunks
        The bytes, in pieces of any size.
    source
        Where they come from, for error messages.
    """

    def __init__(self, chunks: Iterable[bytes], source: str) -> None:
        self._chunks = iter(chunks)
        self._source = source
        self._buf = memoryview(b"")
        self._started = False

    def _next_chunk(self) -> bytes:
        for chunk in self._chunks:
            if chunk:
                return chunk
        return b""

    def _start(self) -> bytes:
        first = True
        while chunk := self._next_chunk():
            if first and chunk.startswith(b"\x1f\x8b"):
                raise ManifestFormatError(
                    self._source,
                    "gzip-compressed data, not a JSON array of asset records "
                    "(decompress it first, e.g. with gunzip)",
                )
            if first and chunk.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM
                chunk = chunk[3:]
            first = False
            stripped = chunk.lstrip(b" \t\r\n")
            if not stripped:
                continue
            if stripped[0] != ord("["):
                what = _WHAT_STARTS.get(stripped[0], "not a JSON array")
                raise ManifestFormatError(
                    self._source,
                    f"{what}, not a JSON array of asset records "
                    f"(starts with {stripped[:20]!r})",
                )
            self._started = True
            return stripped
        raise ManifestFormatError(
            self._source,
            "no JSON array: " + ("only white space" if not first else "empty"),
        )

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes (never more: ijson's C backend needs that)."""
        if not self._buf:
            chunk = self._next_chunk() if self._started else self._start()
            if not chunk:
                return b""
            if size < 0 or len(chunk) <= size:
                return chunk
            self._buf = memoryview(chunk)
        if size < 0:
            size = len(self._buf)
        out = bytes(self._buf[:size])
        self._buf = self._buf[size:]
        return out


def iter_file_chunks(stream: IO[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the bytes of a binary stream in chunks of ``size``."""
    while chunk := stream.read(size):
        yield chunk


# ----------------------------------------------------------------- parsing

_ijson_backend: Any = None


def ijson_backend() -> Any:
    """Return ijson's C backend ``yajl2_c``, or warn and return the best other one."""
    global _ijson_backend
    if _ijson_backend is None:
        import ijson

        try:
            _ijson_backend = ijson.get_backend("yajl2_c")
        except ImportError as exc:
            _ijson_backend = ijson  # the best backend that imports
            lgr.warning(
                "ijson's C backend yajl2_c is not available (%s): parsing manifests "
                "with the much slower %r backend",
                exc,
                ijson.backend_name,
            )
    return _ijson_backend


def _json_error(exc: Exception, source: str, done: int, last: str | None) -> Exception:
    text = exc.args[0] if exc.args else str(exc)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text).strip().splitlines()[0] if str(text).strip() else repr(exc)
    after = f" (after record {done}, path {last!r})" if done else ""
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in text or "UTF-8" in text:
        problem = f"invalid UTF-8{after}"
    elif "premature EOF" in text or "Incomplete" in text:
        problem = f"truncated JSON: the data ends before the closing ']'{after}"
    elif "trailing garbage" in text or "Additional data" in text:
        return ManifestFormatError(
            source, f"data after the closing ']' of the array{after}"
        )
    else:
        problem = f"invalid JSON{after}: {text}"
    return ManifestFormatError(source, problem, done + 1)


def parse_manifest(
    reader: Any,
    source: str,
    keep_records: bool = False,
    builder: IndexBuilder | None = None,
) -> Iterator[tuple[Fields, dict[str, Any] | None]]:
    """Parse a manifest as it is read; yield each record's checked fields.

    Parameters
    ----------
    reader
        A binary file-like object (``read(n)``) such as :class:`ChunkReader`.
    source
        Where the manifest comes from, for error messages.
    keep_records
        Yield the full record (with ``contentSize`` as an int) next to its
        fields; otherwise None, and the record is dropped at once.
    builder
        Each record's fields are added to it, if given.

    Yields
    ------
    tuple of (Fields, dict or None)

    Raises
    ------
    ManifestFormatError
        On the first invalid record or invalid JSON, naming the record.
    """
    import ijson

    done, last = 0, None
    # floats as float, as json.load gives them (ijson's default is Decimal)
    items = ijson_backend().items(reader, "item", buf_size=CHUNK_SIZE, use_float=True)
    rows = builder.rows if builder is not None else None
    try:
        for record in items:
            done += 1
            fields = check_record(record, done, source)
            last = fields[0]
            if rows is not None:
                rows.append(fields)
                if len(rows) >= ROWS_PER_FLUSH:
                    builder.flush()  # type: ignore[union-attr]
            if keep_records:  # exactly as written: nothing rewritten
                yield fields, record
            else:
                yield fields, None
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        raise _json_error(exc, source, done, last) from exc


def parse_source(
    source: Source,
    keep_records: bool,
    builder: IndexBuilder | None = None,
) -> Iterator[tuple[Fields, dict[str, Any] | None]]:
    """Parse a manifest file, ``"-"`` (standard input) or a binary stream.

    Parameters
    ----------
    source
        A file path, ``"-"`` or a binary stream (not a URL).
    keep_records, builder
        As for :func:`parse_manifest`.

    Returns
    -------
    Iterator of (Fields, dict or None)
        As :func:`parse_manifest` yields them.

    Raises
    ------
    ManifestUnavailableError
        For a missing file, at once, not when the iteration starts.
    """
    if isinstance(source, str | os.PathLike):
        if str(source) == "-":
            return _parse_stream(sys.stdin.buffer, "<stdin>", keep_records, builder)
        scheme = _SCHEME.match(str(source))
        if scheme:
            raise ManifestLocationError(
                f"Cannot read {str(source)!r}: {scheme.group(1)}:// is not supported "
                "(an http:// or https:// URL, a file or - for standard input)"
            )
        path = Path(source)
        if path.is_dir():
            raise ManifestUnavailableError(
                f"{str(path)!r} is a directory, not a manifest file", str(path)
            )
        if not path.is_file():
            raise ManifestUnavailableError(f"No manifest file {str(path)!r}", str(path))
        return _parse_file(path, keep_records, builder)
    label = str(getattr(source, "name", None) or "<stream>")
    return _parse_stream(source, label, keep_records, builder)


def _parse_stream(
    stream: IO[bytes],
    label: str,
    keep_records: bool,
    builder: IndexBuilder | None,
) -> Iterator[tuple[Fields, dict[str, Any] | None]]:
    reader = ChunkReader(iter_file_chunks(stream), label)
    return parse_manifest(reader, label, keep_records, builder)


def _parse_file(
    path: Path, keep_records: bool, builder: IndexBuilder | None
) -> Iterator[tuple[Fields, dict[str, Any] | None]]:
    with open(path, "rb") as f:
        yield from _parse_stream(f, str(path), keep_records, builder)
