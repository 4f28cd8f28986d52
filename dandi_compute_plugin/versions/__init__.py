"""Pipeline versions of compute-derivative dandisets: the layout rule, the scans."""

from ..errors import InvalidVersionError
from .layout import (
    DANDISET_PREFIX,
    DERIVATIVES,
    VERSION_PREFIX,
    VersionDirectory,
    VersionName,
    fits_a_form,
    parse_version_name,
    prefix_hint,
    validate_version,
    version_directory_of,
    version_directory_parts,
    version_name_matches,
    version_names,
)
from .remote import RemoteVersionDirectory, remote_version_directories
from .walk import iter_version_directories, scan_version_directories

__all__ = [
    "DANDISET_PREFIX",
    "DERIVATIVES",
    "VERSION_PREFIX",
    "InvalidVersionError",
    "RemoteVersionDirectory",
    "VersionDirectory",
    "VersionName",
    "fits_a_form",
    "iter_version_directories",
    "parse_version_name",
    "prefix_hint",
    "remote_version_directories",
    "scan_version_directories",
    "validate_version",
    "version_directory_of",
    "version_directory_parts",
    "version_name_matches",
    "version_names",
]
