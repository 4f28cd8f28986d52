"""Splitting a manifest's JSON array into its records, with their byte offsets.

Each record is decoded by the standard library's C decoder
(``json.JSONDecoder.raw_decode``) from a window of the bytes that slides along the
manifest, so a record is exactly what ``json.load`` gives (floats as ``float``,
a repeated key: the last wins) and memory holds one window, not the manifest.
It is also faster than an event parser such as ijson, whose events would have to
be assembled into dicts in Python.

The window is decoded as Latin-1 -- one character per byte -- so a record's
position in it is its byte offset in the manifest, which the index keeps to read
the record again later.  JSON's structure is ASCII, so the boundaries are the same
as in UTF-8; a record holding other bytes is decoded again from its bytes as UTF-8
(an invalid sequence is an error; a surrogate written as UTF-8 bytes is kept, as
``json.loads`` of bytes keeps it: :data:`UTF8_ERRORS`).

A record longer than :data:`MAX_RECORD_BYTES` (decompressed) is a format error,
found once that many bytes of it are held, so a small gzip response that inflates
to one huge record costs bounded memory.  Records nested deeper than
:data:`MAX_NESTING` levels are a format error, found
in bounded time and memory: the decoder's own recursion limit stops a nesting
bomb at about a thousand levels, and a record is measured exactly only when it
holds more than :data:`MAX_NESTING` brackets (real records hold about ten).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import json
from json.scanner import make_scanner
import re
from typing import Any

from ..errors import ManifestFormatError

#: how deep a record may nest: the record is level 1, its fields' objects and
#: arrays level 2, and so on (dandischema's records stay under 20)
MAX_NESTING = 64
#: the most bytes one record may take in the manifest (decompressed): real
#: records take about a kilobyte; decoding one costs several times its size
MAX_RECORD_BYTES = 1 << 25
#: the window grows to at least this many bytes before records are decoded, and
#: is refilled when less than a quarter of that is left of it
WINDOW = 1 << 18
#: how a record's bytes are decoded: as ``json.loads`` decodes bytes, which lets
#: a surrogate written as UTF-8 bytes (``ED A0 80``) through as a lone surrogate
UTF8_ERRORS = "surrogatepass"
_BLOCK_BITS = 12
_BLOCK = 1 << _BLOCK_BITS
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"{[")

_SPACE = re.compile(r"[ \t\n\r]*")
#: what a literal or number may start with, cut short
_TOKEN_START = re.compile(
    r"|t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?|N(aN?)?|-?(I(n(f(i(n(i(ty?)?)?)?)?)?)?)?"
    r"|-?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]*)?"
)
_WHAT_STARTS = {"{": "a JSON object", '"': "a JSON string"}
_scan = make_scanner(json.JSONDecoder())


def decode_at(text: str, pos: int) -> tuple[Any, int]:
    """``json.JSONDecoder().raw_decode``: the value at ``pos`` and its end."""
    try:
        return _scan(text, pos)
    except StopIteration as stop:
        raise json.JSONDecodeError("Expecting value", text, stop.value) from None


def nesting(value: Any) -> int:
    """How many levels of objects and arrays ``value`` has (0 for a scalar)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


