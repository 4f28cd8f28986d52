"""The local side of a deletion: place, inventory, un-uploaded check, removal.

:mod:`.place` checks where a target is (one rule for every target),
:mod:`.inventory` sees what it holds, :mod:`.verify` finds what the archive
lacks and :mod:`.removal` removes exactly what the plan vetted.
"""

from .inventory import Inventory, LocalFile, Stamp, inventory, mount_points
from .place import ABSENT, PRESENT, locate, overlapping
from .removal import prune_empty_parents, remove_vetted
from .verify import (
    CONTENT_DIFFERS,
    Expected,
    UnuploadedFile,
    find_unuploaded,
    local_digest,
    needs_digest,
)

__all__ = [
    "ABSENT",
    "PRESENT",
    "CONTENT_DIFFERS",
    "Expected",
    "Inventory",
    "LocalFile",
    "Stamp",
    "UnuploadedFile",
    "find_unuploaded",
    "inventory",
    "local_digest",
    "locate",
    "mount_points",
    "needs_digest",
    "overlapping",
    "prune_empty_parents",
    "remove_vetted",
]
