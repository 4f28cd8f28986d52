"""Deletion in generated worlds: random clones, archives, hooks and faults.

Every example builds a real clone and a fake archive from a generated description
(files, Zarrs with names dandi's checksum skips, dangling links, FIFOs, nested
version directories, bind mounts inside or onto a version directory when root;
hooks that veto, add targets, raise, answer as generators or print; a DELETE
refused; a writer during the run), runs the deletion (in this process, or the
real ``dandi`` killed part-way and then resumed), and checks the invariants that
make the deletion trustworthy:

I1  every local byte removed was held by the archive at plan time (a file whose
    dandi-etag equals the asset's at its path, or a file a matching Zarr checksum
    covers), and that asset was deleted;
I2  no DELETE of an asset outside the planned, non-vetoed, unrefusable targets;
I3  the report (statuses, exit status) matches the final state of the clone and
    the archive; a directory with assets left on the archive lost no local file;
I4  the API key appears in no report, reason or log line.

``DANDI_COMPUTE_TEST_EXAMPLES`` raises the number of examples (a few dozen by
default, so that the suite stays within minutes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import logging
import os
from pathlib import Path
import shutil
import subprocess
import tempfile
import time
from typing import Any

from dandi.support.digests import get_zarr_checksum
from dandi.utils import exclude_from_zarr
from dandischema.digests.dandietag import ETagHashlike
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from dandi_compute_plugin import hookimpl
from dandi_compute_plugin.deletion import run_deletion

from ..archive import FakeArchive
from ..archive.clones import DANDISET, KEY
from ..archive.fixtures import cli_env
from ..records import asset_record, build_clone, content_of
from ..subprocesses import dandi_executable

EXAMPLES = int(os.environ.get("DANDI_COMPUTE_TEST_EXAMPLES", "30"))
VERSION = "v1.1.1"
JOURNAL = ".dandi-compute"
#: names dandi's Zarr checksum skips (at any depth): data only the clone holds
ZARR_LOCAL_ONLY = (".git/config", ".datalad/config", ".gitattributes", "0/.gitmodules")

#: what one entry of a version directory can be
ENTRY_KINDS = (
    "uploaded",  # a file, the same bytes on the archive
    "uploaded",
    "local-only",  # a file never uploaded
    "differs",  # a file whose asset has other bytes of the same size
    "remote-only-asset",  # an asset with no local file
    "zarr",  # a Zarr, its checksum on the archive
    "zarr-local-only-name",  # a Zarr with a name the checksum skips
    "zarr-differs",  # a Zarr with a chunk written after the upload
    "absent-annex-link",  # a dangling link (git-annex content not here)
    "fifo",  # a named pipe where the archive has a file
)


@dataclass
class DirSpec:
    """One version directory of the generated world."""

    subject: str
    entries: list[str]
    local: bool = True  # False: on the archive only
    veto: bool = False
    forbidden_asset: bool = False  # one DELETE answered 403
    nested: bool = False  # a hook adds a version directory inside it
    rewrite_during_run: bool = False  # a file rewritten after the plan
    hook: str = "plain"  # how the veto hook answers for it: see HOOK_KINDS
    mount: str = "none"  # "inside" / "target": a bind mount (root only)

    @property
    def relpath(self) -> str:
        return (
            f"derivatives/dandiset-000001/sub-{self.subject}/pipeline-p/"
            f"version-{VERSION}+{self.subject.lower()}"
        )


#: how the veto hook answers for a directory: as a plain function returning None,
#: raising (the target is blocked), as a generator yielding a reason (a veto) or
#: nothing (no veto), or printing to standard output (no veto)
HOOK_KINDS = ("plain", "plain", "raise", "generator-veto", "generator-pass", "print")
#: hooks that keep their target from being deleted
BLOCKING_HOOKS = ("raise", "generator-veto")
CAN_MOUNT = os.geteuid() == 0 and shutil.which("mount") is not None


@dataclass
class WorldSpec:
    dirs: list[DirSpec]
    include_remote: bool
    kill_after: int | None  # SIGKILL the real dandi after this many DELETEs
    add_as_generator: bool = False  # the add-targets hook is a generator


@st.composite
def world_specs(draw: st.DrawFn) -> WorldSpec:
    n = draw(st.integers(1, 4))
    dirs = []
    for i in range(n):
        entries = draw(st.lists(st.sampled_from(ENTRY_KINDS), min_size=1, max_size=4))
        dirs.append(
            DirSpec(
                subject=f"S{i}",
                entries=entries,
                local=draw(st.booleans()) or i == 0,
                veto=draw(st.integers(0, 4)) == 0,
                forbidden_asset=draw(st.integers(0, 4)) == 0,
                nested=draw(st.integers(0, 5)) == 0,
                rewrite_during_run=draw(st.integers(0, 4)) == 0,
                hook=draw(st.sampled_from(HOOK_KINDS)),
                mount=draw(st.sampled_from(("none",) * 4 + ("inside", "target")))
                if CAN_MOUNT
                else "none",
            )
        )
    kill = draw(st.one_of(st.none(), st.none(), st.integers(0, 6)))
    return WorldSpec(dirs, draw(st.booleans()), kill, draw(st.booleans()))


def etag(content: bytes) -> str:
    e = ETagHashlike(len(content))
    e.update(content)
    return e.hexdigest()


@dataclass
class World:
    """A clone and an archive made from a :class:`WorldSpec`, and their state
    before any run."""

    spec: WorldSpec
    root: Path
    archive: FakeArchive
    clone: Path = field(init=False)
    #: path -> asset record, the draft before any run
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: local relpath -> ("file", bytes) | ("link", target) | ("fifo", "")
    local: dict[str, tuple[str, Any]] = field(default_factory=dict)
    #: Zarr relpath -> its checksum when made
    zarrs: dict[str, str] = field(default_factory=dict)
    #: the nested directories hooks add, and files rewritten during the run
    nested: list[str] = field(default_factory=list)
    rewritten: dict[str, bytes] = field(default_factory=dict)
    outside: dict[str, bytes] = field(default_factory=dict)
    #: asset ids a killed run sent a DELETE for, before the resume
    deleted_before: set[str] = field(default_factory=set)
    #: the bind mounts made in the clone, to undo before it is removed
    mounts: list[Path] = field(default_factory=list)

    def build(self) -> World:
        self.clone = build_clone(self.root / "clone", [], DANDISET)
        records: list[dict[str, Any]] = []
        for d in self.spec.dirs:
            for j, kind in enumerate(d.entries):
                records += self._entry(d, j, kind)
        # another version beside them, and a file outside every version directory
        other = "derivatives/dandiset-000001/sub-S0/pipeline-p/version-v1.1.10/a.txt"
        notes = "derivatives/dandiset-000001/notes.txt"
        for path in (other, notes):
            self._write(path, content_of(path))
            self.outside[path] = content_of(path)
        records.append(asset_record(other))
        self.archive.add_dandiset(DANDISET, records)
        self.records = {r["path"]: r for r in records}
        for d in self.spec.dirs:
            if d.nested and d.local:
                inner = f"{d.relpath}/extra/version-{VERSION}"
                path = f"{inner}/kept.txt"
                self._write(path, content_of(path))
                self.archive.add_assets(DANDISET, [asset_record(path)])
                self.records[path] = asset_record(path)
                self.nested.append(inner)
        for d in self.spec.dirs:
            if d.mount != "none" and d.local and os.path.isdir(self.clone / d.relpath):
                self._mount(d)
            else:  # nothing here to mount on
                d.mount = "none"
        self.local = self._local_state()
        return self

    def _mount(self, d: DirSpec) -> None:
        """Bind-mount a directory of precious data inside ``d``, or ``d`` onto
        itself (a target that is a mount point)."""
        target = self.clone / d.relpath
        source = target
        if d.mount == "inside":
            source = self.root / f"outside-{d.subject}"
            source.mkdir()
            (source / "precious.dat").write_bytes(b"on no archive")
            target = target / "out" / "mnt"
            target.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
        self.mounts.append(target)

    def unmount(self) -> None:
        for point in reversed(self.mounts):
            subprocess.run(["umount", str(point)], check=True)
        self.mounts.clear()

    def _write(self, rel: str, data: bytes) -> None:
        p = self.clone / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def _entry(self, d: DirSpec, j: int, kind: str) -> list[dict[str, Any]]:
        path = f"{d.relpath}/out/f{j}.dat"
        data = content_of(path, 40 + j)
        if kind.startswith("zarr"):
            return [self._zarr(d, f"{d.relpath}/out/z{j}.zarr", kind)]
        if kind == "remote-only-asset" or not d.local:
            return [asset_record(path, content=data)]
        if kind == "absent-annex-link":
            os.makedirs(self.clone / path.rsplit("/", 1)[0], exist_ok=True)
            os.symlink("../.git/annex/objects/XX/gone", self.clone / path)
            return [asset_record(path, content=data)]
        if kind == "fifo":
            os.makedirs(self.clone / path.rsplit("/", 1)[0], exist_ok=True)
            os.mkfifo(self.clone / path)
            return [asset_record(path, content=data)]
        self._write(path, data)
        if kind == "local-only":
            return []
        if kind == "differs":
            return [asset_record(path, content=bytes(reversed(data)))]
        return [asset_record(path, content=data)]

    def _zarr(self, d: DirSpec, path: str, kind: str) -> dict[str, Any]:
        if not d.local:
            return asset_record(path, 24, zarr=True, zarr_checksum="1" * 32 + "-2--24")
        for chunk in ("0/0", "0/1", ".zattrs"):
            self._write(f"{path}/{chunk}", content_of(f"{path}/{chunk}", 12))
        if kind == "zarr-local-only-name":
            for name in ZARR_LOCAL_ONLY:
                self._write(f"{path}/{name}", b"local only: " + name.encode())
        checksum = get_zarr_checksum(self.clone / path)
        self.zarrs[path] = checksum
        if kind == "zarr-differs":
            self._write(f"{path}/0/2", b"written after the upload")
        return asset_record(path, 36, zarr=True, zarr_checksum=checksum)

    def _local_state(self) -> dict[str, tuple[str, Any]]:
        state: dict[str, tuple[str, Any]] = {}
        for dirpath, dirnames, filenames in os.walk(self.clone):
            for name in dirnames + filenames:
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, self.clone)
                if rel.startswith(JOURNAL):
                    continue
                st_ = os.lstat(full)
                if os.path.islink(full):
                    state[rel] = ("link", os.readlink(full))
                elif os.path.isdir(full):
                    state[rel] = ("dir", None)
                elif os.path.isfile(full):
                    state[rel] = ("file", Path(full).read_bytes())
                else:
                    state[rel] = ("special", st_.st_mode)
            dirnames[:] = [n for n in dirnames if not os.path.islink(f"{dirpath}/{n}")]
        return state

    def forbid_deletes(self) -> None:
        """Answer 403 to the DELETE of one asset of each ``forbidden_asset``
        directory."""
        for d in self.spec.dirs:
            mine = [r for p, r in self.records.items() if p.startswith(d.relpath)]
            if d.forbidden_asset and mine:
                self.archive.fail("DELETE", mine[0]["identifier"], status=403)

    # -- what the rules allow ---------------------------------------------------

    def version_dirs(self) -> list[str]:
        return [d.relpath for d in self.spec.dirs]

    def deletable(self, d: DirSpec) -> bool:
        """Whether the rules allow deleting anything of ``d``."""
        if d.veto or (d.nested and d.local):  # nesting needs a local directory
            return False
        if d.hook in BLOCKING_HOOKS or (d.mount != "none" and d.local):
            return False
        if not d.local:
            return self.spec.include_remote
        unsafe = {"local-only", "differs", "zarr-local-only-name", "zarr-differs"}
        return not unsafe & set(d.entries) and "fifo" not in d.entries

    def covered(self, rel: str) -> dict[str, Any] | None:
        """The asset whose digest proves the archive held local ``rel``."""
        kind, value = self.local[rel]
        if kind == "link":
            rec = self.records.get(rel)
            return rec  # a link is removed, never what it points to
        if kind != "file":
            return None
        rec = self.records.get(rel)
        if rec is not None and rec["digest"].get("dandi:dandi-etag") == etag(value):
            return rec
        for zarr, checksum in self.zarrs.items():
            if rel.startswith(zarr + "/"):
                inner = rel[len(zarr) + 1 :]
                rec = self.records.get(zarr)
                skipped = any(
                    exclude_from_zarr(Path(part)) for part in inner.split("/")
                )
                if (
                    rec is not None
                    and rec["digest"]["dandi:dandi-zarr-checksum"] == checksum
                    and not skipped
                ):
                    return rec
        return None


class Policy:
    """The hooks of a world: vetoes, nested additions, a writer during the run."""

    def __init__(self, world: World) -> None:
        self.world = world

    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        mine = [d for d in self.world.spec.dirs if target.relpath == d.relpath]
        if any(d.veto for d in mine):
            return "kept by the generated policy"
        kind = mine[0].hook if mine else "plain"
        if kind == "raise":
            raise RuntimeError("the generated policy cannot decide")
        if kind.startswith("generator"):
            return self._generated(kind == "generator-veto")
        if kind == "print":
            print(f"policy: {target.relpath} is fine")  # noqa: T201
        return None

    @staticmethod
    def _generated(veto: bool):
        if veto:
            yield "kept by a generator"

    @hookimpl
    def dandi_compute_add_targets(self, dandiset_directory, version):
        added = [Path(dandiset_directory) / n for n in self.world.nested]
        if self.world.spec.add_as_generator:
            return (path for path in added)
        return added

    @hookimpl
    def dandi_compute_before_target(self, target):
        for d in self.world.spec.dirs:
            if d.rewrite_during_run and target.relpath == d.relpath:
                self._rewrite(target.path)

    def _rewrite(self, top: Path) -> None:
        """Rewrite one file in place: same size, modification time put back."""
        for path in sorted(top.rglob("*.dat")):
            if path.is_file() and not path.is_symlink():
                st_ = path.stat()
                data = path.read_bytes()
                new = bytes(reversed(data)) if data != data[::-1] else b"x" * len(data)
                path.write_bytes(new)
                os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns))
                rel = path.relative_to(self.world.clone).as_posix()
                self.world.rewritten[rel] = new
                return


def run_killed(world: World, home: Path) -> None:
    """The real ``dandi compute delete-version``, SIGKILLed after some DELETEs."""
    env = cli_env(world.archive, home)
    args = [dandi_executable(), "compute", "delete-version", str(world.clone)]
    args += [VERSION, "-i", world.archive.url, "--yes", "-f", "json", "-J", "2"]
    if world.spec.include_remote:
        args.append("--include-remote")
    proc = subprocess.Popen(
        args,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if world.archive.count("DELETE") >= (world.spec.kill_after or 0):
                break
            time.sleep(0.005)
    finally:
        proc.kill()
        proc.wait(timeout=60)


def check_invariants(world: World, reports: list, log_text: str) -> None:
    """I1-I4 over the final state, the server's log and the last report."""
    after = world._local_state()
    draft = set(world.archive.paths(DANDISET))
    by_id = {r["identifier"]: p for p, r in world.records.items()}
    allowed = [d.relpath for d in world.spec.dirs if world.deletable(d)]

    def under(path: str, dirs: list[str]) -> bool:
        return any(path == d or path.startswith(d + "/") for d in dirs)

    # I1: every removed or changed local object was held by the archive, and
    # that asset is gone now
    for rel, before in world.local.items():
        if before[0] == "dir" or after.get(rel) == before:
            continue
        if rel in world.rewritten:
            continue  # the writer's change is checked below
        assert under(rel, allowed), f"I1: {rel} removed outside a deletable target"
        rec = world.covered(rel)
        assert rec is not None, f"I1: {rel} removed, the archive never held it"
        assert rec["path"] not in draft, f"I1: {rel} removed, its asset is still there"
    for rel, new in world.rewritten.items():
        assert after.get(rel) == ("file", new), f"I1: {rel} rewritten, then lost"
    for rel, data in world.outside.items():
        assert after.get(rel) == ("file", data), f"I1: {rel} outside was touched"
    # I2: DELETEs only of assets of deletable targets
    for req in world.archive.log:
        if req.method != "DELETE":
            continue
        asset_id = req.path.rstrip("/").rsplit("/", 1)[-1]
        path = by_id.get(asset_id)
        assert path is not None, f"I2: DELETE of an unknown asset {req.path}"
        assert under(path, allowed), f"I2: DELETE of {path}, not deletable"
    # I3: the last report against the final state
    report = reports[-1]
    for result in report.results:
        rel = result.target.relpath
        remote_left = [p for p in draft if under(p, [rel])]
        status = result.status.value
        if status == "deleted":
            assert not os.path.lexists(world.clone / rel), f"I3: {rel} still here"
            assert not remote_left, f"I3: {rel} deleted, assets left {remote_left}"
        before = [p for p in world.records if under(p, [rel])]
        ids = {world.records[p]["identifier"] for p in before}
        touched = ids & world.deleted_before
        if status in ("refused", "remote-only", "planned") and not touched:
            # (a killed run may have deleted them: this run refuses what is left)
            assert sorted(remote_left) == sorted(before), f"I3: {rel} {status}"
    for rel in world.version_dirs() + world.nested:
        if any(under(p, [rel]) for p in draft):
            lost = [
                k
                for k, v in world.local.items()
                if under(k, [rel]) and v[0] != "dir" and k not in after
            ]
            assert not lost, f"I3: {rel} has assets left but lost {lost}"
    assert (report.exit_code == 0) == all(r.ok for r in report.results)
    # I4: the key in no output
    text = json.dumps(report.as_records()) + log_text
    assert KEY not in text, "I4: the key in the output"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # caplog is cleared per example
    ],
)
@given(spec=world_specs())
def test_generated_worlds_keep_the_invariants(
    spec: WorldSpec, caplog: pytest.LogCaptureFixture
) -> None:
    root = Path(tempfile.mkdtemp(prefix="world-"))
    try:
        with FakeArchive(tokens={KEY: "owner"}) as archive:
            world = World(spec, root, archive)
            try:
                world.build()
                world.forbid_deletes()
                os.environ[archive.api_key_env_var] = KEY
                caplog.clear()
                with caplog.at_level(logging.DEBUG):
                    report = run_world(world)
                check_invariants(world, [report], caplog.text)
            finally:
                os.environ.pop(archive.api_key_env_var, None)
                world.unmount()
    finally:
        for dirpath, _dirs, _files in os.walk(root):
            os.chmod(dirpath, 0o700)
        shutil.rmtree(root, ignore_errors=True)


