"""The real-archive suite's own parts that need no server: which source it finds,
the digest its installation is cached under, and the ports it takes."""

from __future__ import annotations

import hashlib
from pathlib import Path
import shutil
import socket

import pytest

from tests.real_archive.install import SOURCE_ENV, find_source, source_digest
from tests.real_archive.services import PORTS, free_port


def _tree(root: Path) -> Path:
    (root / "dandiapi" / "api").mkdir(parents=True)
    (root / "manage.py").write_text("print('manage')\n")
    (root / "dandiapi" / "api" / "views.py").write_text("x = 1\n")
    return root


def test_the_cache_key_changes_with_any_byte_or_name_of_the_source(
    tmp_path: Path,
) -> None:
    first = _tree(tmp_path / "a")
    same = shutil.copytree(first, tmp_path / "b")
    key = source_digest(first)
    assert source_digest(same) == key
    (same / ".git").mkdir()
    (same / ".git" / "HEAD").write_text("ref: main\n")  # not the source
    assert source_digest(same) == key
    (same / "dandiapi" / "api" / "views.py").write_text("x = 2\n")
    assert source_digest(same) != key
    moved = shutil.copytree(first, tmp_path / "c")
    (moved / "manage.py").rename(moved / "manage2.py")
    assert source_digest(moved) != key


def test_a_snapshot_is_keyed_by_its_bytes(tmp_path: Path) -> None:
    tarball = tmp_path / "dandi-archive-1.tar.gz"
    tarball.write_bytes(b"not really a tarball" * 1000)
    assert source_digest(tarball) == hashlib.sha256(tarball.read_bytes()).hexdigest()


def test_the_source_named_by_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path / "tree")
    monkeypatch.setenv(SOURCE_ENV, str(tree))
    assert find_source(tmp_path) == tree
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    for name in ("dandi-archive-2026.01.tar.gz", "dandi-archive-2026.03.tar.gz"):
        (snapshots / name).write_bytes(b"x")
    monkeypatch.setenv(SOURCE_ENV, str(snapshots))
    assert find_source(tmp_path) == snapshots / "dandi-archive-2026.03.tar.gz"
    monkeypatch.setenv(SOURCE_ENV, str(snapshots / "dandi-archive-2026.01.tar.gz"))
    assert find_source(tmp_path) == snapshots / "dandi-archive-2026.01.tar.gz"
    monkeypatch.setenv(SOURCE_ENV, str(tmp_path / "absent"))
    assert find_source(tmp_path) is None


def test_ports_are_free_loopback_ports_below_the_ephemeral_range() -> None:
    for _ in range(20):
        port = free_port()
        assert port in PORTS and port < 32768
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free when handed out
