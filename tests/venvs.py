"""Throw-away virtual environments for tests that need packages really installed.

Each sees the test environment's packages (dandi, click...) through a plain path
line, but not this project: pip installs this project's wheel (or an editable
install) and test hook packages into it for real, and can never touch the test
environment itself.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys
import sysconfig

from .subprocesses import REPO, subprocess_env

HELP = "import sys; from dandi.cli.command import main; main(prog_name='dandi')"


def pip(*args: str, python: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    if python is not None:
        cmd += ["--python", str(python)]
    proc = subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=subprocess_env(), timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def parent_packages(root: Path) -> Path:
    """The test environment's packages (dandi...) without this project.

    A directory of links to every entry of the running environment's
    site-packages except this project's files and the ``.pth`` files, for a plain
    path line in a throw-away environment: pip there neither sees this project
    as installed nor could ever touch the parent environment.
    """
    deps = root.parent / f"{root.name}-parent-packages"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.suffix == ".pth" or "dandi_compute_plugin" in entry.name:
            continue
        (deps / entry.name).symlink_to(entry)
    return deps


class Venv:
    """A virtual environment that sees the test environment's packages (dandi...)."""

    def __init__(self, root: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True
        )
        self.root = root
        self.python = root / "bin" / "python"
        out = subprocess.run(
            [
                str(self.python),
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        self.site = Path(out.stdout.strip())
        (self.site / "_parent_env.pth").write_text(f"{parent_packages(root)}\n")

    def install(self, *args: str) -> None:
        pip(
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            *args,
            python=self.python,
        )

    def uninstall(self, name: str) -> None:
        pip("uninstall", "-y", name, python=self.python)

    def dandi(
        self, *args: str, env: dict[str, str] | None = None, **extra: str
    ) -> subprocess.CompletedProcess:
        """Run ``dandi ARGS`` with this environment's Python."""
        env = dict(env or subprocess_env(), **extra)
        return subprocess.run(
            [str(self.python), "-c", HELP, *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=300,
        )


def build_wheel(out: Path) -> Path:
    """Build this project's wheel into ``out`` (no network, no build isolation)."""
    pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        str(out),
        str(REPO),
    )
    (found,) = out.glob("dandi_compute_plugin-*.whl")
    return found
