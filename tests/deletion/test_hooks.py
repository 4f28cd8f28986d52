"""Deletion policy hooks through the Python API (plugin objects), every rule.

dandi's real client talks to the fake archive on 127.0.0.1; the clone is a real
directory tree; plugins are real pluggy plugins registered through
``delete_dandiset_version(..., plugins=[...])`` / ``run_deletion``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
import logging
from pathlib import Path
import sys
import threading

import pytest

from dandi_compute_plugin import delete_dandiset_version, hookimpl
from dandi_compute_plugin._limits import call_within
from dandi_compute_plugin.deletion import run_deletion
from dandi_compute_plugin.errors import DeletionIncomplete
from dandi_compute_plugin.plugins import PluginHooks, list_plugins

from ..archive import FakeArchive
from ..archive.clones import DANDISET, seed, tree_state, under
from ..records import example_paths, version_files

NO_SESSION = (
    "derivatives/dandiset-001469/sub-Chronic-Implant-2/pipeline-aind+ephys/"
    "version-v1.1.1+b268fd2"
)
DOUBLE = (
    "derivatives/dandiset-001470/sub-M489/ses-2024-08-05/pipeline-aind+ephys/"
    "version-v1.1.1+b268fd2+b268fd2"
)


@pytest.fixture
def clone(keyed: FakeArchive, tmp_path: Path) -> Path:
    return seed(keyed, tmp_path / "clone", example_paths())


def results_by_path(report) -> dict[str, object]:
    return {r.target.relpath: r for r in report.results}


class VetoDouble:
    """Vetoes the doubly suffixed version; records what it saw."""

    def __init__(self) -> None:
        self.seen: list = []

    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        self.seen.append(target)
        if target.version.endswith("+b268fd2+b268fd2"):
            return "doubly suffixed: under review"
        return None


class VetoNoSession:
    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        return "no session level" if target.session is None else ""


class Recorder:
    """Before, after and end hooks that record their calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def dandi_compute_before_target(self, target):
        self.calls.append(("before", target.relpath))

    @hookimpl
    def dandi_compute_after_target(self, target, result):
        self.calls.append(("after", f"{target.relpath}:{result.status.value}"))

    @hookimpl
    def dandi_compute_run_finished(self, report):
        self.calls.append(("finished", str(report.exit_code)))


def test_every_veto_is_consulted_and_any_reason_vetoes(
    keyed: FakeArchive, clone: Path
) -> None:
    double, no_session = VetoDouble(), VetoNoSession()
    local_before = tree_state(clone / DOUBLE)
    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, plugins=[double, no_session]
    )
    by_path = results_by_path(report)
    assert len(double.seen) == 5  # every target reached every veto hook
    assert by_path[DOUBLE].status.value == "refused"
    assert "vetoed by plugin 'VetoDouble': doubly suffixed" in by_path[DOUBLE].reason
    assert by_path[NO_SESSION].status.value == "refused"
    assert "no session level" in by_path[NO_SESSION].reason
    # the vetoed targets are untouched, locally and remotely; the others are gone
    assert tree_state(clone / DOUBLE) == local_before
    assert (clone / NO_SESSION).is_dir()
    remaining = keyed.paths(DANDISET)
    assert under(remaining, DOUBLE) and under(remaining, NO_SESSION)
    deleted = [p for p, r in by_path.items() if r.status.value == "deleted"]
    assert len(deleted) == 3
    for path in deleted:
        assert not (clone / path).exists()
        assert not under(remaining, path)
    assert report.exit_code == 1


def test_target_carries_what_plugins_need(keyed: FakeArchive, clone: Path) -> None:
    seen = VetoDouble()
    run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True, plugins=[seen]
    )
    target = next(t for t in seen.seen if t.relpath == DOUBLE)
    assert target.path == clone / DOUBLE
    assert target.version == "v1.1.1+b268fd2+b268fd2"
    assert target.dandiset == "001470"
    assert {a.path for a in target.assets} == set(under(keyed.paths(DANDISET), DOUBLE))
    ids = keyed.asset_ids(DANDISET)
    assert all(a.asset_id == ids[a.path] and a.size > 0 for a in target.assets)
    with pytest.raises(AttributeError):
        target.version = "other"  # frozen


