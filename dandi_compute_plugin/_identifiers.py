"""Dandiset identifiers read as dandi reads them, without asking a server when
the identifier says all: ``001697``, ``DANDI:001697[/VERSION]``,
``dandi://NAME/001697[@VERSION]`` and the web or API URL of a dandiset on one of
dandi's known instances.  dandi's own parser asks the instance for its URLs
first (a wait without a deadline, and warnings, offline).

dandi's patterns of an id and a version (:mod:`dandi.consts`) are the ones used.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class DandisetRef(NamedTuple):
    """A dandiset as the user named it: its id, and the version and instance
    the identifier carries (None when it names none)."""

    dandiset_id: str
    version: str | None = None
    instance: str | None = None


def known_instance_ref(value: str) -> DandisetRef | None:
    """Read ``value`` without asking a server; None when it takes dandi's parser.

    Parameters
    ----------
    value
        An id, ``DANDI:ID[/VERSION]``, ``dandi://NAME/ID[@VERSION]`` of a known
        instance, or a dandiset's web or API URL on a known instance.

    Returns
    -------
    DandisetRef or None
        The instance is a name of :data:`dandi.consts.known_instances` (None for
        a bare id).
    """
    from dandi.consts import DANDISET_ID_REGEX, VERSION_REGEX, known_instances

    ident, version = f"({DANDISET_ID_REGEX})", f"({VERSION_REGEX})"
    if re.fullmatch(DANDISET_ID_REGEX, value):
        return DandisetRef(value)
    found = re.fullmatch(rf"DANDI:{ident}(?:/{version})?/?", value, re.I)
    if found is not None:
        return DandisetRef(found[1], found[2], "dandi")
    found = re.fullmatch(rf"dandi://([^/]+)/{ident}(?:@{version})?/?", value)
    if found is not None and found[1].lower() in known_instances:
        return DandisetRef(found[2], found[3], found[1].lower())
    for instance in known_instances.values():
        for base, shape in (
            (instance.gui, rf"/dandiset/{ident}(?:/{version})?/?"),
            (instance.api, rf"/dandisets/{ident}(?:/versions/{version})?/?"),
        ):
            if base and value.startswith(base + "/"):
                found = re.fullmatch(shape, value[len(base) :])
                if found is not None:
                    return DandisetRef(found[1], found[2], instance.name)
    return None
