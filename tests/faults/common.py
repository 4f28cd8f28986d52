"""The world of a fault scenario: a fake archive and a real clone, the real command.

A :class:`World` seeds the fake archive and a clone from the same records
(:func:`~tests.archive.clones.many_versions`: several directories of ``v1.1.1``, one
of ``v1.1.10``, top-level files), plus data that must survive every run: a local
file outside any version directory that was never uploaded, and remote assets of a
``v1.1.1-rc`` directory that the clone does not have.  It hashes the clone and lists
the server before anything runs, runs the real ``dandi compute delete-version``
(a subprocess, dandi's own client) and checks the outcome against that snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import subprocess
import time
from typing import Any

from ..archive import FakeArchive
from ..archive.clones import (
    DANDISET,
    after_removal,
    many_versions,
    seed,
    tree_state,
    under,
)
from ..archive.fixtures import cli_env
from ..records import version_files
from ..subprocesses import dandi_executable

#: the sitecustomize of the subprocesses (audit-hook blocking, faster retries)
SITE = Path(__file__).resolve().with_name("site")
VERSION = "v1.1.1"
JOURNAL = ".dandi-compute"
#: a local file outside every version directory, never uploaded
LOCAL_ONLY = "derivatives/dandiset-000001/notes-not-uploaded.txt"
#: remote assets of another version that the clone does not have
REMOTE_ONLY = version_files("000001", "S001", "v1.1.1-rc", session="ses1")


def inside(path: str, dirs: list[str]) -> bool:
    """Whether ``path`` is one of ``dirs`` or below one of them."""
    return any(path == d or path.startswith(d + "/") for d in dirs)


@dataclass
class Result:
    """A finished run: its exit status, report records and standard error."""

    code: int
    records: list[dict[str, Any]]
    stderr: str

    def by_path(self) -> dict[str, dict[str, Any]]:
        return {r["path"]: r for r in self.records}

    def statuses(self) -> list[str]:
        return [r["status"] for r in self.records]


@dataclass
class World:
    """A seeded archive and clone, and what they held before any run."""

    archive: FakeArchive
    clone: Path
    home: Path
    targets: list[str]
    tree: dict[str, str] = field(default_factory=dict)
    draft: list[str] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    on_converged: Callable[[], None] = lambda: None

    @classmethod
    def make(
        cls, archive: FakeArchive, root: Path, n_dirs: int = 3, files: int = 4
    ) -> World:
        paths = many_versions(n_dirs, files, VERSION)
        clone = seed(
            archive,
            root / "clone",
            paths,
            remote_only=REMOTE_ONLY,
            local_only=[LOCAL_ONLY],
        )
        targets = sorted(
            {p.split("/params-")[0] for p in paths if f"/version-{VERSION}/" in p}
        )
        world = cls(archive, clone, root / "home", targets)
        world.home.mkdir()
        world.tree = tree_state(clone)
        world.draft = archive.paths(DANDISET)
        world.published = archive.paths(DANDISET, "published")
        return world

    # -- running the real command ----------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """A ``dandi`` subprocess environment with the owner's key and SITE."""
        env = cli_env(self.archive, self.home, **extra)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SITE), env.get("PYTHONPATH")) if p
        )
        return env

    def command(self, *args: str) -> list[str]:
        return [
            dandi_executable(),
            "compute",
            "delete-version",
            str(self.clone),
            VERSION,
            "-i",
            self.archive.url,
            "--yes",
            "-f",
            "json",
            *args,
        ]

    def run(self, *args: str, **env: str) -> Result:
        """Run the command to its end (guarded: 300 s)."""
        proc = subprocess.run(
            self.command(*args),
            capture_output=True,
            text=True,
            env=self.env(**env),
            stdin=subprocess.DEVNULL,
            timeout=300,
        )
        records = json.loads(proc.stdout) if proc.stdout.strip() else []
        return Result(proc.returncode, records, proc.stderr)

    def start(self, *args: str, **env: str) -> subprocess.Popen:
        """Start the command; its output goes to files in ``home``."""
        with (
            open(self.home / "out", "w") as out,
            open(self.home / "err", "w") as err,
        ):
            return subprocess.Popen(
                self.command(*args),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.env(**env),
            )

    def kill_when(
        self, proc: subprocess.Popen, ready: Callable[[], bool], what: str
    ) -> None:
        """SIGKILL ``proc`` as soon as ``ready()``; fail if it ends first or
        ``ready`` takes more than 120 s."""
        deadline = time.monotonic() + 120
        try:
            while not ready():
                if proc.poll() is not None:
                    raise AssertionError(
                        f"dandi ended (status {proc.returncode}) before {what}: "
                        + (self.home / "err").read_text()
                    )
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out waiting for {what}")
                time.sleep(0.01)
        finally:
            proc.kill()
            proc.wait(timeout=60)
        assert proc.returncode == -9, (self.home / "err").read_text()

    # -- checks -----------------------------------------------------------------

    @property
    def version_assets(self) -> list[str]:
        return [p for p in self.draft if inside(p, self.targets)]

    def remote_left(self) -> list[str]:
        """The version's assets still on the draft."""
        return [p for p in self.archive.paths(DANDISET) if inside(p, self.targets)]

    def deletions(self, status: int = 204) -> int:
        """DELETE requests the server answered with ``status``."""
        return sum(
            1 for r in self.archive.log if r.method == "DELETE" and r.status == status
        )

    def journal_exists(self) -> bool:
        return (self.clone / JOURNAL / "delete-journal.jsonl").exists()

    def assert_nothing_else_changed(self) -> None:
        """Outside the version directories, nothing changed, here and remotely;
        inside them, nothing but removals (no file changed, none appeared)."""
        now = tree_state(self.clone, skip=[JOURNAL])
        outside = {k: v for k, v in now.items() if not inside(k, self.targets)}
        before = {k: v for k, v in self.tree.items() if not inside(k, self.targets)}
        assert outside == {k: before[k] for k in outside}
        # what went outside them: only parents of targets they left empty
        for k in before.keys() - outside.keys():
            assert before[k] == "dir" and k.count("/") >= 2, k
            assert any(t.startswith(k + "/") for t in self.targets), k
            assert not any(o.startswith(k + "/") for o in now), k
        assert all(self.tree.get(k) == v for k, v in now.items())
        draft = self.archive.paths(DANDISET)
        assert [p for p in draft if not inside(p, self.targets)] == [
            p for p in self.draft if not inside(p, self.targets)
        ]
        assert set(draft) <= set(self.draft)
        assert self.archive.paths(DANDISET, "published") == self.published

    def assert_converged(self) -> None:
        """Every asset of the version gone remotely, every version directory gone
        locally, no journal left, and nothing else changed (by hash)."""
        self.assert_nothing_else_changed()
        assert self.remote_left() == []
        assert not any(os.path.lexists(self.clone / t) for t in self.targets)
        assert not (self.clone / JOURNAL / "delete-journal.jsonl").exists(), (
            "a stale journal is left behind"
        )
        assert tree_state(self.clone) == after_removal(self.tree, self.targets)
        self.on_converged()

    def rerun_converges(self, remote_before: int) -> Result:
        """Clear the faults, run again: exit 0, ``remote_before`` assets of the
        version deleted by this run, and :meth:`assert_converged`."""
        self.archive.accounting.release()
        self.archive.clear_faults()
        result = self.run()
        assert result.code == 0, result.stderr
        assert set(result.statuses()) <= {"deleted", "nothing-to-do"}
        assert sum(r["deleted_assets"] for r in result.records) == remote_before
        self.assert_converged()
        return result

    def assert_left_intact(self, target: str) -> None:
        """``target`` is still there locally, exactly as before."""
        assert (self.clone / target).is_dir()
        now = tree_state(self.clone / target)
        before = {
            k[len(target) + 1 :]: v
            for k, v in self.tree.items()
            if k.startswith(target + "/")
        }
        assert now == before

    def assets_of(self, target: str) -> list[str]:
        return under(self.draft, target)


