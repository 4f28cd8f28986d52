"""Full records read back on demand from a copy of the manifest's bytes.

The index keeps four fields of every record and the byte offset where each record
starts; a full record is decoded again from those bytes when it is asked for, so
that the index by content id gives exactly what ``json.load`` gives while memory
holds no records.  The bytes come from the manifest file itself (a file source),
the cache entry's copy, or -- for standard input, a stream, or a download that is
not cached -- a :class:`ManifestCopy` spooled to an anonymous temporary file as the
manifest is parsed.  The file stays open, so a copy replaced or removed meanwhile
(another run refreshing the cache) still answers; a file changed in place is
noticed and refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import hashlib
import os
import tempfile
from typing import IO, Any
import weakref

from ..errors import ManifestUnavailableError
from .cache.meta import BLOCK_BYTES
from .checks import content_id_of
from .split import UTF8_ERRORS, decode_at


def _stamp(f: IO[bytes]) -> tuple[int, int]:
    st = os.fstat(f.fileno())
    return st.st_size, st.st_mtime_ns


class RecordStore:
    """Reads the record of an index row from an open copy of the manifest.

    Parameters
    ----------
    file
        The manifest's bytes, open for reading (kept open).
    offsets
        The byte offset of each row's record.
    source
        Where the manifest came from, for error messages.
    stamp
        The file's (size, modification time) when it was read (default: now);
        a file that no longer has it is refused.
    blocks
        The SHA-256 of each block of :data:`~.cache.meta.BLOCK_BYTES` of the
        file (a cache entry's): the blocks holding a record are checked before
        it is decoded, each once.
    on_damage
        Called when a block fails its digest (the cache entry removes itself);
        True when the damaged copy is no longer in the cache.
    """

    def __init__(
        self,
        file: IO[bytes],
        offsets: Sequence[int],
        source: str,
        stamp: tuple[int, int] | None = None,
        blocks: bytes | None = None,
        on_damage: Callable[[], bool] | None = None,
    ) -> None:
        self._file, self._offsets, self._source = file, offsets, source
        self._stamp = stamp or _stamp(file)
        self._blocks, self._on_damage = blocks, on_damage
        self._checked: set[int] = set()
        # the file is closed with the store, which the index may outlive unused
        self._finalizer = weakref.finalize(self, file.close)

    def record(self, row: int, content_id: str) -> dict[str, Any]:
        """Return the full record of ``row``, whose content id must be
        ``content_id``.

        Raises
        ------
        ManifestUnavailableError
            When the file has changed since it was indexed, or does not hold a
            record of ``content_id`` at the row's offset.
        """
        if _stamp(self._file) != self._stamp:
            raise ManifestUnavailableError(
                f"{self._source} has changed since it was indexed: load it again "
                "to read its records",
                self._source,
            )
        start = self._offsets[row]
        stop = self._offsets[row + 1] if row + 1 < len(self._offsets) else None
        size = (stop if stop is not None else self._stamp[0]) - start
        if self._blocks is not None:
            self._check_blocks(start, start + size)
        data = os.pread(self._file.fileno(), size, start)
        try:
            record = decode_at(data.decode("utf-8", UTF8_ERRORS), 0)[0]
        except ValueError:
            record = None
        if type(record) is not dict or content_id_of(record.get("contentUrl")) != (
            content_id
        ):
            raise ManifestUnavailableError(
                f"The copy of {self._source} does not hold the record of "
                f"{content_id!r} at byte {start}: it is damaged; load it again "
                "(refresh=True)",
                self._source,
            )
        size = record.get("contentSize")
        if type(size) is str and size.isdigit():
            record["contentSize"] = int(size)  # as check_record made it
        return record

    def _check_blocks(self, start: int, stop: int) -> None:
        """Check the blocks of bytes ``start:stop`` against their digests."""
        assert self._blocks is not None
        for block in range(start // BLOCK_BYTES, (stop - 1) // BLOCK_BYTES + 1):
            if block in self._checked:
                continue
            at = block * BLOCK_BYTES
            data = os.pread(self._file.fileno(), BLOCK_BYTES, at)
            digest = hashlib.sha256(data).digest()
            if digest != self._blocks[32 * block : 32 * block + 32]:
                gone = self._on_damage is not None and self._on_damage()
                fate = (
                    "it was removed from the cache; load it again"
                    if gone
                    else "it could not be removed from the cache now; load it "
                    "again with refresh=True"
                )
                raise ManifestUnavailableError(
                    f"The cached copy of {self._source} is damaged (the SHA-256 of "
                    f"its bytes {at}-{at + len(data)} differs): {fate}",
                    self._source,
                )
            self._checked.add(block)

    def close(self) -> None:
        """Close the file."""
        self._finalizer()


class ManifestCopy:
    """The bytes of a manifest as it is parsed, kept to read its records again.

    Spooled to an anonymous temporary file (gone when closed, even after a
    crash), or a manifest file itself, kept open (:meth:`adopt`); :meth:`use`
    swaps the spool for an identical file, such as the cache entry's copy just
    written, so the manifest is not kept twice.

    Parameters
    ----------
    source
        Where the manifest comes from, for error messages.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.size = 0
        self.file: IO[bytes] | None = None
        self._stamp: tuple[int, int] | None = None

    def _unavailable(self, exc: OSError) -> ManifestUnavailableError:
        return ManifestUnavailableError(
            f"Cannot keep a copy of {self.source} to read its records from, in "
            f"{tempfile.gettempdir()}: {exc.strerror or exc} (set TMPDIR elsewhere, "
            "or keep the records in memory with keep_records=True)",
            self.source,
        )

    def adopt(self, file: IO[bytes]) -> None:
        """Read the records from ``file``, the manifest file being parsed (its
        size and modification time now are those it must keep)."""
        self.file, self._stamp = file, _stamp(file)

    def write(self, chunk: bytes) -> None:
        """Append the next bytes of the manifest to the spool."""
        try:
            if self.file is None:
                # kept until the store is dropped
                self.file = tempfile.TemporaryFile(  # noqa: SIM115
                    prefix="dandi-compute-"
                )
            self.file.write(chunk)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        self.size += len(chunk)

    def use(self, f: IO[bytes]) -> None:
        """Read the records from the open file ``f`` instead, if it holds as many
        bytes (else it is closed)."""
        if os.fstat(f.fileno()).st_size != self.size:
            f.close()
            return
        self.close()
        self.file = f

    def store(self, offsets: Sequence[int]) -> RecordStore:
        """The :class:`RecordStore` of the bytes kept."""
        if self.file is None:  # nothing was written: an empty manifest
            self.write(b"")
        assert self.file is not None
        try:
            self.file.flush()
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return RecordStore(self.file, offsets, self.source, self._stamp)

    def close(self) -> None:
        """Drop the copy."""
        if self.file is not None:
            self.file.close()
