"""The remote scan: the version directories found among a dandiset's asset paths.

The same rule as the local walk (:func:`~.layout.version_directory_of`), applied to
the paths of a manifest or an asset listing instead of a clone's directories.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
import logging
import os
from typing import Any, Protocol

from .layout import (
    VersionDirectory,
    first_version_directory,
    fits_a_form,
    validate_version,
    version_names,
)
from .walk import log_misfits

lgr = logging.getLogger("dandi.compute")


class _Asset(Protocol):
    path: str
    content_size: int


@dataclass(frozen=True)
class RemoteVersionDirectory:
    """A version directory found among asset paths, with its assets' count and size.

    Attributes
    ----------
    directory
        The directory (``path`` is where it would be in a clone).
    asset_count
        How many assets are below it.
    total_bytes
        Their total size.
    """

    directory: VersionDirectory
    asset_count: int
    total_bytes: int

    def as_record(self) -> dict[str, Any]:
        """Return the local scan's record plus ``asset_count`` and ``total_bytes``."""
        return {
            **self.directory.as_record(),
            "asset_count": self.asset_count,
            "total_bytes": self.total_bytes,
        }


def remote_version_directories(
    assets: Iterable[_Asset],
    version: str,
    dandiset_directory: str | os.PathLike = ".",
) -> list[RemoteVersionDirectory]:
    """Find the directories of pipeline version ``version`` among asset paths.

    Parameters
    ----------
    assets
        Objects with ``.path`` and ``.content_size``, such as the
        :class:`~dandi_compute_plugin.AssetMetadata` of
        :func:`~dandi_compute_plugin.iter_asset_metadata`.
    version
        The pipeline version, e.g. ``v1.1.1``; validated.
    dandiset_directory
        The clone the directories' ``path`` is relative to.

    Returns
    -------
    list of RemoteVersionDirectory
        Sorted by relative path.
    """
    validate_version(version)
    # {directory: {asset path: size}}: a path listed twice counts once, with
    # its last record, as in the index
    found: dict[str, dict[str, int]] = {}
    misfits: set[str] = set()
    exact, variant, capsule = version_names(version)
    repeated = 0
    for asset in assets:
        # version_directory_of, keeping the names of the version that fit no form
        rel = first_version_directory(asset.path)
        if rel is None:
            continue
        name = rel[rel.rindex("/") + 1 :]
        if name != exact:
            if not name.startswith((variant, capsule)):
                continue
            if not fits_a_form(name):
                misfits.add(rel)
                continue
        sizes = found.setdefault(rel, {})
        repeated += asset.path in sizes
        sizes[asset.path] = asset.content_size
    log_misfits(sorted(misfits))
    if repeated:
        lgr.warning(
            "The manifest lists %d asset path(s) more than once: each is counted "
            "once, with its last record",
            repeated,
        )
    return [
        RemoteVersionDirectory(
            VersionDirectory.from_relpath(dandiset_directory, rel),
            len(sizes),
            sum(sizes.values()),
        )
        for rel, sizes in sorted(found.items())
    ]
