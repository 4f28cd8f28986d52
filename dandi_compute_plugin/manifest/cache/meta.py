"""A cache entry's description, ``meta.json``: sealing it, and checking it.

``meta.json`` says which files make the entry and holds the SHA-256 of each, taken
while they were written; every use of an entry checks the files it reads against
them (:mod:`.entry`).  The description itself carries the SHA-256 of the rest of
it (``check``), so that an edited or damaged total, size or digest is noticed
before any of it is believed, and every field is checked for its type and range:
a description that fails is a damaged entry, never an exception elsewhere (a date
out of range in ``cache info``, a header value ``requests`` refuses, taken for an
unreachable server).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from typing import Any

#: bump when what the index or ``meta.json`` holds, or how records are checked,
#: changes: entries of another format are fetched again
INDEX_FORMAT = 5
#: the files of an entry besides ``meta.json``, and the pattern of their names
PARTS = {
    "manifest": re.compile(r"assets-[0-9a-f]{16}\.jsonld"),
    "index": re.compile(r"index-[0-9a-f]{16}\.txt"),
    "offsets": re.compile(r"offsets-[0-9a-f]{16}\.bin"),
    "blocks": re.compile(r"blocks-[0-9a-f]{16}\.bin"),
}
#: the manifest's bytes are also digested in blocks of this size (the
#: ``blocks`` file: one SHA-256 per block), so that a record read on demand is
#: checked without reading the whole manifest first
BLOCK_BYTES = 1 << 20
#: what an HTTP validator may hold: visible ASCII and spaces, no line breaks
_VALIDATOR = re.compile(r"[\x20-\x7e]{1,1024}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: entries are never written before this (2000-01-01) nor after this (2100-01-01)
_WRITTEN_RANGE = (946684800.0, 4102444800.0)
_MAX_SIZE = (1 << 63) - 1


def _canonical(meta: dict[str, Any]) -> bytes:
    rest = {k: v for k, v in meta.items() if k != "check"}
    return json.dumps(rest, sort_keys=True, separators=(",", ":")).encode("utf-8")


def seal(meta: dict[str, Any]) -> dict[str, Any]:
    """Add the ``check`` (SHA-256 of the rest) to a description being written."""
    meta["check"] = hashlib.sha256(_canonical(meta)).hexdigest()
    return meta


def _is_int(value: Any, low: int = 0, high: int | None = _MAX_SIZE) -> bool:
    return type(value) is int and value >= low and (high is None or value <= high)


def validator_ok(value: Any) -> bool:
    """True for None or an ``ETag``/``Last-Modified`` that can be sent back."""
    return value is None or (
        type(value) is str and _VALIDATOR.fullmatch(value) is not None
    )


def _part_problem(meta: dict[str, Any], part: str) -> str | None:
    desc = meta.get(part)
    if type(desc) is not dict:
        return f"no description of its {part}"
    name = desc.get("file")
    if type(name) is not str or PARTS[part].fullmatch(name) is None:
        return f"no valid file name of its {part}"
    if not _is_int(desc.get("size")):
        return f"no valid size of its {part}"
    digest = desc.get("sha256")
    if type(digest) is not str or _SHA256.fullmatch(digest) is None:
        return f"no valid SHA-256 of its {part}"
    return None


def _index_problem(index: dict[str, Any], offsets: dict[str, Any]) -> str | None:
    count = index.get("count")
    if not _is_int(count) or not _is_int(index.get("assets"), 0, count):
        return "no valid record or asset count"
    if type(index.get("unique")) is not bool:
        return "no valid 'unique'"
    if (index["unique"] and index["assets"] != count) or (
        count and not index["assets"]
    ):
        return "asset and record counts that disagree"
    if not _is_int(index.get("total_bytes"), 0, None):
        return "no valid total size"
    if offsets.get("byteorder") != sys.byteorder:
        return "offsets of another byte order"
    if offsets["size"] != 8 * count:
        return "offsets of another record count"
    return None


def _blocks_problem(meta: dict[str, Any]) -> str | None:
    blocks = -(-meta["manifest"]["size"] // BLOCK_BYTES)
    if meta["blocks"]["size"] != 32 * blocks:
        return "block digests of another manifest size"
    return None


def _dandiset_ok(value: Any) -> bool:
    """A recorded ``[dandiset id, version]``: an id and a version as dandi
    spells them (:mod:`dandi.consts`)."""
    from dandi.consts import DANDISET_ID_REGEX, VERSION_REGEX

    return (
        type(value) is list
        and len(value) == 2
        and all(type(v) is str for v in value)
        and re.fullmatch(DANDISET_ID_REGEX, value[0]) is not None
        and re.fullmatch(VERSION_REGEX, value[1]) is not None
    )


def meta_problem(meta: Any) -> str | None:
    """What is wrong with a parsed ``meta.json``, or None when it is sound.

    Its seal, every field's type and range are checked, not its files.  A
    problem starting with ``format`` means an entry of another version of the
    plugin (outdated, not damaged).
    """
    if type(meta) is not dict:
        return "not a JSON object"
    if meta.get("format") != INDEX_FORMAT or type(meta.get("format")) is not int:
        return f"format {meta.get('format')!r}, not {INDEX_FORMAT}"
    check = meta.get("check")
    if type(check) is not str or check != hashlib.sha256(_canonical(meta)).hexdigest():
        return "a 'check' that does not match its content"
    if type(meta.get("url")) is not str:
        return "no URL"
    if "dandiset" in meta and not _dandiset_ok(meta["dandiset"]):
        return "an invalid dandiset"
    etag, modified = meta.get("etag"), meta.get("last_modified")
    if not (validator_ok(etag) and validator_ok(modified)) or not (etag or modified):
        return "no valid ETag or Last-Modified"
    written = meta.get("written")
    if (
        type(written) not in (int, float)
        or not math.isfinite(written)
        or not _WRITTEN_RANGE[0] <= written <= _WRITTEN_RANGE[1]
    ):
        return "no valid time of writing"
    for part in PARTS:
        problem = _part_problem(meta, part)
        if problem is not None:
            return problem
    return _index_problem(meta["index"], meta["offsets"]) or _blocks_problem(meta)
