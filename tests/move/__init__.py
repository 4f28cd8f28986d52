"""Tests of ``dandi compute move`` against the fake archive."""
