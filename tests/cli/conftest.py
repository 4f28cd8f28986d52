"""The command tests use the fake archive's fixtures (delete-version)."""

from ..archive.fixtures import archive, isolated_dandi, keyed

__all__ = ["archive", "isolated_dandi", "keyed"]