def test_dry_run_shows_vetoes_and_changes_nothing(
    keyed: FakeArchive, clone: Path
) -> None:
    before = tree_state(clone)
    recorder = Recorder()
    report = run_deletion(
        clone,
        "v1.1.1",
        dandi_instance=keyed.url,
        dry_run=True,
        plugins=[VetoDouble(), recorder],
    )
    by_path = results_by_path(report)
    assert by_path[DOUBLE].status.value == "refused"
    assert "doubly suffixed" in by_path[DOUBLE].as_record()["reason"]
    assert sum(r.status.value == "planned" for r in report.results) == 4
    assert recorder.calls == []  # nothing happens in a dry run
    assert tree_state(clone) == before
    assert keyed.count("DELETE") == 0


def test_a_raising_veto_blocks_its_target_naming_the_plugin(
    keyed: FakeArchive, clone: Path
) -> None:
    class Crashing:
        @hookimpl
        def dandi_compute_veto_deletion(self, target):
            if target.relpath == NO_SESSION:
                raise KeyError("catalogue unreachable")

    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, plugins=[Crashing()]
    )
    result = results_by_path(report)[NO_SESSION]
    assert result.status.value == "refused"
    assert "'Crashing'" in result.reason and "catalogue unreachable" in result.reason
    assert (clone / NO_SESSION).is_dir()
    assert under(keyed.paths(DANDISET), NO_SESSION)
    assert sum(r.status.value == "deleted" for r in report.results) == 4


def test_a_raising_before_hook_aborts_only_its_target(
    keyed: FakeArchive, clone: Path
) -> None:
    class ArchiveLogsFirst:
        @hookimpl
        def dandi_compute_before_target(self, target):
            if target.relpath == DOUBLE:
                raise OSError("log archive is full")

    recorder = Recorder()
    report = run_deletion(
        clone,
        "v1.1.1",
        dandi_instance=keyed.url,
        plugins=[ArchiveLogsFirst(), recorder],
    )
    result = results_by_path(report)[DOUBLE]
    assert result.status.value == "refused"
    assert (
        "'ArchiveLogsFirst'" in result.reason and "log archive is full" in result.reason
    )
    assert (clone / DOUBLE).is_dir()
    assert under(keyed.paths(DANDISET), DOUBLE)
    assert sum(r.status.value == "deleted" for r in report.results) == 4
    # after-hooks hear about it too, and the run ends once
    assert ("after", f"{DOUBLE}:refused") in recorder.calls
    assert recorder.calls[-1] == ("finished", "1")


