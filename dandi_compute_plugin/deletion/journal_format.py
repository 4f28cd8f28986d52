"""The deletion journal's lines: writing them, and reading them back checked.

One JSON object per line (UTF-8):

``{"event": "journal", "api_url": URL, "dandiset_id": ID, "clone": PATH}``
    the first line: the archive instance (its API URL), the dandiset and the clone
    (its real path) the journal belongs to; it vouches for nothing else;
``{"event": "intent", "target": REL, "path": P, "asset_id": ID, "size": N,
"digest": D, "zarr": Z, "mtime_ns": T}``
    written (flushed and fsync'd, all of a target's assets at once) before the
    first deletion request of that target; ``digest`` is the asset's digest on the
    server (null when it gave none) and ``mtime_ns`` the modification time of the
    local file at that path when the run planned (null: none there, or its content
    absent).  A Zarr whose checksum matched the archive's also has ``"members":
    {NAME: [DEV, INO, SIZE, MTIME_NS, CTIME_NS]}``, the files inside it that the
    checksum covered, as the run planned;
``{"event": "deleted", "target": REL, "asset_id": ID}``
    after the server confirmed one (204 or 404);
``{"event": "done", "target": REL}``
    after the target's local directory is gone.

Every line is checked when read: its event, types, the target's shape (a version
directory's path), an intent's path below its target, asset ids as UUIDs.  Only
the last line may be cut short (a crash while writing it); any other problem
stops the run before any change, naming the file and the line.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import JournalError
from ..versions import version_directory_parts
from .journal_files import read_journal_bytes
from .listing import is_uuid, path_problem

lgr = logging.getLogger("dandi.compute")

#: what each event carries besides ``event`` and ``target``: name -> check
_FIELDS = {
    "intent": {
        "path": None,  # checked against the target
        "asset_id": is_uuid,
        "size": lambda v: type(v) is int and v >= 0,
        "digest": lambda v: v is None or isinstance(v, str),
        "zarr": lambda v: isinstance(v, bool),
        "mtime_ns": lambda v: v is None or type(v) is int,
        "members": None,  # optional, checked apart
    },
    "deleted": {"asset_id": is_uuid},
    "done": {},
}
BINDING = ("api_url", "dandiset_id", "clone")


def encode(record: dict[str, Any]) -> str:
    """One line of the journal (newline included)."""
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"


def binding_record(api_url: str, dandiset_id: str, clone: str | Path) -> dict:
    """The first line: what the journal belongs to."""
    return {
        "event": "journal",
        "api_url": api_url,
        "dandiset_id": dandiset_id,
        "clone": str(clone),
    }


class JournalContent(NamedTuple):
    """What a journal holds: the line that binds it, then its entries."""

    #: the first line (see :func:`binding_record`); None: no journal, or empty
    binding: dict[str, Any] | None
    #: every other line, in order
    entries: list[dict[str, Any]]


def read_journal(path: Path) -> JournalContent:
    """Read and check a journal (none there: no binding and no entries).

    Raises
    ------
    JournalError
        Naming the file and the first bad line, or what is wrong with the file
        itself (a link, not a regular file, not the user's: see
        :mod:`.journal_files`).
    """
    data = read_journal_bytes(path)  # never through a link, a FIFO, ...
    if not data:
        return JournalContent(None, [])
    # the part after the last newline is empty, or a line cut short by a crash
    *lines, cut = data.split(b"\n")
    if cut:
        lgr.warning(
            "The last line of the journal %s was cut short (a crash while writing "
            "it, or a full disk): ignored",
            path,
        )
    records = []
    for number, raw in enumerate(lines, 1):
        problem, record = _parse(raw, first=number == 1)
        if problem is not None:
            raise JournalError(
                f"The journal {path} is damaged at line {number}: {problem}. "
                "Nothing was changed; if no run is going on, move it aside after "
                "checking what it records (see the user guide).",
                str(path),
            )
        records.append(record)
    if not records:  # only a first line cut short
        return JournalContent(None, [])
    return JournalContent(records[0], records[1:])


def _parse(raw: bytes, first: bool) -> tuple[str | None, dict[str, Any]]:
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8", {}
    except ValueError:
        return "not JSON", {}
    if not isinstance(record, dict):
        return "not a JSON object", {}
    event = record.get("event")
    if first or event == "journal":
        if first and event != "journal":
            return (
                "it does not start with the instance and dandiset it belongs to "
                "(written by an older dandi-compute-plugin?)"
            ), record
        if not first:
            return "a second binding line", record
        bad = [k for k in BINDING if not isinstance(record.get(k), str)]
        return (f"no string {bad[0]!r}" if bad else None), record
    if event not in _FIELDS:
        return f"unknown event {str(event)[:40]!r}", record
    target = record.get("target")
    try:
        version_directory_parts(target if isinstance(target, str) else "")
    except ValueError:
        return f"not a version directory: {str(target)[:120]!r}", record
    for key, check in _FIELDS[event].items():
        value = record.get(key)
        if key == "members":
            if key in record and not _members_ok(value):
                return f"an invalid {key!r}", record
            continue
        if check is None:
            problem = path_problem(value, target + "/")
            if problem:
                return problem, record
        elif key not in record or not check(value):
            return f"an invalid {key!r}: {str(value)[:80]!r}", record
    return None, record


def _members_ok(value: Any) -> bool:
    """A Zarr's covered files: relative paths without empty, ``.`` or ``..``
    parts, each with five integers (its stamp)."""
    return isinstance(value, dict) and all(
        isinstance(name, str)
        and all(part not in ("", ".", "..") for part in name.split("/"))
        and isinstance(stamp, list)
        and len(stamp) == 5
        and all(type(v) is int for v in stamp)
        for name, stamp in value.items()
    )
