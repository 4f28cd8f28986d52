"""Tests of the `dandi compute` commands as users run them."""