class RecordSplitter:
    """The records of a manifest's JSON array, from its bytes in chunks.

    Iterating yields ``(record, offset)``: each element of the array as
    ``json.load`` decodes it, and the byte offset where it starts.

    Parameters
    ----------
    chunks
        The manifest's bytes, in pieces of any size.
    source
        Where they come from, for error messages.

    Raises
    ------
    ManifestFormatError
        When the data is not one JSON array (naming what it is: gzip data, an
        object, nothing), is invalid or truncated JSON, invalid UTF-8, has data
        after the array, or a record nests deeper than :data:`MAX_NESTING`; the
        error names the record (numbered from 1) and the path of the last good one.
    """

    def __init__(self, chunks: Iterable[bytes], source: str) -> None:
        self._chunks = iter(chunks)
        self._source = source
        self._raw = b""  # the window's bytes
        self._text = ""  # the same, one character per byte
        self._base = 0  # offset of the window in the manifest
        self._pos = 0  # where the decoding stands in the window
        self._eof = False
        self._ascii = True  # whether the window is all ASCII
        self._blocks: list[int] = []
        self.count = 0
        #: the path of the last record, for error messages (set by the caller)
        self.last_path: str | None = None

    @property
    def window(self) -> int:
        """How many bytes of the manifest are held now (at most about twice
        :data:`WINDOW`, or the size of the largest record)."""
        return len(self._raw)

    # ----------------------------------------------------------- the window

    def _fill(self, at_least: int | None = None) -> bool:
        """Drop the decoded part of the window and read ``at_least`` more bytes;
        False at the end of the data."""
        if at_least is None:
            at_least = WINDOW
        # the window starts again at the block of the position, so that the
        # counts of the whole blocks it keeps stay valid
        cut = self._pos & -_BLOCK
        pieces, size = [self._raw[cut:]], 0
        while size < at_least:
            chunk = next(self._chunks, None)
            if chunk is None:
                self._eof = True
                break
            pieces.append(chunk)
            size += len(chunk)
        kept = len(self._raw) >> _BLOCK_BITS
        blocks = self._blocks[cut >> _BLOCK_BITS : kept]
        self._base += cut
        self._pos -= cut
        self._raw = raw = b"".join(pieces)
        self._text = raw.decode("latin-1")
        self._ascii = raw.isascii()
        # brackets per block of the window: an upper bound of a record's depth
        # for the price of a lookup, where counting its own would cost more than
        # decoding it
        blocks += [
            len(raw[i : i + _BLOCK].translate(None, _NOT_BRACKETS))
            for i in range(len(blocks) << _BLOCK_BITS, len(raw), _BLOCK)
        ]
        self._blocks = blocks
        return size > 0

    def _grow(self) -> bool:
        """Read more for an element that does not fit: doubling what is left of
        the window keeps the decoding of a huge element linear, while the window
        of small records stays small.  An element that is already longer than
        :data:`MAX_RECORD_BYTES` is an error."""
        held = len(self._raw) - self._pos
        if held > MAX_RECORD_BYTES:
            raise self._too_long()
        return self._fill(max(WINDOW, held))

    def _too_long(self) -> ManifestFormatError:
        return self._error(
            f"a record longer than {MAX_RECORD_BYTES} bytes (decompressed), "
            "the most a record may hold"
        )

    def _skip_space(self) -> str:
        """Skip white space; return the next character, "" at the end."""
        while True:
            self._pos = _SPACE.match(self._text, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._text):
                return self._text[self._pos]
            if self._eof or not self._fill():
                return ""

    # ---------------------------------------------------------- the array

    def _open_array(self) -> None:
        self._fill()
        if self._raw.startswith(b"\x1f\x8b"):
            raise ManifestFormatError(
                self._source,
                "gzip-compressed data, not a JSON array of asset records "
                "(decompress it first, e.g. with gunzip)",
            )
        if self._raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
            self._pos = 3
        first = self._skip_space()
        if first != "[":
            if not first:
                empty = self._base + self._pos == 0 or self._raw[:3] == b"\xef\xbb\xbf"
                raise ManifestFormatError(
                    self._source,
                    "no JSON array: " + ("empty" if empty else "only white space"),
                )
            what = _WHAT_STARTS.get(first)
            start = self._raw[self._pos : self._pos + 20]
            raise ManifestFormatError(
                self._source,
                (f"{what}, not" if what else "not")
                + f" a JSON array of asset records (starts with {start!r})",
            )
        self._pos += 1

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        self._open_array()
        if self._skip_space() == "]":
            self._close_array()
            return
        while True:
            # the parse's hot path: records whole in the window, ASCII, with few
            # brackets and a comma after each, read with the window's state in
            # local variables; any other record is read by _record
            text, blocks, base, raw = self._text, self._blocks, self._base, self._raw
            pos, size, plain = self._pos, len(text), self._ascii
            # refill before a record can cross the window's end: a failed
            # decoding costs a scan of the window for its line number
            stop = size if self._eof else size - (WINDOW >> 2)
            after_record = False
            while pos < stop:
                try:
                    value, end = _scan(text, pos)
                except (StopIteration, ValueError, RecursionError):
                    break
                if end == size or not (plain or raw[pos:end].isascii()):
                    break
                first, last = pos >> _BLOCK_BITS, (end - 1) >> _BLOCK_BITS
                if (
                    last > first + 1
                    or blocks[first] + (blocks[last] if last > first else 0)
                    > MAX_NESTING
                ) and text.count("{", pos, end) + text.count("[", pos, end) > (
                    MAX_NESTING
                ):
                    break
                self.count += 1
                yield value, base + pos
                if text.startswith(",{", end):
                    pos = end + 1
                elif text.startswith(",", end):  # white space, as in indented JSON
                    pos = _SPACE.match(text, end + 1).end()  # type: ignore[union-attr]
                    if pos == size:  # up to the window's end: the slow way
                        pos, after_record = end, True
                        break
                else:
                    pos, after_record = end, True
                    break
            self._pos = pos
            if not after_record:
                if pos >= stop and not self._eof:
                    self._fill()
                    continue
                yield self._record()
            if self._next_record():
                return

    def _record(self) -> tuple[Any, int]:
        """Decode the record at the window's position, reading on while it does
        not fit, and check it; return it and its offset."""
        self.count += 1
        text, start = self._text, self._pos
        try:
            value, end = _scan(text, start)
        except (StopIteration, ValueError, RecursionError):
            end = len(text)
        if end == len(text):  # it may go on: read on (moves the window)
            value, end = self._decode_element()
            start = self._pos
            if end - start > MAX_RECORD_BYTES:
                raise self._too_long()
        if not self._ascii and not self._raw[start:end].isascii():
            value = self._as_utf8(start, end)
        blocks = self._blocks
        first, last = start >> _BLOCK_BITS, (end - 1) >> _BLOCK_BITS
        bound = blocks[first] + (blocks[last] if last > first else 0)
        if bound > MAX_NESTING or last > first + 1:
            self._check_brackets(value, start, end)
        self._pos = end
        return value, self._base + start

    def _next_record(self) -> bool:
        """Move past the delimiter after a record; True at the end of the array."""
        after = self._skip_space()
        if after == "]":
            self._close_array()
            return True
        if after != ",":
            raise self._error(
                "truncated JSON: the data ends before the closing ']'"
                if not after
                else f"invalid JSON: ',' or ']' expected after the record, "
                f"not {after!r} (byte {self._base + self._pos})",
                self.count,
            )
        self._pos += 1
        self._skip_space()
        return False

    def _close_array(self) -> None:
        self._pos += 1
        if self._skip_space():
            raise ManifestFormatError(
                self._source,
                f"data after the closing ']' of the array{self._after(self.count)} "
                f"(byte {self._base + self._pos})",
            )

    # ---------------------------------------------------------- a record

    def _check_brackets(self, value: Any, start: int, end: int) -> None:
        """Measure the nesting of a record holding too many brackets."""
        text = self._text
        brackets = text.count("{", start, end) + text.count("[", start, end)
        if brackets > MAX_NESTING and nesting(value) > MAX_NESTING:
            path = value.get("path") if isinstance(value, dict) else None
            raise self._error(
                f"nested deeper than {MAX_NESTING} levels",
                path=path if isinstance(path, str) else None,
            )

    def _decode_element(self) -> tuple[Any, int]:
        """The element at the window's position and where it ends, reading on
        while it does not fit in the window."""
        while True:
            try:
                value, end = decode_at(self._text, self._pos)
            except RecursionError:
                raise self._error(f"nested deeper than {MAX_NESTING} levels") from None
            except ValueError as exc:  # JSONDecodeError, or an int too long
                cut = _maybe_cut(exc, len(self._text))
                if self._eof or not cut or not self._grow():
                    raise self._decode_error(exc) from None
                continue
            if end == len(self._text) and not self._eof and self._grow():
                continue  # a number or literal might go on in the next bytes
            return value, end

    def _as_utf8(self, start: int, end: int) -> Any:
        try:
            return json.loads(self._raw[start:end].decode("utf-8", UTF8_ERRORS))
        except UnicodeDecodeError as exc:
            at = self._base + start + exc.start
            raise self._error(f"invalid UTF-8 (byte {at})") from None
        except RecursionError:  # decoded once already: only the depth differs
            raise self._error(f"nested deeper than {MAX_NESTING} levels") from None

    # ---------------------------------------------------------- errors

    def _after(self, done: int) -> str:
        return f" (after record {done}, path {self.last_path!r})" if done else ""

    def _error(
        self, problem: str, done: int | None = None, path: str | None = None
    ) -> ManifestFormatError:
        """The error of the record after the ``done`` first (by default, of the
        record being decoded)."""
        if done is None:
            done = self.count - 1
        where = self._after(done) if path is None else ""
        return ManifestFormatError(self._source, problem + where, done + 1, path)

    def _decode_error(self, exc: ValueError) -> ManifestFormatError:
        if not isinstance(exc, json.JSONDecodeError):
            return self._error(f"invalid JSON: {exc}")
        if self._eof and _cut_short(exc, self._text):
            return self._error("truncated JSON: the data ends before the closing ']'")
        return self._error(f"invalid JSON: {exc.msg} (byte {self._base + exc.pos})")


def _cut_short(exc: json.JSONDecodeError, text: str) -> bool:
    """True when, at the end of the data, a decoding error means that the data
    stops too early: a string still open, or nothing but the start of a token
    where the error is."""
    if exc.msg.startswith("Unterminated string"):
        return True
    return _TOKEN_START.fullmatch(text, exc.pos, len(text.rstrip())) is not None


def _maybe_cut(exc: ValueError, length: int) -> bool:
    """True when a decoding error may only mean that the data stops too early:
    a string still open, or an error within a token's length of the end."""
    if not isinstance(exc, json.JSONDecodeError):
        return False
    return exc.msg.startswith("Unterminated string") or exc.pos >= length - 8
