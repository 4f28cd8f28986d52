"""Moving version directories (job capsules) to another dandiset of the same
instance by blob reference, then deleting them with the deletion's machinery."""

from ..errors import MoveIncomplete, MoveUsageError
from .copy import CopyOutcome
from .model import MOVED, MoveProgress, MoveReport, MoveResult
from .run import move_version_directories, run_move

__all__ = [
    "MOVED",
    "CopyOutcome",
    "MoveIncomplete",
    "MoveProgress",
    "MoveReport",
    "MoveResult",
    "MoveUsageError",
    "move_version_directories",
    "run_move",
]
