"""What a move is asked about: the directories (a VERSION or capsule paths) and
the target dandiset (``to``, ``--to``), checked before anything is listed."""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
from typing import Any, NamedTuple

from .._identifiers import DandisetRef, known_instance_ref
from .._limits import TimeLimitExceeded, call_within
from ..defaults import DEFAULT_TIMEOUT
from ..errors import ArchiveError, MoveUsageError
from ..versions import VersionDirectory, validate_version


class TargetDandiset(NamedTuple):
    """The dandiset a move goes to: its id, and the instance its identifier
    names (None when it names none: the clone's)."""

    dandiset_id: str
    instance: str | None = None


def parse_target(to: str, timeout: float = DEFAULT_TIMEOUT) -> TargetDandiset:
    """The target dandiset's id and the instance its identifier names.

    ``to`` is an id (``001873``) or anything :func:`dandi.dandiarchive.parse_dandi_url`
    takes for a dandiset (``DANDI:001873``, an archive URL, ``dandi://...``).
    The forms that name a known instance are read without asking it; for any
    other, dandi's parser asks the instance (without a deadline of its own):
    it is waited for ``timeout`` seconds at most.

    Raises
    ------
    MoveUsageError
        When ``to`` names no dandiset, or a version other than the draft.
    ArchiveError
        When the instance ``to`` names does not answer within ``timeout``.
    """
    ref = known_instance_ref(to) or _asking_the_instance(to, timeout)
    if ref.version not in (None, "draft"):
        raise MoveUsageError(
            f"--to {to!r} (to= in Python) names version {ref.version}: "
            "assets go to the draft"
        )
    return TargetDandiset(ref.dandiset_id, ref.instance)


def _asking_the_instance(to: str, timeout: float) -> DandisetRef:
    from dandi.dandiarchive import DandisetURL, parse_dandi_url

    try:
        parsed = call_within(timeout, parse_dandi_url, url=to)
    except TimeLimitExceeded:
        raise ArchiveError(
            f"--to {to!r} (to= in Python): the instance it names did not answer "
            f"within the {timeout:g} s timeout. Nothing was changed."
        ) from None
    except Exception as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise MoveUsageError(
            f"--to {to!r} (to= in Python) names no dandiset: {first}"
        ) from None
    if not isinstance(parsed, DandisetURL) or parsed.dandiset_id is None:
        raise MoveUsageError(
            f"--to {to!r} (to= in Python) names {type(parsed).__name__}, not a dandiset"
        )
    return DandisetRef(parsed.dandiset_id, parsed.version_id, parsed.instance.name)


def same_instance(named: str | None, session_instance: Any) -> bool:
    """Whether the instance ``to`` names (None: none) is the session's."""
    if named is None or named == session_instance.name:
        return True
    from dandi.consts import known_instances

    known = known_instances.get(named)
    return known is not None and known.api == session_instance.api


def selection(
    dandiset_directory: str | Path, what: str | Sequence[str]
) -> dict[str, set[str] | None]:
    """``{version: relpaths to move, or None for every directory of it}``.

    An item holding a ``/`` is a version directory (a job capsule or a nested
    version directory), relative to ``dandiset_directory`` or absolute inside
    it; any other item is a VERSION.

    Raises
    ------
    MoveUsageError
        For an item that is neither (nothing is moved then).
    """
    items = [what] if isinstance(what, str) else list(what)
    if not items:
        raise MoveUsageError("Nothing to move: give a VERSION or directories")
    chosen: dict[str, set[str] | None] = {}
    for item in items:
        if "/" not in item and os.sep not in item:
            try:
                validate_version(item)
            except ValueError as exc:
                raise MoveUsageError(str(exc)) from None
            chosen[item] = None
            continue
        vd = _directory(dandiset_directory, item)
        if vd.version not in chosen:
            chosen[vd.version] = set()
        paths = chosen[vd.version]
        if paths is not None:
            paths.add(vd.relpath)
    return chosen


def _directory(top: str | Path, item: str) -> VersionDirectory:
    path = item.rstrip("/" + os.sep)
    if os.path.isabs(path):
        path = os.path.relpath(path, os.path.abspath(top))
    relpath = Path(path).as_posix()
    try:
        vd = VersionDirectory.from_relpath(top, relpath)
    except ValueError as exc:
        raise MoveUsageError(f"{item!r}: {exc}") from None
    if vd.relpath != relpath:
        raise MoveUsageError(f"{item!r} is not a normalised path below {top}")
    return vd
