"""Whether the archive holds what a version directory holds: the un-uploaded check.

A local file counts as on the server only when the server has an asset at its
path with the same content.  With ``verify="digest"`` (the default) "the same
content" means equal digests: the file's dandi-etag against the asset's
``dandi:dandi-etag``, a Zarr directory's checksum against its
``dandi:dandi-zarr-checksum``, both computed by dandi's own functions.  With
``verify="size"`` it means equal sizes only (Zarr directories by path only): a
cheaper and weaker check, for clones of terabytes.  A broken git-annex link (its
content is not here) is compared by path only: there is nothing to lose.

Assets that an interrupted run already deleted from the server (the journal)
count as on the server for the very content it saw: the same digest (or, with
``verify="size"``, the same size and modification time).  A Zarr whose removal
was cut short holds only some of its files, so its checksum no longer matches:
it counts as on the server when every file left in it is one that the journal
recorded as covered by the checksum that matched the archive's -- the same
device, inode, size, modification and change times (see :func:`journal_vouches`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import errno
import os
import stat

from ...defaults import DEFAULT_VERIFY
from .inventory import LocalFile, Stamp

#: below this size a file's dandi-etag is computed directly: hashing so few bytes
#: costs less than a look-up in dandi's on-disk digest cache, let alone storing a
#: new entry there
DIRECT_DIGEST_BELOW = 256 * 1024
CONTENT_DIFFERS = "content differs from the archive's"


@dataclass(frozen=True)
class Expected:
    """What the archive holds (or held, for the journal) at one asset path.

    Attributes
    ----------
    size
        The asset's size.
    digest
        Its dandi-etag (a file) or Zarr checksum (a Zarr), None when unknown.
    mtime_ns
        For an asset an earlier run deleted: the modification time of the local
        file that run saw at this path (None: none, or unknown).
    deleted
        Whether it is gone from the server already (the journal vouches for it).
    members
        For a Zarr an earlier run deleted: ``{path inside it: Stamp}`` of the
        files its matching checksum covered when that run planned (None:
        unknown).
    """

    size: int
    digest: str | None
    mtime_ns: int | None = None
    deleted: bool = False
    members: Mapping[str, Stamp] | None = None


@dataclass(frozen=True)
class UnuploadedFile:
    """A local file that the server does not hold (as it is here).

    Attributes
    ----------
    path
        POSIX path relative to the dandiset's top directory.
    reason
        Why: ``not on the server``, the sizes that differ, ``content differs
        from the archive's``, ...
    """

    path: str
    reason: str


def local_digest(path: str, kind: str, size: int | None) -> str:
    """The digest of a local file or Zarr directory, by dandi's functions.

    Parameters
    ----------
    path
        The file (a link is followed to its content) or the Zarr directory.
    kind
        ``zarr`` for a Zarr directory, else a file.
    size
        The file's size, when known.

    Returns
    -------
    str
        The dandi-etag of a file, the Zarr checksum of a Zarr directory.

    Raises
    ------
    OSError
        When it cannot be read, or is no longer a regular file (a directory)
        since the inventory: a FIFO or a device is never opened.
    """
    st = os.stat(path)
    wanted = stat.S_ISDIR if kind == "zarr" else stat.S_ISREG
    if not wanted(st.st_mode):
        raise OSError(errno.EINVAL, "changed its type since it was listed", path)
    if kind != "zarr" and size is not None and size < DIRECT_DIGEST_BELOW:
        from dandischema.digests.dandietag import DandiETag

        return DandiETag.from_file(path).as_str()
    # dandi caches these by path, size, times and inode: a file uploaded from
    # this clone with `dandi upload` is usually not read again
    from dandi.support.digests import get_digest

    return get_digest(path, "zarr-checksum" if kind == "zarr" else "dandi-etag")


def journal_vouches(f: LocalFile, expected: Expected | None) -> bool:
    """Whether the journal vouches for what is left of a Zarr an earlier run
    deleted from the server: every file still in it is one that run recorded
    as covered by the checksum that matched the archive's, unchanged since (its
    change time too, which no user can set back).

    Parameters
    ----------
    f
        A local Zarr (:attr:`LocalFile.members` lists its files).
    expected
        What the archive held at its path (the journal's, for a deleted one).

    Returns
    -------
    bool
        False for anything else, and whenever one file is not so recorded.
    """
    if (
        f.kind != "zarr"
        or not f.readable
        or f.members is None
        or expected is None
        or not expected.deleted
        or expected.members is None
    ):
        return False
    known = expected.members
    return all(known.get(name) == stamp for name, stamp in f.members)


def needs_digest(f: LocalFile, expected: Expected | None, verify: str) -> bool:
    """Whether comparing ``f`` takes its digest (sizes agree, content here)."""
    return (
        verify == "digest"
        and not journal_vouches(f, expected)
        and expected is not None
        and expected.digest is not None
        and f.has_content
        and f.readable
        and (f.size is None or f.size == expected.size)
    )


def find_unuploaded(
    files: Sequence[LocalFile],
    expected: Mapping[str, Expected],
    verify: str = DEFAULT_VERIFY,
    digests: Mapping[str, str] | None = None,
) -> list[UnuploadedFile]:
    """Return the local files that the server does not hold.

    Parameters
    ----------
    files
        From :func:`~.inventory.inventory`.
    expected
        ``{asset path: Expected}``: the remote assets below the directory, and
        those an interrupted run deleted (the journal).
    verify
        ``digest`` or ``size`` (see the module's description).
    digests
        ``{path: local digest}`` of the files for which :func:`needs_digest`
        (computed by the caller, who knows where the files are and may
        compute them in parallel).

    Returns
    -------
    list of UnuploadedFile
    """
    missing = []
    for f in files:
        reason = _problem(f, expected.get(f.path), verify, digests or {})
        if reason is not None:
            missing.append(UnuploadedFile(f.path, reason))
    return missing


def _problem(
    f: LocalFile,
    exp: Expected | None,
    verify: str,
    digests: Mapping[str, str],
) -> str | None:
    if exp is None:
        return "not on the server"
    if f.size is not None and f.size != exp.size:
        return f"{f.size} bytes here, {exp.size} on the server"
    if not f.has_content or not f.readable:
        # nothing here to lose, or a Zarr whose reasons are listed already
        return None
    if journal_vouches(f, exp):
        return None
    if verify == "size":
        if exp.deleted and exp.mtime_ns != f.mtime_ns and f.mtime_ns is not None:
            return "written after the asset at this path was deleted from the server"
        return None
    if exp.digest is None:
        return "the archive gives no digest to compare its content with"
    if digests.get(f.path) != exp.digest:
        if exp.deleted:
            return "content differs from the asset deleted from the archive"
        return CONTENT_DIFFERS
    return None