def run_world(world: World):
    """Run the deletion of the world: with its hooks in this process, or the
    real ``dandi`` killed part-way (no hooks) and then a resume here."""
    spec = world.spec
    plugins: tuple[object, ...] = (Policy(world),)
    if spec.kill_after is not None:
        run_killed(world, world.root / "home")
        world.deleted_before = {
            r.path.rstrip("/").rsplit("/", 1)[-1]
            for r in world.archive.log
            if r.method == "DELETE"
        }
        world.archive.clear_faults()
        # the killed run had no hooks: the rules are those of no policy
        for d in spec.dirs:
            d.veto = d.nested = d.rewrite_during_run = False
            d.hook = "plain"
        world.nested = []
        plugins = ()
    return run_deletion(
        world.clone,
        VERSION,
        dandi_instance=world.archive.url,
        include_remote=spec.include_remote,
        plugins=plugins,
        jobs=2,
    )


def test_the_invariants_catch_a_loss(tmp_path: Path) -> None:
    """The checker itself can fail: a removed never-uploaded file is named."""
    spec = WorldSpec([DirSpec("S0", ["local-only"])], False, None)
    with FakeArchive(tokens={KEY: "owner"}) as archive:
        world = World(spec, tmp_path, archive).build()
        lost = next(k for k, v in world.local.items() if v[0] == "file" and "f0" in k)
        (world.clone / lost).unlink()

        class Report:
            results: list = []
            ok = True
            exit_code = 0

            @staticmethod
            def as_records() -> list:
                return []

        with pytest.raises(AssertionError, match="I1"):
            check_invariants(world, [Report()], "")
