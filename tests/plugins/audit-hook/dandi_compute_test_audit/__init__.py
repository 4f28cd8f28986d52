"""A test hook package: vetoes listed versions, writes an audit trail.

Inert unless configured through the environment, so that installing it changes
nothing for other tests:

- ``TEST_AUDIT_VETO``: comma-separated full directory versions to veto;
- ``TEST_AUDIT_LOG``: a file that gets one JSON line per ended target and one at
  the end of the run;
- ``TEST_AUDIT_FAIL``: ``veto``, ``before`` or ``after`` makes that hook raise;
  ``veto:exit`` or ``before:interrupt`` makes it raise ``SystemExit(0)`` or
  ``KeyboardInterrupt`` instead, as a careless plugin might.
"""

import json
import os

from dandi_compute_plugin import hookimpl


def _fail(hook):
    wanted = os.environ.get("TEST_AUDIT_FAIL", "")
    if wanted == hook:
        raise RuntimeError(f"the audit plugin's {hook} hook is broken on purpose")
    if wanted == f"{hook}:exit":
        raise SystemExit(0)
    if wanted == f"{hook}:interrupt":
        raise KeyboardInterrupt


def _log(record):
    log = os.environ.get("TEST_AUDIT_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")


@hookimpl
def dandi_compute_veto_deletion(target):
    _fail("veto")
    vetoed = {v for v in os.environ.get("TEST_AUDIT_VETO", "").split(",") if v}
    if target.version in vetoed:
        return f"version {target.version} is frozen by the audit policy"
    return None


@hookimpl
def dandi_compute_before_target(target):
    _fail("before")


@hookimpl
def dandi_compute_after_target(target, result):
    _fail("after")
    _log(
        {
            "event": "target",
            "path": target.relpath,
            "status": str(result.status),
            "deleted_assets": result.deleted_assets,
            "planned_assets": len(target.assets),
        }
    )


@hookimpl
def dandi_compute_run_finished(report):
    _log({"event": "finished", "exit_code": report.exit_code})
