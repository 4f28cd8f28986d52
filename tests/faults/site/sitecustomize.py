"""Start-up code for the ``dandi`` subprocesses of the fault suite (tests only).

``tests/faults`` puts this directory on ``PYTHONPATH`` of the ``dandi`` processes it
starts; Python imports ``sitecustomize`` at start-up.  The package never sees this
file.  It does nothing unless one of these variables is set:

``FAULTS_BLOCK=EVENT:CALL:NTH``
    A PEP 578 audit hook.  During the CALL-th local removal of a version directory
    (it starts when the directory ``version-*`` is opened as a directory), when
    the NTH audit event named EVENT is raised (``removal`` for that start,
    ``os.remove`` for each unlink, ``os.rmdir`` for each directory) -- that is,
    just *before* that operation happens -- it writes what it stopped at to the
    file ``FAULTS_BLOCKED_FILE`` and waits there for the test to SIGKILL the
    process (after ``FAULTS_BLOCK_TIMEOUT`` seconds, default 120, it exits with
    status 70 instead of going on).  This is how a test kills the real command at
    an exact point of a local removal without any hook in the product.

``FAULTS_FAST_RETRIES=N``
    Divide the sleeps of tenacity (the retry loop of dandi's API client, and the
    sleep the plugin's bounded client takes between attempts) by N, so that a
    persistent failure exhausts dandi's 12 attempts in about a second instead of
    about a minute.  The requests, their number and the statuses are unchanged
    (the time budget of ``--timeout`` still counts the waits at their full
    length).
"""

import os
import sys


def _install_block(spec: str) -> None:
    event, call, nth = spec.split(":")
    want_call, want_nth = int(call), int(nth)
    marker = os.environ["FAULTS_BLOCKED_FILE"]
    timeout = float(os.environ.get("FAULTS_BLOCK_TIMEOUT", "120"))
    state = {"calls": 0, "seen": 0, "tree": None}

    def hook(name: str, args: tuple) -> None:
        if (
            name == "open"
            and isinstance(args[0], str)
            and os.path.basename(args[0]).startswith("version-")
            and isinstance(args[2], int)
            and args[2] & os.O_DIRECTORY
        ):
            name = "removal"
            state["calls"] += 1
            if state["calls"] == want_call:
                state["tree"] = os.path.basename(args[0])
        if name != event or state["calls"] != want_call:
            return
        state["seen"] += 1
        if state["seen"] != want_nth:
            return
        import time

        with open(marker + ".tmp", "w", encoding="utf-8") as f:
            f.write(f"{state['tree']}\n{name} {args[0]!s}\n")
        os.replace(marker + ".tmp", marker)
        time.sleep(timeout)
        os._exit(70)

    sys.addaudithook(hook)


def _fast_retries(factor: float) -> None:
    import time

    import tenacity.nap

    class _Faster:
        @staticmethod
        def sleep(seconds: float) -> None:
            time.sleep(seconds / factor)

    tenacity.nap.time = _Faster  # nap.sleep() looks up its module's `time`


if os.environ.get("FAULTS_BLOCK"):
    _install_block(os.environ["FAULTS_BLOCK"])
if os.environ.get("FAULTS_FAST_RETRIES"):
    _fast_retries(float(os.environ["FAULTS_FAST_RETRIES"]))
