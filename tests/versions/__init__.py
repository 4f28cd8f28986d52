"""Tests of the version layout rule and the scans."""