def test_after_and_end_hooks_see_results_and_their_errors_are_only_logged(
    keyed: FakeArchive, clone: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Noisy:
        @hookimpl
        def dandi_compute_after_target(self, target, result):
            raise RuntimeError("audit server down")

        @hookimpl
        def dandi_compute_run_finished(self, report):
            raise RuntimeError("chat channel down")

    recorder = Recorder()
    caplog.set_level(logging.ERROR, logger="dandi.compute")
    deleted = delete_dandiset_version(
        clone, "v1.1.1", dandi_instance=keyed.url, plugins=[Noisy(), recorder]
    )
    assert len(deleted) == 5 and all(not p.exists() for p in deleted)
    befores = [c for c in recorder.calls if c[0] == "before"]
    afters = [c for c in recorder.calls if c[0] == "after"]
    assert len(befores) == len(afters) == 5
    assert all(c[1].endswith(":deleted") for c in afters)
    assert recorder.calls[-1] == ("finished", "0")
    assert "audit server down" in caplog.text and "'Noisy'" in caplog.text
    assert "chat channel down" in caplog.text


def test_added_targets_are_validated_like_scanned_ones(
    keyed: FakeArchive, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hidden = "derivatives/dandiset-000777/.staging/sub-x/pipeline-p/version-v1.1.1"
    extra = version_files("000777", "x", "v1.1.1", pipeline="p")
    paths = example_paths() + [f"{hidden}/code/run.sh"] + extra
    clone = seed(keyed, tmp_path / "clone", paths)
    outside = tmp_path / "outside" / "version-v1.1.1"
    outside.mkdir(parents=True)
    (clone / "derivatives/dandiset-000777/sub-link").symlink_to(tmp_path / "outside")

    class Adder:
        @hookimpl
        def dandi_compute_add_targets(self, dandiset_directory, version):
            return [
                hidden,  # relative, valid (the scan skips hidden directories)
                str(outside),  # outside the clone
                "derivatives/dandiset-000777/sub-link/version-v1.1.1",  # via a link
                "derivatives/dandiset-000233/sub-CGM3/ses-CGM3/pipeline-aind+ephys/"
                "version-v1.1.0",  # another version
            ]

    caplog.set_level(logging.WARNING, logger="dandi.compute")
    report = run_deletion(clone, "v1.1.1", dandi_instance=keyed.url, plugins=[Adder()])
    by_path = results_by_path(report)
    assert by_path[hidden].status.value == "deleted"
    assert not (clone / hidden).exists()
    assert not under(keyed.paths(DANDISET), hidden)
    # 6 scanned (5 + dandiset-000777's) + the hidden one + the one via a link,
    # refused by the rule of every target's place (reported, not ignored)
    assert len(by_path) == 8
    via_link = by_path["derivatives/dandiset-000777/sub-link/version-v1.1.1"]
    assert via_link.status.value == "refused"
    assert "sub-link is a symbolic link" in via_link.reason
    assert (outside / "version-v1.1.1").is_dir() or outside.is_dir()
    assert outside.is_dir()
    assert (
        clone / "derivatives/dandiset-000233/sub-CGM3/ses-CGM3/"
        "pipeline-aind+ephys/version-v1.1.0"
    ).is_dir()
    assert str(outside) in caplog.text and "version-v1.1.0" in caplog.text


def test_disabled_plugins_do_not_run(
    keyed: FakeArchive, clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = run_deletion(
        clone,
        "v1.1.1",
        dandi_instance=keyed.url,
        dry_run=True,
        plugins=[VetoDouble()],
        disable_plugins=["VetoDouble"],
    )
    assert all(r.status.value == "planned" for r in report.results)
    monkeypatch.setenv("DANDI_COMPUTE_DISABLE_PLUGINS", "VetoNoSession, ")
    report = run_deletion(
        clone,
        "v1.1.1",
        dandi_instance=keyed.url,
        dry_run=True,
        plugins=[VetoNoSession(), VetoDouble()],
    )
    refused = [r.target.relpath for r in report.results if r.status.value == "refused"]
    assert refused == [DOUBLE]


def test_deletion_incomplete_names_the_veto(keyed: FakeArchive, clone: Path) -> None:
    with pytest.raises(DeletionIncomplete, match="doubly suffixed"):
        delete_dandiset_version(
            clone, "v1.1.1", dandi_instance=keyed.url, plugins=[VetoDouble()]
        )
    assert (clone / DOUBLE).is_dir()


def test_plugin_infos_name_the_hooks() -> None:
    hooks = PluginHooks([Recorder(), VetoDouble()], load_entry_points=False)
    infos = {i.name: i for i in hooks.infos}
    assert infos["Recorder"].hooks == (
        "dandi_compute_after_target",
        "dandi_compute_before_target",
        "dandi_compute_run_finished",
    )
    assert infos["VetoDouble"].as_record()["hooks"] == ["dandi_compute_veto_deletion"]
    assert all(i.status == "loaded" for i in infos.values())


def test_list_plugins_shows_each_installed_entry_point_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two plugins really installed (a dist-info on the path), one of them twice
    for name in ("policy_a", "policy_b"):
        (tmp_path / f"{name}.py").write_text(
            "from dandi_compute_plugin import hookimpl\n"
            "@hookimpl\n"
            "def dandi_compute_veto_deletion(target):\n"
            "    return None\n"
        )
    info = tmp_path / "policies-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: policies\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[dandi_compute]\npolicy_a = policy_a\npolicy_b = policy_b\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("policy_a", "policy_b"):  # imported by the listing: forgotten after
        monkeypatch.delitem(sys.modules, name, raising=False)
    installed = sorted({ep.name for ep in entry_points(group="dandi_compute")})
    assert {"policy_a", "policy_b"} <= set(installed)

    listed = {i.name: i for i in list_plugins()}
    assert sorted(listed) == installed
    assert listed["policy_a"].status == "loaded"
    assert listed["policy_a"].hooks == ("dandi_compute_veto_deletion",)
    disabled = {i.name: i.status for i in list_plugins(disable=["policy_b"])}
    assert disabled["policy_b"] == "disabled" and disabled["policy_a"] == "loaded"


def test_an_invalid_hook_implementation_fails_closed() -> None:
    class Misspelt:
        @hookimpl
        def dandi_compute_veto_deletion(self, target, extra_argument):
            return "never"

    hooks = PluginHooks([Misspelt()], load_entry_points=False)
    assert [i.status for i in hooks.infos] == ["failed"]
    reasons = hooks.veto(target=None)
    assert (
        len(reasons) == 1
        and "Misspelt" in reasons[0]
        and "failed to load" in reasons[0]
    )


class _Good:
    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        return None


class _MisspeltOptional(_Good):
    # pluggy's check_pending() lets an optional hook without a spec pass: the
    # plugin must fail all the same, its veto would never be asked
    @hookimpl(optionalhook=True)
    def dandi_compute_veto_delation(self, target):
        return "never asked"


class _Misspelt(_Good):
    @hookimpl
    def dandi_compute_veto_delation(self, target):
        return "never asked"


class _Unmarked:
    def dandi_compute_veto_deletion(self, target):  # no @hookimpl
        return "never asked"


@pytest.mark.parametrize(
    ("plugin", "why"),
    [
        (_Misspelt, "dandi_compute_veto_delation (no such hook)"),
        (_MisspeltOptional, "dandi_compute_veto_delation (no such hook)"),
        (_Unmarked, "dandi_compute_veto_deletion (not marked @hookimpl)"),
    ],
)
def test_a_hook_that_would_never_be_called_fails_only_its_plugin(
    plugin: type, why: str
) -> None:
    hooks = PluginHooks([plugin(), VetoDouble()], load_entry_points=False)
    status = {i.name: (i.status, i.error) for i in hooks.infos}
    assert status["VetoDouble"] == ("loaded", None)
    state, error = status[plugin.__name__]
    assert state == "failed" and why in error, error
    # its good hooks are not called either: the whole plugin is out, and its
    # failure vetoes every target
    assert [name for name, _ in hooks._impls("dandi_compute_veto_deletion")] == [
        "VetoDouble"
    ]
    reasons = hooks.veto(target=None)
    assert any(plugin.__name__ in r and "failed to load" in r for r in reasons)


def test_a_plan_is_executed_with_the_hooks_it_was_made_with(
    keyed: FakeArchive, clone: Path
) -> None:
    from dandi_compute_plugin.deletion import execute_plan, plan_deletion

    recorder = Recorder()
    plan = plan_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, plugins=[VetoDouble(), recorder]
    )
    report = execute_plan(plan)
    assert results_by_path(report)[DOUBLE].status.value == "refused"
    assert sum(c[0] == "before" for c in recorder.calls) == 4
    assert recorder.calls[-1] == ("finished", "1")


class Abrupt:
    """Hooks that try to end the run, or never return, on chosen targets."""

    def __init__(self, release) -> None:
        self.release = release

    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        if target.relpath == NO_SESSION:
            raise SystemExit(0)
        if target.relpath == DOUBLE:
            self.release.wait(30)  # hangs past the time limit
        return None

    @hookimpl
    def dandi_compute_before_target(self, target):
        if target.subject == "CGM3":
            raise KeyboardInterrupt

    @hookimpl
    def dandi_compute_run_finished(self, report):
        self.release.wait(30)


def test_hooks_cannot_end_the_run_nor_hang_it(
    keyed: FakeArchive,
    clone: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DANDI_COMPUTE_HOOK_TIMEOUT", "1")
    release = threading.Event()
    try:
        report = run_deletion(
            clone, "v1.1.1", dandi_instance=keyed.url, plugins=[Abrupt(release)]
        )
    finally:
        release.set()
    results = results_by_path(report)
    assert "SystemExit" in results[NO_SESSION].reason
    assert "did not return within 1 s" in results[DOUBLE].reason
    cgm3 = [r for r in report.results if r.target.subject == "CGM3"]
    assert cgm3 and all("KeyboardInterrupt" in r.reason for r in cgm3)
    assert {r.status.value for r in [results[NO_SESSION], results[DOUBLE], *cgm3]} == {
        "refused"
    }
    # every other target went on, and the end-of-run hook's hang was only logged
    others = [
        r
        for r in report.results
        if r not in [results[NO_SESSION], results[DOUBLE], *cgm3]
    ]
    assert others and all(r.status.value == "deleted" for r in others)
    assert (
        "dandi_compute_run_finished" in caplog.text and "did not return" in caplog.text
    )


@pytest.mark.parametrize("value", ["soon", "0", "-1", "nan", "inf", "1e9", "1e300"])
def test_a_hook_time_limit_that_no_wait_can_take_is_an_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # a limit past what a thread can wait for would fail every hook call
    # (failing closed, with an overflow for a reason) instead of being named
    monkeypatch.setenv("DANDI_COMPUTE_HOOK_TIMEOUT", value)
    with pytest.raises(ValueError, match="DANDI_COMPUTE_HOOK_TIMEOUT"):
        PluginHooks([], load_entry_points=False)


def test_a_hook_time_limit_just_under_the_ceiling_is_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DANDI_COMPUTE_HOOK_TIMEOUT", "999999999")
    hooks = PluginHooks([], load_entry_points=False)
    assert hooks.timeout == 999999999.0
    assert call_within(hooks.timeout, lambda: "done") == "done"


def test_disabling_one_plugin_leaves_the_others_running(
    keyed: FakeArchive, clone: Path
) -> None:
    recorder, double = Recorder(), VetoDouble()
    report = run_deletion(
        clone,
        "v1.1.1",
        dandi_instance=keyed.url,
        plugins=[VetoNoSession(), double, recorder],
        disable_plugins=["VetoNoSession"],
    )
    by_path = results_by_path(report)
    assert by_path[DOUBLE].status.value == "refused"  # VetoDouble ran
    assert {r.status.value for p, r in by_path.items() if p != DOUBLE} == {"deleted"}
    kinds = {kind for kind, _ in recorder.calls}
    assert kinds == {"before", "after", "finished"}  # and so did Recorder


class EndlessTargets:
    """An add-targets generator that never ends; says when it was closed."""

    def __init__(self) -> None:
        self.closed = threading.Event()
        self.yielded = 0

    @hookimpl
    def dandi_compute_add_targets(self, dandiset_directory, version):
        try:
            while True:
                self.yielded += 1
                yield Path(dandiset_directory, "derivatives", "nowhere")
        finally:
            self.closed.set()


def test_an_endless_generator_hook_is_stopped_at_its_time_limit(
    keyed: FakeArchive, clone: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DANDI_COMPUTE_HOOK_TIMEOUT", "0.5")
    endless = EndlessTargets()
    report = run_deletion(
        clone, "v1.1.1", dandi_instance=keyed.url, dry_run=True, plugins=[endless]
    )
    assert report.results and all(r.status.value == "planned" for r in report.results)
    # its body ran in the hook's thread, within the limit, and was closed
    assert endless.closed.wait(60)


class GeneratorVeto:
    @hookimpl
    def dandi_compute_veto_deletion(self, target):
        if target.version.endswith("+b268fd2+b268fd2"):
            yield "doubly suffixed, from a generator"


def test_a_generator_veto_is_consumed_and_vetoes(
    keyed: FakeArchive, clone: Path
) -> None:
    report = run_deletion(
        clone,
        "v1.1.1",
        dandi_instance=keyed.url,
        dry_run=True,
        plugins=[GeneratorVeto()],
    )
    by_path = results_by_path(report)
    assert by_path[DOUBLE].status.value == "refused"
    assert "doubly suffixed, from a generator" in by_path[DOUBLE].reason
    assert {r.status.value for p, r in by_path.items() if p != DOUBLE} == {"planned"}
