"""Protect every pipeline version directory that contains a file named ``KEEP``.

A deletion policy plugin for ``dandi compute delete-version``: put an empty file
named ``KEEP`` anywhere inside a version directory (``touch .../version-v1.1.1/KEEP``)
and that directory is refused, locally and on the archive, with the path of the
``KEEP`` file as the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

from dandi_compute_plugin import hookimpl

MARKER = "KEEP"


def find_marker(directory: Path) -> Path | None:
    """Return the first ``KEEP`` file below ``directory`` (links not followed)."""
    for root, _dirs, files in os.walk(directory):  # os.walk follows no links
        if MARKER in files:
            return Path(root, MARKER)
    return None


@hookimpl
def dandi_compute_veto_deletion(target):
    """Veto ``target`` when it holds a ``KEEP`` file."""
    marker = find_marker(target.path)
    if marker is not None:
        return f"protected by {marker.relative_to(target.path).as_posix()}"
    return None
