"""The command tests use the fake archive's fixtures (delete-version) and the
manifest server's (index, scan-versions --remote), each test with a private cache."""

from ..archive.fixtures import archive, isolated_dandi, keyed
from ..manifest.fixtures import cache_dir, server

__all__ = ["archive", "cache_dir", "isolated_dandi", "keyed", "server"]
