"""dandi-compute-plugin: manage pipeline versions of DANDI compute-derivative dandisets.

The public API and every error a caller can meet are imported lazily (:pep:`562`),
so that importing this package -- as the ``.pth`` start-up hook does for
:mod:`dandi_compute_plugin._host` -- costs next to nothing and pulls in neither
click, dandi nor pluggy.
"""

from ._version import __version__

# Not `from typing import ...`: the .pth imports this package at every Python start
# in the environment, and typing is a large module to load for one flag.
TYPE_CHECKING = False

#: module -> the public names it defines; ``__all__`` and the lazy import read this
_EXPORTS = {
    "manifest": (
        "AssetMetadata",
        "AssetsJsonldMetadata",
        "iter_asset_metadata",
        "load_assets_jsonld_metadata",
    ),
    "versions": (
        "VersionDirectory",
        "iter_version_directories",
        "scan_version_directories",
        "validate_version",
    ),
    "deletion": ("delete_dandiset_version",),
    "move": ("move_version_directories",),
    "hookspecs": ("hookimpl",),
    "errors": (
        "ArchiveError",
        "AuthenticationError",
        "DandiComputeError",
        "DeletionIncomplete",
        "InvalidVersionError",
        "JournalBusyError",
        "JournalError",
        "JournalMismatchError",
        "ManifestError",
        "ManifestFormatError",
        "ManifestLocationError",
        "ManifestUnavailableError",
        "MoveIncomplete",
        "MoveUsageError",
        "NotADandisetError",
        "UnknownPluginError",
        "UnsafeCacheDirectoryError",
        "UnsafePathError",
    ),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["__version__", *_MODULE_OF]

# For type checkers only, which follow neither the lazy import nor a computed
# __all__ (hence "X as X", their mark of a re-export); a test holds these imports
# equal to _EXPORTS.
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from .deletion import delete_dandiset_version as delete_dandiset_version
    from .errors import ArchiveError as ArchiveError
    from .errors import AuthenticationError as AuthenticationError
    from .errors import DandiComputeError as DandiComputeError
    from .errors import DeletionIncomplete as DeletionIncomplete
    from .errors import InvalidVersionError as InvalidVersionError
    from .errors import JournalBusyError as JournalBusyError
    from .errors import JournalError as JournalError
    from .errors import JournalMismatchError as JournalMismatchError
    from .errors import ManifestError as ManifestError
    from .errors import ManifestFormatError as ManifestFormatError
    from .errors import ManifestLocationError as ManifestLocationError
    from .errors import ManifestUnavailableError as ManifestUnavailableError
    from .errors import MoveIncomplete as MoveIncomplete
    from .errors import MoveUsageError as MoveUsageError
    from .errors import NotADandisetError as NotADandisetError
    from .errors import UnknownPluginError as UnknownPluginError
    from .errors import UnsafeCacheDirectoryError as UnsafeCacheDirectoryError
    from .errors import UnsafePathError as UnsafePathError
    from .hookspecs import hookimpl as hookimpl
    from .manifest import AssetMetadata as AssetMetadata
    from .manifest import AssetsJsonldMetadata as AssetsJsonldMetadata
    from .manifest import iter_asset_metadata as iter_asset_metadata
    from .manifest import load_assets_jsonld_metadata as load_assets_jsonld_metadata
    from .move import move_version_directories as move_version_directories
    from .versions import VersionDirectory as VersionDirectory
    from .versions import iter_version_directories as iter_version_directories
    from .versions import scan_version_directories as scan_version_directories
    from .versions import validate_version as validate_version


def __getattr__(name: str) -> "Any":
    try:
        module = _MODULE_OF[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
