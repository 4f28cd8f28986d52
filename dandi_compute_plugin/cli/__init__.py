"""The ``dandi compute`` command group: thin click commands around the library."""

from .group import compute

__all__ = ["compute"]
