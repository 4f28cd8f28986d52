"""What the ``.pth`` start-up hook costs every Python start and every ``dandi`` call.

Builds two throw-away virtual environments that see the current environment's
packages (dandi...) through a plain path line: ``bare`` without this plugin, and
``plugin`` with this project's wheel installed (so its ``.pth`` runs at start-up).
Then prints, interleaving the runs, the median wall time of

- ``python -c pass`` in ``bare`` and in ``plugin``;
- ``dandi --help`` in ``bare``, in ``plugin``, and in ``plugin`` with
  ``DANDI_DISABLE_PLUGINS=1``;

and the ``-X importtime`` cost of the hook's own modules at start (the package's
``__init__`` and ``_host``; ``defaults``, which holds the switch, is read only
when dandi starts, and counted should it ever load at every start).
Goals: the plugin adds at most 2 ms to ``python -c pass`` and at most 5% to
``dandi --help``.

Usage: ``python benchmarks/bench_startup.py [--runs-python 60] [--runs-dandi 12]``
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

REPO = Path(__file__).resolve().parents[1]
HELP = "from dandi.cli.command import main; main(['--help'], prog_name='dandi')"
# The hook's own work in one dandi start: entry-point scan + loading `compute`.
HOOK_WORK = """
import os, time
import dandi.cli.command as c
del os.environ['DANDI_DISABLE_PLUGINS']
from dandi_compute_plugin._host import register_entry_point_commands
t0 = time.perf_counter()
added = register_entry_point_commands(c.main)
assert added == ['compute'], added
print(time.perf_counter() - t0)
"""


def make_venv(root: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(root)], check=True
    )
    python = root / "bin" / "python"
    site = subprocess.run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the current environment's packages without this project, as a plain path
    deps = root.parent / f"{root.name}-parent-packages"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if entry.suffix != ".pth" and "dandi_compute_plugin" not in entry.name:
            (deps / entry.name).symlink_to(entry)
    Path(site, "_parent_env.pth").write_text(f"{deps}\n")
    return python


def pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        check=True,
    )


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-python", type=int, default=60)
    parser.add_argument("--runs-dandi", type=int, default=12)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if k != "DANDI_DISABLE_PLUGINS"}
    env["DANDI_NO_ET"] = "1"
    off = dict(env, DANDI_DISABLE_PLUGINS="1")
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        tmp_path = Path(tmp)
        pip("wheel", "--no-deps", "--no-build-isolation", "-w", tmp, str(REPO))
        (wheel,) = tmp_path.glob("dandi_compute_plugin-*.whl")
        bare = make_venv(tmp_path / "bare")
        plugin = make_venv(tmp_path / "plugin")
        pip("--python", str(plugin), "install", "--no-deps", "--no-index", str(wheel))

        cases = {
            "python -c pass (no plugin)": ([str(bare), "-c", "pass"], env),
            "python -c pass (plugin)": ([str(plugin), "-c", "pass"], env),
        }
        dandi_cases = {
            "dandi --help (no plugin)": ([str(bare), "-c", HELP], env),
            "dandi --help (plugin)": ([str(plugin), "-c", HELP], env),
            "dandi --help (plugin, DANDI_DISABLE_PLUGINS=1)": (
                [str(plugin), "-c", HELP],
                off,
            ),
        }
        results: dict[str, list[float]] = {k: [] for k in [*cases, *dandi_cases]}
        for group, runs in ((cases, args.runs_python), (dandi_cases, args.runs_dandi)):
            for cmd, e in group.values():  # warm-up
                timed(cmd, e)
            for _ in range(runs):
                for name, (cmd, e) in group.items():
                    results[name].append(timed(cmd, e))

        hook_work = statistics.median(
            float(
                subprocess.run(
                    [str(plugin), "-c", HOOK_WORK],
                    env=off,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for _ in range(5)
        )
        imp = subprocess.run(
            [str(plugin), "-X", "importtime", "-c", "pass"],
            capture_output=True,
            text=True,
            env=env,
        ).stderr
        hook_us = sum(
            int(line.split("|")[0].split(":")[1])
            for line in imp.splitlines()
            if line.strip().endswith(
                (
                    "dandi_compute_plugin",
                    "dandi_compute_plugin._host",
                    "dandi_compute_plugin.defaults",
                )
            )
        )
        extra = {
            line.split("|")[-1].strip()
            for line in imp.splitlines()
            if "|" in line and "import time:" in line
        }

    med = {k: statistics.median(v) * 1000 for k, v in results.items()}
    for name, ms in med.items():
        print(f"{name:50s} {ms:8.2f} ms (median)")
    py_added = med["python -c pass (plugin)"] - med["python -c pass (no plugin)"]
    dandi_ratio = med["dandi --help (plugin)"] / med["dandi --help (no plugin)"] - 1
    off_ratio = (
        med["dandi --help (plugin, DANDI_DISABLE_PLUGINS=1)"]
        / med["dandi --help (no plugin)"]
        - 1
    )
    print(f"hook modules' own import time (-X importtime): {hook_us} us")
    hook_share = hook_work * 1000 / med["dandi --help (no plugin)"]
    print(
        f"hook's work inside dandi (entry points + loading compute), in-process: "
        f"{hook_work * 1000:.2f} ms = {hook_share:.1%} of dandi --help"
    )
    print(f"modules imported at start-up with the plugin: {len(extra)}")
    print(
        f"python -c pass: plugin adds {py_added:+.2f} ms (goal <= 2 ms: "
        f"{'met' if py_added <= 2 else 'NOT met'})"
    )
    print(
        f"dandi --help: plugin adds {dandi_ratio:+.1%} (goal <= 5%: "
        f"{'met' if dandi_ratio <= 0.05 else 'NOT met'}); "
        f"with DANDI_DISABLE_PLUGINS=1: {off_ratio:+.1%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
