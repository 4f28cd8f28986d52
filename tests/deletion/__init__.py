"""Tests of ``dandi compute delete-version`` against the fake archive."""
