"""The manifest tests get a private cache and a manifest server (the fixtures)."""

from .fixtures import cache_dir, server

__all__ = ["cache_dir", "server"]
