"""The move tests run against the fake archive (its fixtures)."""

from ..archive.fixtures import archive, isolated_dandi, keyed

__all__ = ["archive", "isolated_dandi", "keyed"]
