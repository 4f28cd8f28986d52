"""``dandi compute`` inside the stock ``dandi``: the ``.pth`` post-import hook.

Every test runs real subprocesses in environments where packages are really
installed: the test environment itself (tox installs this package as a wheel) and
throw-away virtual environments built here, into which pip installs this project's
wheel, an editable install, and a small extra distribution of ``dandi.commands``
entry points (one whose import raises, one named like dandi's ``delete``).
"""

from __future__ import annotations

import json
from pathlib import Path
import textwrap

import pytest

from .subprocesses import REPO, run_dandi, run_python, subprocess_env
from .venvs import Venv

pytestmark = pytest.mark.installed


def commands_of(help_text: str) -> list[str]:
    lines = help_text.split("Commands:", 1)[1].splitlines()
    return [line.split()[0] for line in lines if line.strip()]


@pytest.fixture(scope="session")
def test_plugins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A distribution with three ``dandi.commands``: working, broken, and ``delete``."""
    root = tmp_path_factory.mktemp("dandi-cmd-testplugins")
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "dandi-cmd-testplugins"
            version = "1.0"

            [project.entry-points."dandi.commands"]
            hello = "cmd_testplugins.good:hello"
            broken = "cmd_testplugins.broken:cmd"
            delete = "cmd_testplugins.good:fake_delete"

            [tool.hatch.build.targets.wheel]
            packages = ["cmd_testplugins"]
            """
        )
    )
    pkg = root / "cmd_testplugins"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "good.py").write_text(
        textwrap.dedent(
            """
            import click

            @click.command()
            def hello():
                "Say hello from a test plugin."
                click.echo("hello from a plugin")

            @click.command()
            def fake_delete():
                "A plugin command that must never replace dandi's delete."
                click.echo("SHADOWED")
            """
        )
    )
    (pkg / "broken.py").write_text(
        "raise RuntimeError('boom: this plugin is broken')\n"
    )
    return root


def test_dandi_help_lists_compute(installed: Path) -> None:
    proc = run_dandi("--help")
    assert proc.returncode == 0, proc.stderr
    assert "compute" in commands_of(proc.stdout)
    sub = run_dandi("compute", "--help")
    assert sub.returncode == 0, sub.stderr
    assert "scan-versions" in commands_of(sub.stdout)


