"""The tests, mirroring the package; where their shared pieces are.

Fixtures (``conftest.py`` registers them all through ``pytest_plugins``):
``archive/fixtures.py`` (a fake archive per test, no keyring or version check) and
``manifest/fixtures.py`` (a private cache per test, a manifest server).

Helpers to import:

- ``subprocesses``: the real ``dandi`` command, a fresh Python (``run_python``),
  their environment, the repository;
- ``records``: asset records in the real ``assets.jsonld`` shape, clones of them;
- ``archive``: the fake archive (``server``, ``faults``, ``zarrs``) and ``clones``
  (an archive and a clone seeded alike, and checks of both);
- ``manifest/common.py`` and ``manifest/server.py``: manifests and their server;
- ``faults/common.py``, ``move/world.py``, ``real_archive/world.py``: the worlds
  of those suites;
- ``venvs`` (throw-away environments with packages really installed) and
  ``unprivileged`` (a command run as an ordinary user).
"""
