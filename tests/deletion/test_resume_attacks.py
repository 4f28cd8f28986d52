"""A resume attacked where the plan's split moved code: a damaged journal binding,
a failed version listing meeting every source of targets at once.

Each case starts from the same world: a run fails on one DELETE of ``B`` and
leaves its journal; the user removes ``B`` by hand (a *gone*, journaled target);
``A`` is in the clone, ``R`` on the archive only, and a hook adds ``A`` again.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from dandi_compute_plugin import hookimpl
from dandi_compute_plugin.deletion import TargetStatus, run_deletion
from dandi_compute_plugin.errors import JournalError, JournalMismatchError

from ..archive import FakeArchive
from ..archive.clones import DANDISET, KEY, seed, tree_state
from ..records import asset_record, version_files

EXAMPLES = int(os.environ.get("DANDI_COMPUTE_TEST_EXAMPLES", "30"))

JOURNAL = Path(".dandi-compute") / "delete-journal.jsonl"
BASE = "derivatives/dandiset-000001/sub-{sub}/pipeline-aind+ephys/version-v1.1.1"


def vdir(sub: str) -> str:
    return BASE.format(sub=sub)


def files(sub: str) -> list[str]:
    return version_files("000001", sub, "v1.1.1", names=["out/a.json", "out/b.json"])


class AddsA:
    """A hook adding a target the scan finds too (the two sources meet)."""

    @hookimpl
    def dandi_compute_add_targets(self, dandiset_directory, version):
        return [Path(dandiset_directory) / vdir("A")]


@pytest.fixture
def resumable(keyed: FakeArchive, tmp_path: Path) -> Path:
    """The world above: ``B`` journaled and gone, one asset of it left."""
    clone = seed(
        keyed, tmp_path / "clone", files("A") + files("B"), remote_only=files("R")
    )
    failing = files("B")[1]
    keyed.fail("DELETE", keyed.asset_ids(DANDISET)[failing], status=403)
    # only B is a target: A is vetoed so that the first run leaves it alone
    first = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, plugins=(VetoA(),))
    assert {r.target.relpath: r.status for r in first.results}[vdir("B")] is (
        TargetStatus.FAILED
    )
    keyed.clear_faults()
    assert (clone / JOURNAL).exists()
    shutil.rmtree(clone / vdir("B"))
    return clone


class VetoA:
    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        return "kept for this test" if target.relpath == vdir("A") else None


@pytest.mark.parametrize("include_remote", [False, True])
@pytest.mark.parametrize("status", [400, 403])
def test_a_failed_listing_on_resume_fails_every_kind_of_target(
    keyed: FakeArchive, resumable: Path, include_remote: bool, status: int
) -> None:
    """Scanned, hook-added, journaled-and-gone targets and the archive's own
    (remote-only) meet a version listing that fails: every one present fails
    naming it, none is taken as remote-only or already gone, nothing is
    deleted, and the journal is left exactly as it was (the resume is still
    owed)."""
    before = tree_state(resumable)
    journal = (resumable / JOURNAL).read_bytes()
    deletes = keyed.count("DELETE")
    keyed.fail("GET", r"/assets/$", query="glob=", status=status, echo=True)
    report = run_deletion(
        resumable,
        "v1.1.1",
        dandi_instance=keyed.url,
        include_remote=include_remote,
        plugins=(AddsA(),),
    )
    got = {r.target.relpath: r for r in report.results}
    # R is invisible without a listing; A (scanned and added) and B (gone) fail
    assert sorted(got) == [vdir("A"), vdir("B")]
    for r in got.values():
        assert r.status is TargetStatus.FAILED, (r.target.relpath, r.status)
        assert r.reason is not None and r.reason.startswith(
            f"cannot list the remote assets: HTTP {status}"
        )
        assert KEY not in r.reason
    assert report.exit_code == 1
    assert keyed.count("DELETE") == deletes
    assert tree_state(resumable) == before
    assert (resumable / JOURNAL).read_bytes() == journal


def _rewrite_binding(clone: Path, change) -> bytes:
    path = clone / JOURNAL
    first, rest = path.read_bytes().split(b"\n", 1)
    new = change(first, rest)
    path.write_bytes(new)
    return new


def _other(field: str, value: str):
    def change(first: bytes, rest: bytes) -> bytes:
        record = json.loads(first)
        record[field] = value
        return json.dumps(record).encode() + b"\n" + rest

    return change


#: a damaged or foreign binding line: the run must stop before any change
STOPPING = {
    "garbage of the same length": (
        lambda first, rest: b"#" * len(first) + b"\n" + rest,
        JournalError,
    ),
    "binding removed": (lambda first, rest: rest, JournalError),
    "binding twice": (
        lambda first, rest: first + b"\n" + first + b"\n" + rest,
        JournalError,
    ),
    "another dandiset": (_other("dandiset_id", "000999"), JournalMismatchError),
    "another instance": (
        _other("api_url", "https://api.dandiarchive.org/api"),
        JournalMismatchError,
    ),
    "another clone": (_other("clone", "/elsewhere"), JournalMismatchError),
    "a number for the instance": (
        lambda first, rest: (
            json.dumps({**json.loads(first), "api_url": 7}).encode() + b"\n" + rest
        ),
        JournalError,
    ),
    "no newline after a whole binding, entries cut": (
        lambda first, rest: (
            first + b"\n" + rest[: max(1, len(rest) // 2)].replace(b"\n", b" ")
        ),
        None,  # the binding stands; the cut last line is dropped
    ),
}


@pytest.mark.parametrize("damage", sorted(STOPPING))
@pytest.mark.parametrize("include_remote", [False, True])
def test_a_damaged_or_foreign_binding_on_resume_changes_nothing(
    keyed: FakeArchive, resumable: Path, damage: str, include_remote: bool
) -> None:
    """The journal of the failed run has its binding line damaged, replaced by
    another dandiset's, instance's or clone's, removed or doubled: the resume
    stops before any DELETE, naming the journal, and leaves it as it is."""
    change, error = STOPPING[damage]
    journal = _rewrite_binding(resumable, change)
    before = tree_state(resumable)
    deletes = keyed.count("DELETE")
    if error is None:
        report = run_deletion(
            resumable,
            "v1.1.1",
            dandi_instance=keyed.url,
            include_remote=include_remote,
            plugins=(VetoA(),),
        )
        # the entries were all cut: B is no journaled target, only the archive's
        statuses = {r.target.relpath: r.status for r in report.results}
        if not include_remote:
            assert keyed.count("DELETE") == deletes
            assert statuses[vdir("B")] is TargetStatus.REMOTE_ONLY
        return
    with pytest.raises(error) as info:
        run_deletion(
            resumable, "v1.1.1", dandi_instance=keyed.url, include_remote=include_remote
        )
    assert str(resumable / JOURNAL) in str(info.value) or info.value.path == str(
        resumable / JOURNAL
    )
    assert keyed.count("DELETE") == deletes
    assert tree_state(resumable) == before
    assert (resumable / JOURNAL).read_bytes() == journal


@pytest.mark.parametrize("include_remote", [False, True])
def test_a_binding_cut_short_on_resume_forgets_the_journal_but_deletes_no_more(
    keyed: FakeArchive, resumable: Path, include_remote: bool
) -> None:
    """The journal is cut inside its binding line (a copy or a disk that lost
    its tail): it is no journal; the gone target B is then no resumed target but
    the archive's own, kept unless include_remote; A and R as in any run."""
    path = resumable / JOURNAL
    first = path.read_bytes().split(b"\n", 1)[0]
    path.write_bytes(first[: len(first) // 2])
    ids = keyed.asset_ids(DANDISET)
    report = run_deletion(
        resumable,
        "v1.1.1",
        dandi_instance=keyed.url,
        include_remote=include_remote,
        plugins=(VetoA(),),
    )
    statuses = {r.target.relpath: r.status for r in report.results}
    left = keyed.asset_ids(DANDISET)
    if include_remote:
        assert statuses[vdir("B")] is TargetStatus.DELETED
        assert statuses[vdir("R")] is TargetStatus.DELETED
    else:
        assert statuses[vdir("B")] is TargetStatus.REMOTE_ONLY
        assert statuses[vdir("R")] is TargetStatus.REMOTE_ONLY
        assert {p for p in ids if p.startswith(vdir("R"))} <= set(left)
    assert statuses[vdir("A")] is TargetStatus.REFUSED
    assert {p for p in ids if p.startswith(vdir("A"))} <= set(left)
    # the next journal (if any was written) starts with a whole binding
    if path.exists() and path.read_bytes():
        assert json.loads(path.read_bytes().split(b"\n", 1)[0])["event"] == "journal"


def test_an_incomplete_run_raised_across_a_process_boundary_keeps_its_report(
    keyed: FakeArchive, tmp_path: Path
) -> None:
    """The error of a real run with many directories not deleted (refused,
    failed with a reason echoing the key, remote-only kept) comes back from
    pickling whole: the same text, one line per directory not deleted, the same
    report, and never the key."""
    import pickle

    from dandi_compute_plugin import delete_dandiset_version
    from dandi_compute_plugin.errors import DeletionIncomplete

    subjects = [f"S{i:02d}" for i in range(25)]
    paths = [p for s in subjects for p in files(s)]
    clone = seed(keyed, tmp_path / "clone", paths, remote_only=files("R"))
    ids = keyed.asset_ids(DANDISET)
    for s in subjects[::2]:  # half of them fail, the server echoing the key
        keyed.fail("DELETE", ids[files(s)[0]], status=400, echo=True)
    with pytest.raises(DeletionIncomplete) as info:
        delete_dandiset_version(
            clone, "v1.1.1", dandi_instance=keyed.url, plugins=(VetoA(),)
        )
    error = info.value
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is DeletionIncomplete and str(again) == str(error)
    assert again.report.as_records() == error.report.as_records()
    lines = str(error).split("\n")
    failed = [s for s in subjects[::2]]
    assert (
        lines[0]
        == f"{len(failed)} of {len(subjects) + 1} version directories not deleted:"
    )
    assert sorted(line.split(":", 1)[0] for line in lines[1:]) == sorted(
        vdir(s) for s in failed
    )
    assert KEY not in str(error) and KEY not in repr(again.report.as_records())


def test_the_instance_of_the_environment_binds_the_journal_as_an_explicit_one(
    keyed: FakeArchive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dandi_instance=None`` takes ``$DANDI_INSTANCE`` at call time.  A run
    through the variable leaves its journal; the variable then names another
    archive holding the same dandiset: the resume stops before any DELETE on
    either, and so does an explicit instance that differs from the variable's;
    an empty variable is the main instance, never this journal's."""
    from ..records import asset_record

    clone = seed(keyed, tmp_path / "clone", files("A") + files("B"))
    ids = keyed.asset_ids(DANDISET)
    keyed.fail("DELETE", ids[files("B")[1]], status=403)
    monkeypatch.setenv("DANDI_INSTANCE", keyed.url)
    first = run_deletion(clone, "v1.1.1", plugins=(VetoA(),))
    assert first.api_url == keyed.url + "/api" or keyed.url in str(first.api_url)
    keyed.clear_faults()
    journal = (clone / JOURNAL).read_bytes()
    with FakeArchive(tokens={KEY: "owner"}) as other:
        other.add_dandiset(DANDISET, [asset_record(p) for p in files("A") + files("B")])
        monkeypatch.setenv(other.api_key_env_var, KEY)
        monkeypatch.setenv("DANDI_INSTANCE", other.url)
        with pytest.raises(JournalMismatchError):
            run_deletion(clone, "v1.1.1")
        monkeypatch.setenv("DANDI_INSTANCE", keyed.url)
        with pytest.raises(JournalMismatchError):
            run_deletion(clone, "v1.1.1", dandi_instance=other.url)
        assert other.count("DELETE") == 0
    monkeypatch.setenv("DANDI_INSTANCE", "")
    # the main instance: its journal check fails, or (offline) its first request
    from dandi_compute_plugin.errors import ArchiveError

    with pytest.raises((JournalMismatchError, ArchiveError), match="dandiarchive.org"):
        run_deletion(clone, "v1.1.1", dry_run=True)
    assert keyed.count("DELETE") == 2  # the first run's two attempts only
    assert (clone / JOURNAL).read_bytes() == journal


# ------------------------------------------------------- generated resumes


@dataclass
class Resume:
    """One generated resume: what the first run meets, what happens between
    the runs, and what the second run meets."""

    #: per subject: (a DELETE answered 403, removed by hand, a colleague upload)
    subjects: list[tuple[bool, bool, str | None]]
    include_remote: bool
    listing_fails: bool
    tail_cut: bool  # the journal's last line cut short between the runs


@st.composite
def resumes(draw: st.DrawFn) -> Resume:
    n = draw(st.integers(1, 3))
    subjects = [
        (
            draw(st.booleans()),
            draw(st.booleans()),
            draw(st.sampled_from([None, None, "journaled path", "new path"])),
        )
        for _ in range(n)
    ]
    return Resume(
        subjects, draw(st.booleans()), draw(st.integers(0, 3)) == 0, draw(st.booleans())
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=resumes())
def test_generated_resumes_delete_only_what_was_journaled_or_asked(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    spec: Resume,
) -> None:
    """A first run with failing DELETEs leaves a journal; between the runs
    directories are removed by hand, colleagues upload below them, the
    journal's tail is cut; the second run may meet a failing listing.  Its
    DELETEs are only of assets the first run planned, of what is below a
    directory still in the clone (retracted whole, as planned), or, with
    include_remote, of remote-only directories: a colleague's upload below a
    directory gone from the clone is kept, and the archive-only R too; a
    failing listing deletes nothing and leaves the journal as it was; a
    directory reported deleted has nothing left on either side; a directory
    with assets left lost no local file."""
    root = tmp_path_factory.mktemp("resume")
    with FakeArchive(tokens={KEY: "owner"}) as archive:
        monkeypatch.setenv(archive.api_key_env_var, KEY)
        names = [f"S{i}" for i in range(len(spec.subjects))]
        clone = seed(
            archive,
            root / "clone",
            [p for s in names for p in files(s)],
            remote_only=files("R"),
        )
        planned = set(archive.asset_ids(DANDISET).values())
        ids = archive.asset_ids(DANDISET)
        for s, (forbidden, _, _) in zip(names, spec.subjects, strict=True):
            if forbidden:
                archive.fail("DELETE", ids[files(s)[1]], status=403)
        run_deletion(clone, "v1.1.1", dandi_instance=archive.url)  # R kept
        archive.clear_faults()
        colleague: dict[str, str] = {}  # asset id -> its version directory
        for s, (_, by_hand, upload) in zip(names, spec.subjects, strict=True):
            if by_hand and (clone / vdir(s)).exists():
                shutil.rmtree(clone / vdir(s))
            if upload is not None:
                path = (
                    files(s)[1] if upload == "journaled path" else f"{vdir(s)}/new.json"
                )
                record = asset_record(
                    path,
                    content=b"a colleague's " + s.encode(),
                    asset_id=str(uuid.uuid4()),
                )
                archive.add_assets(DANDISET, [record])
                colleague[record["identifier"]] = vdir(s)
        journal = clone / JOURNAL
        if spec.tail_cut and journal.exists():
            data = journal.read_bytes()
            journal.write_bytes(data[:-5])
        journal_before = journal.read_bytes() if journal.exists() else None
        in_clone = {vdir(s) for s in names if (clone / vdir(s)).is_dir()}
        local_before = tree_state(clone)
        first_requests = len(archive.log)
        if spec.listing_fails:
            archive.fail("GET", r"/assets/$", query="glob=", status=400)
        report = run_deletion(
            clone,
            "v1.1.1",
            dandi_instance=archive.url,
            include_remote=spec.include_remote,
        )
        deleted = [
            r.path.rstrip("/").rsplit("/", 1)[-1]
            for r in archive.log[first_requests:]
            if r.method == "DELETE"
        ]
        remote_only = {ids[p] for p in files("R")}
        if spec.listing_fails:
            assert deleted == []
            assert all(r.status is TargetStatus.FAILED for r in report.results)
            assert (
                journal.read_bytes() if journal.exists() else None
            ) == journal_before
            assert tree_state(clone) == local_before
            return
        # a directory still in the clone is retracted whole (what is below it
        # on the archive is in the plan); one gone from it only as journaled
        for asset_id in deleted:
            if not spec.include_remote:
                assert asset_id not in remote_only, asset_id
                assert asset_id in planned or colleague[asset_id] in in_clone
        left = archive.paths(DANDISET)
        for r in report.results:
            rel = r.target.relpath
            below = [p for p in left if p.startswith(rel + "/")]
            if r.status is TargetStatus.DELETED:
                assert below == [] and not (clone / rel).exists(), rel
            if below:  # assets left: none of its local files was removed
                mine = [p for p in local_before if p.startswith(rel + "/")]
                assert all(os.path.lexists(clone / p) for p in mine), rel
        assert KEY not in json.dumps(report.as_records())