def test_disable_plugins_env_loads_no_plugin_command(installed: Path) -> None:
    env = subprocess_env(DANDI_DISABLE_PLUGINS="1")
    proc = run_dandi("--help", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "compute" not in commands_of(proc.stdout)
    assert "ls" in commands_of(proc.stdout)
    proc = run_dandi("compute", "--help", env=env)
    assert proc.returncode == 2
    assert "No such command 'compute'" in proc.stderr
    # "0" means not disabled
    assert "compute" in commands_of(
        run_dandi("--help", env=subprocess_env(DANDI_DISABLE_PLUGINS="0")).stdout
    )


def _modules_after_help(**env: str) -> set[str]:
    code = (
        "import json, sys\n"
        "from dandi.cli.command import main\n"
        "try:\n    main(['--help'], prog_name='dandi')\n"
        "except SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    proc = run_python(code, env=subprocess_env(**env))
    assert "compute" in proc.stdout or env, proc.stdout
    return set(json.loads(proc.stderr.strip().splitlines()[-1]))


def test_dandi_help_imports_nothing_heavy_because_of_the_plugin(
    installed: Path,
) -> None:
    with_plugin = _modules_after_help()
    without = _modules_after_help(DANDI_DISABLE_PLUGINS="1")
    added = with_plugin - without
    assert "dandi_compute_plugin.cli" in added  # the plugin really was active
    heavy = {m for m in added if m.split(".")[0] in ("json", "pluggy", "requests")}
    heavy |= {m for m in added if m.startswith("dandi.") and m != "dandi.cli.formatter"}
    assert heavy == set()
    for name in ("pluggy", "dandi.dandiapi"):
        assert name not in added
    assert not any(
        m.startswith("dandi_compute_plugin.")
        and m.split(".")[1] in ("manifest", "deletion", "plugins", "hookspecs")
        for m in with_plugin
    )


def test_existing_command_is_never_registered_twice(installed: Path) -> None:
    """A dandi that already has ``compute`` (loading entry points itself) keeps it."""
    code = textwrap.dedent(
        """
        import click, json
        from dandi_compute_plugin import _host
        _host.uninstall()                      # this "future dandi" needs no hook
        import dandi.cli.command as c
        own = click.Command("compute", callback=lambda: None)
        c.main.add_command(own)                # registered by dandi itself
        _host.install()                        # our hook runs anyway
        again = _host.register_entry_point_commands(c.main)
        print(json.dumps({"same": c.main.commands["compute"] is own, "again": again}))
        """
    )
    proc = run_python(code, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"same": True, "again": []}


def test_broken_and_shadowing_plugins_leave_dandi_working(
    tmp_path: Path, wheel: Path, test_plugins: Path
) -> None:
    venv = Venv(tmp_path / "venv")
    venv.install(str(wheel))
    venv.install(str(test_plugins))
    proc = venv.dandi("--help")
    assert proc.returncode == 0, proc.stderr
    commands = commands_of(proc.stdout)
    assert {"compute", "hello", "delete", "ls"} <= set(commands)
    assert "broken" not in commands
    assert "dandi-cmd-testplugins" in proc.stderr
    assert "boom: this plugin is broken" in proc.stderr
    # dandi's delete is the built-in one, and the attempt is reported
    delete = venv.dandi("delete", "--help")
    assert delete.returncode == 0
    assert "Delete dandisets and assets from the server" in delete.stdout
    assert "SHADOWED" not in delete.stdout
    assert "shadow" in proc.stderr and "'delete'" in proc.stderr
    hello = venv.dandi("hello")
    assert (hello.returncode, hello.stdout.strip()) == (0, "hello from a plugin")
    # the switch-off covers every plugin command
    off = venv.dandi("--help", DANDI_DISABLE_PLUGINS="1")
    assert off.returncode == 0
    assert not {"compute", "hello"} & set(commands_of(off.stdout))
    assert off.stderr == ""


def test_uninstall_leaves_no_pth_and_dandi_works(tmp_path: Path, wheel: Path) -> None:
    venv = Venv(tmp_path / "venv")
    before = venv.dandi("--help")
    assert "compute" not in commands_of(before.stdout)
    venv.install(str(wheel))
    pth = venv.site / "dandi_compute_plugin.pth"
    assert pth.read_text().startswith("import dandi_compute_plugin._host")
    assert "compute" in commands_of(venv.dandi("--help").stdout)
    venv.uninstall("dandi-compute-plugin")
    assert not pth.exists()
    assert not list(venv.site.glob("dandi_compute_plugin*"))
    after = venv.dandi("--help")
    assert after.returncode == 0
    assert after.stdout == before.stdout
    assert after.stderr == before.stderr == ""


def test_editable_install_gets_the_hook_too(tmp_path: Path) -> None:
    venv = Venv(tmp_path / "venv")
    venv.install("-e", str(REPO))
    assert (venv.site / "dandi_compute_plugin.pth").exists()
    proc = venv.dandi("compute", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "scan-versions" in commands_of(proc.stdout)
    venv.uninstall("dandi-compute-plugin")
    assert not (venv.site / "dandi_compute_plugin.pth").exists()
    assert "compute" not in commands_of(venv.dandi("--help").stdout)


def test_a_switch_that_cannot_be_read_leaves_dandi_as_shipped() -> None:
    """The finder reads the switch when dandi starts: should that fail (our
    installation broken), ``dandi`` still imports, without our commands."""
    code = (
        "import sys\n"
        "from dandi_compute_plugin import _host\n"
        "_host.install()\n"
        "sys.modules['dandi_compute_plugin.defaults'] = None  # importing it fails\n"
        "from dandi.cli.command import main\n"
        "print('compute' in main.commands, 'ls' in main.commands)\n"
    )
    proc = run_python(code, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True"]
