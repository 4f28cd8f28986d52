"""The compact index of a manifest: rows of bytes, looked up through lazy dicts.

Turning every asset of a large manifest into Python objects costs time and memory
that grow with it.  The index instead keeps one ``bytes`` buffer of rows
``path NUL date NUL size NUL content-id NUL`` (manifest order; paths, dates and ids
never hold NUL) -- the same bytes as the cached index file -- and makes Python
objects only when asked: the rows are split on first use, the path -> row dict is
built on the first lookup, and an :class:`AssetMetadata` is made per access.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, ItemsView, Iterator, Mapping, ValuesView
from itertools import compress, islice, pairwise
from operator import eq, itemgetter
import re
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from .records import AssetMetadata, Fields, asset_metadata

if TYPE_CHECKING:  # pragma: no cover
    from .stored import RecordStore

#: how many rows :class:`IndexBuilder` collects before encoding them in one go
ROWS_PER_FLUSH = 4096
#: how many path hashes :class:`AssetTally` sorts at a time, about
SORTED_AT_ONCE = 1 << 18
#: how a lone surrogate (valid JSON: "\ud800") is kept in the rows' UTF-8
_LONE = "surrogatepass"
#: the fourth field of each row
_CONTENT_IDS = re.compile(rb"[^\x00]*\x00[^\x00]*\x00[^\x00]*\x00([^\x00]*)\x00")


class AssetIndex(Mapping[str, AssetMetadata]):
    """Read-only ``path -> AssetMetadata`` of a manifest (a dict-like Mapping).

    ``index[path]``, ``get``, ``in``, ``len``, iteration (manifest order),
    ``keys()``/``values()``/``items()`` and ``==`` work as on a dict;
    ``dict(index)`` makes a plain one.  When a path repeats, the last record
    wins, as in a dict built from the records.

    Parameters
    ----------
    data
        The rows (UTF-8).
    count
        How many rows ``data`` holds.
    unique
        True when the paths are known to be distinct.
    """

    __slots__ = ("_data", "_count", "_unique", "_fields", "_rows")

    def __init__(self, data: bytes | bytearray, count: int, unique: bool) -> None:
        self._data, self._count, self._unique = data, count, unique
        self._fields: list[str] | None = None
        self._rows: dict[str, int] | None = None

    @property
    def record_count(self) -> int:
        """How many records the manifest had (``len`` counts distinct paths)."""
        return self._count

    def fields(self) -> list[str]:
        """All rows split: ``[path, date, size, id, path, ...]`` (made once)."""
        if self._fields is None:
            fields = self._data.decode("utf-8", _LONE).split("\x00")
            if len(fields) != 4 * self._count + 1 or fields.pop() != "":
                raise ValueError(f"the index does not hold {self._count} rows")
            self._fields = fields
            self._data = b""  # the strings now hold it all
        return self._fields

    def content_ids(self) -> list[str]:
        """The content id of every row, without splitting the other fields."""
        if self._fields is not None:
            return self._fields[3::4]
        ids = _CONTENT_IDS.findall(self._data)
        if len(ids) != self._count:
            raise ValueError(f"the index does not hold {self._count} rows")
        return [i.decode("utf-8", _LONE) for i in ids]

    def _row_of(self) -> dict[str, int]:
        if self._rows is None:
            paths = self.fields()[0::4]
            self._rows = dict(zip(paths, range(len(paths)), strict=True))
        return self._rows

    def _meta(self, row: int) -> AssetMetadata:
        f, i = self.fields(), 4 * row
        return asset_metadata(f[i], f[i + 1], int(f[i + 2]), f[i + 3])

    def iter_all(self) -> Iterator[AssetMetadata]:
        """Every row in manifest order, repeated paths included."""
        f = self.fields()
        return map(asset_metadata, f[0::4], f[1::4], map(int, f[2::4]), f[3::4])

    def __getitem__(self, path: str) -> AssetMetadata:
        return self._meta(self._row_of()[path])

    def __contains__(self, path: object) -> bool:
        return path in self._row_of()

    def __len__(self) -> int:
        return self._count if self._unique else len(self._row_of())

    def __iter__(self) -> Iterator[str]:
        if self._unique:
            return iter(self.fields()[0::4])
        return iter(self._row_of())

    def values(self) -> ValuesView[AssetMetadata]:
        """The metadata, in manifest order."""
        return _Values(self)

    def items(self) -> ItemsView[str, AssetMetadata]:
        """(path, metadata) pairs, in manifest order."""
        return _Items(self)

    def iter_values(self) -> Iterator[AssetMetadata]:
        """The metadata of every path, in manifest order."""
        if self._unique:
            return self.iter_all()
        return map(self._meta, self._row_of().values())

    def by_content_id(self, store: RecordStore) -> ContentIdIndex:
        """The ``content id -> full record`` view of the same rows, the records
        read from ``store``."""
        return ContentIdIndex(self, store)

    def __repr__(self) -> str:
        return f"<AssetIndex of {self._count} records>"


def iter_rows(f: IO[bytes], chunk_size: int = 1 << 20) -> Iterator[AssetMetadata]:
    """Every row of the index file ``f``, in manifest order, as it is read:
    memory holds a chunk, not the index (``f`` is closed at the end)."""
    with f:
        rest = b""
        while chunk := f.read(chunk_size):
            parts = (rest + chunk).split(b"\x00")
            whole = 4 * ((len(parts) - 1) // 4)
            rest = b"\x00".join(parts[whole:])
            fields = [p.decode("utf-8", _LONE) for p in parts[:whole]]
            yield from map(
                asset_metadata,
                fields[0::4],
                fields[1::4],
                map(int, fields[2::4]),
                fields[3::4],
            )
        if rest:
            raise ValueError("the index ends within a row")


class _Values(ValuesView):
    # the index is kept under a name of ours: ``_mapping`` is the base's
    def __init__(self, index: AssetIndex) -> None:
        super().__init__(index)
        self.index = index

    def __iter__(self) -> Iterator[AssetMetadata]:
        return self.index.iter_values()


class _Items(ItemsView):
    def __init__(self, index: AssetIndex) -> None:
        super().__init__(index)
        self.index = index

    def __iter__(self) -> Iterator[tuple[str, AssetMetadata]]:
        return ((m.path, m) for m in self.index.iter_values())


class ContentIdIndex(Mapping[str, dict[str, Any]]):
    """Read-only ``content id -> full asset record`` over an :class:`AssetIndex`.

    A record is read from the manifest's bytes the first time it is asked for
    (see :mod:`.stored`), as ``dandi_compute_code.dandiset`` holds it
    (``json.load``'s dict, a digit-string ``contentSize`` made an int), and then
    kept: a record handed out twice is the same dict, and changes made to it
    stay, as in the original's dict.  Memory holds only the records asked for.
    Assets sharing a blob share its id: the last record wins.  Pickling or
    copying it gives a plain dict of every record.
    """

    __slots__ = ("_index", "_store", "_rows", "_handed")

    def __init__(self, index: AssetIndex, store: RecordStore) -> None:
        self._index, self._store = index, store
        self._rows: dict[str, int] | None = None
        self._handed: dict[int, dict[str, Any]] = {}

    def __reduce__(self) -> tuple[type, tuple[dict[str, dict[str, Any]]]]:
        # the open file of the store cannot travel: the records do
        return dict, (dict(self.items()),)

    def _row_of(self) -> dict[str, int]:
        if self._rows is None:
            ids = self._index.content_ids()
            self._rows = dict(zip(ids, range(len(ids)), strict=True))
        return self._rows

    def __getitem__(self, content_id: str) -> dict[str, Any]:
        row = self._row_of()[content_id]
        record = self._handed.get(row)
        if record is None:
            record = self._handed[row] = self._store.record(row, content_id)
        return record

    def __contains__(self, content_id: object) -> bool:
        return content_id in self._row_of()

    def __len__(self) -> int:
        return len(self._row_of())

    def __iter__(self) -> Iterator[str]:
        return iter(self._row_of())

    def __repr__(self) -> str:
        return f"<ContentIdIndex of {len(self)} content ids>"


class IndexBuilder:
    """Collects the rows of an index while a manifest is parsed.

    Parameters
    ----------
    keep
        Keep the rows in memory for :meth:`index` (and check paths are unique);
        without it the rows only go to ``sink``.
    """

    def __init__(self, keep: bool = True) -> None:
        self.keep = keep
        self.data: bytearray | None = bytearray() if keep else None
        self.count = 0
        #: receive the encoded rows, and the records' offsets, as they are flushed
        self.sink: Callable[[bytes], Any] | None = None
        self.offsets_sink: Callable[[bytes], Any] | None = None
        #: the byte offset of each record in the manifest: all of them with
        #: ``keep``, else the pending ones
        self.offsets = array("q")
        #: pending (path, date, size, id) tuples: the parse loop appends to it and
        #: calls :meth:`flush` once ``len(rows) >= ROWS_PER_FLUSH`` (a method call
        #: per record would cost more than the append itself)
        self.rows: list[Fields] = []
        self._hashes: set[int] | None = set() if keep else None
        self._sent = 0  # offsets already given to offsets_sink

    def flush(self) -> None:
        """Pass the pending rows on to ``data`` and ``sink``."""
        rows = self.rows
        if not rows:
            return
        if self._hashes is not None:
            self._hashes.update(map(hash, map(itemgetter(0), rows)))
        self.count += len(rows)
        if self.data is not None or self.sink is not None:  # else: counted only
            chunk = "".join([f"{p}\x00{d}\x00{s}\x00{c}\x00" for p, d, s, c in rows])
            data = chunk.encode("utf-8", _LONE)
            if self.data is not None:
                self.data += data
            if self.sink is not None:
                self.sink(data)
        rows.clear()
        if self.offsets_sink is not None:
            self.offsets_sink(self.offsets[self._sent :].tobytes())
        if self.keep:
            self._sent = len(self.offsets)
        else:
            del self.offsets[:]

    @property
    def unique(self) -> bool:
        """True when the paths are known to be distinct (hash collisions: False)."""
        return self._hashes is not None and len(self._hashes) == self.count

    def index(self) -> AssetIndex:
        """The :class:`AssetIndex` of the rows added (needs ``keep``)."""
        self.flush()
        if self.data is None:
            raise ValueError("an IndexBuilder(keep=False) keeps no index")
        return AssetIndex(self.data, self.count, self.unique)


class Summary(NamedTuple):
    """How many records and assets a manifest has, and their total size."""

    records: int
    #: distinct paths: a repeated path is one asset, with its last record's size
    assets: int
    total_bytes: int


class AssetTally:
    """Counts the assets of records streaming by, and adds up their sizes.

    As in the index, a repeated path is one asset, with its last record's size.
    Paths are told apart by their hash: memory holds two 8-byte numbers per
    record and no path (two different paths are taken for one only if their
    64-bit hashes collide); the repeated ones are found once, at the end, by
    sorting the hashes.
    """

    def __init__(self) -> None:
        self._hashes = array("q")
        self._sizes = array("q")
        self._result: tuple[int, int] | None = None

    def add(self, rows: list[Fields]) -> None:
        """Count the (path, date, size, id) rows."""
        self._hashes.extend(map(hash, map(itemgetter(0), rows)))
        self._sizes.extend(map(itemgetter(2), rows))
        self._result = None

    def add_asset(self, path: str, size: int) -> None:
        """Count one asset."""
        self._hashes.append(hash(path))
        self._sizes.append(size)
        self._result = None

    @property
    def records(self) -> int:
        """How many records were counted."""
        return len(self._hashes)

    def _count(self) -> tuple[int, int]:
        if self._result is None:
            repeated = self._repeated_hashes()
            total, assets = sum(self._sizes), len(self._hashes)
            if repeated:  # keep the last record of each repeated path
                seen: set[int] = set()
                for i in range(len(self._hashes) - 1, -1, -1):
                    h = self._hashes[i]
                    if h in repeated:
                        if h in seen:
                            total -= self._sizes[i]
                            assets -= 1
                        seen.add(h)
            self._result = assets, total
        return self._result

    def _repeated_hashes(self) -> set[int]:
        """The hashes counted more than once, found by sorting them: a range of
        values at a time, so that the sorted list (a Python int per hash is 36
        bytes, not 8) holds at most about :data:`SORTED_AT_ONCE` of them."""
        hashes, repeated = self._hashes, set()
        parts = 1 + len(hashes) // SORTED_AT_ONCE
        bounds = [-(1 << 63) + (i << 64) // parts for i in range(parts + 1)]
        for low, high in pairwise(bounds):
            # range's own test: no Python call per hash
            part = (
                hashes if parts == 1 else filter(range(low, high).__contains__, hashes)
            )
            ordered = sorted(part)
            after = islice(ordered, 1, None)
            repeated.update(compress(ordered, map(eq, ordered, after)))
            del ordered, after
        return repeated

    @property
    def assets(self) -> int:
        """How many distinct paths were counted."""
        return self._count()[0]

    @property
    def total_bytes(self) -> int:
        """The sum of the assets' sizes."""
        return self._count()[1]

    def summary(self) -> Summary:
        """The records, assets and bytes counted."""
        return Summary(self.records, *self._count())


class TotalingIndexBuilder(IndexBuilder):
    """An :class:`IndexBuilder` that also counts the assets and their
    bytes (an :class:`AssetTally`), for ``meta.json``: a summary then
    reads no index."""

    def __init__(self, keep: bool = True) -> None:
        super().__init__(keep)
        self.tally = AssetTally()
        self._hashes = None  # the tally tells whether the paths are unique

    @property
    def unique(self) -> bool:
        """True when the paths are known to be distinct."""
        self.flush()
        return self.tally.assets == self.count

    def flush(self) -> None:
        """Count the pending rows, then pass them on."""
        self.tally.add(self.rows)
        super().flush()
