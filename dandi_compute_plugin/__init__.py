"""dandi-compute-plugin: manage pipeline versions of DANDI compute-derivative dandisets.

The public API is imported lazily (:pep:`562`), so that importing this package -- as
the ``.pth`` start-up hook does for :mod:`dandi_compute_plugin._host` -- costs next to
nothing and pulls in neither click, dandi nor pluggy.
"""

from ._version import __version__

# Not `from typing import ...`: typing costs ~15 ms at every Python start (the .pth).
TYPE_CHECKING = False

#: public name -> module that defines it
_EXPORTS = {
    "AssetMetadata": "manifest",
    "AssetsJsonldMetadata": "manifest",
    "load_assets_jsonld_metadata": "manifest",
    "iter_asset_metadata": "manifest",
    "InvalidVersionError": "errors",
    "VersionDirectory": "versions",
    "scan_version_directories": "versions",
    "iter_version_directories": "versions",
    "validate_version": "versions",
    "delete_dandiset_version": "deletion",
    "move_version_directories": "move",
    "hookimpl": "hookspecs",
}

__all__ = [
    "AssetMetadata",
    "AssetsJsonldMetadata",
    "InvalidVersionError",
    "VersionDirectory",
    "__version__",
    "delete_dandiset_version",
    "hookimpl",
    "iter_asset_metadata",
    "iter_version_directories",
    "load_assets_jsonld_metadata",
    "move_version_directories",
    "scan_version_directories",
    "validate_version",
]

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from .deletion import delete_dandiset_version
    from .errors import InvalidVersionError
    from .hookspecs import hookimpl
    from .manifest import (
        AssetMetadata,
        AssetsJsonldMetadata,
        iter_asset_metadata,
        load_assets_jsonld_metadata,
    )
    from .move import move_version_directories
    from .versions import (
        VersionDirectory,
        iter_version_directories,
        scan_version_directories,
        validate_version,
    )


def __getattr__(name: str) -> "Any":
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
