"""The version of dandi-compute-plugin (read by the build and by the package)."""

__version__ = "0.1.0"
