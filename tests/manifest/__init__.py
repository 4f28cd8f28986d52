"""Tests of the manifest: parse, index, cache, ``dandi compute index`` and the
remote scan, against a real HTTP server on 127.0.0.1 (``server.py``)."""