@dataclass
class Snapshot:
    """The clone (but for the journal), other directories and the server, hashed.

    :meth:`assert_only_removed` checks that afterwards nothing changed but the
    removal of the intended version directories (relative to the first root,
    the clone) and of their assets from the draft.
    """

    archive: FakeArchive
    roots: list[Path]
    trees: list[dict[str, str]]
    draft: list[str]
    published: list[str]
    on_checked: Callable[[], None] = lambda: None

    @classmethod
    def take(cls, archive: FakeArchive, *roots: Path) -> Snapshot:
        return cls(
            archive,
            list(roots),
            [tree_state(r, skip=[JOURNAL]) for r in roots],
            archive.paths(DANDISET),
            archive.paths(DANDISET, "published"),
        )

    def assert_only_removed(
        self, removed: list[str] = (), remote_removed: list[str] | None = None
    ) -> None:
        """Only ``removed`` went, locally and (or ``remote_removed``) remotely."""
        removed = list(removed)
        gone = removed if remote_removed is None else remote_removed
        for i, (root, before) in enumerate(zip(self.roots, self.trees, strict=True)):
            expected = before
            if i == 0:  # the parents the removal left empty go too
                expected = after_removal(before, removed)
                assert not any(os.path.lexists(root / r) for r in removed)
            assert tree_state(root, skip=[JOURNAL]) == expected, root
        assert self.archive.paths(DANDISET) == [
            p for p in self.draft if not inside(p, gone)
        ]
        assert self.archive.paths(DANDISET, "published") == self.published
        self.on_checked()
