"""The contract for deletion policy plugins: every hook of ``dandi compute``.

Policy plugins decide what ``dandi compute delete-version`` (and
:func:`~dandi_compute_plugin.delete_dandiset_version`) may delete and what else
happens around a deletion: protect published or referenced work, write an audit
trail, notify a channel, archive logs first.

Writing a plugin
----------------
A plugin is any module or object with functions named like the hooks below,
decorated with :data:`hookimpl`; it implements only the hooks it needs, and each
implementation may accept only some of a hook's arguments::

    from dandi_compute_plugin import hookimpl

    @hookimpl
    def dandi_compute_veto_deletion(target):
        if (target.path / "KEEP").exists():
            return "a KEEP file protects it"

Make it found by ``dandi`` with an entry point of the group ``dandi_compute`` in
your package's ``pyproject.toml`` (the entry-point name is the plugin's name, used
by ``--disable-plugin``)::

    [project.entry-points.dandi_compute]
    keep-file = "my_package.hooks"

or pass plugin objects to the Python API:
``delete_dandiset_version(..., plugins=[my_plugin])``.
``dandi compute plugins`` lists what is loaded.

Rules
-----
- **Fail closed.**  An exception raised by :func:`dandi_compute_veto_deletion` or
  :func:`dandi_compute_before_target` -- ``SystemExit`` and ``KeyboardInterrupt``
  included: a hook cannot end the run -- blocks that target (it is reported as
  refused, naming the plugin and the error); a plugin that cannot even be imported
  blocks every target of a deletion (disable it explicitly to go on).
- **Time limit.**  Each call runs in a thread of its own and may take
  ``DANDI_COMPUTE_HOOK_TIMEOUT`` seconds (default 60): a veto or before-target
  hook that takes longer blocks its target, one of the other hooks is logged, and
  the run goes on without waiting for it.  A hook that returns a generator (or
  any other iterator) is consumed, into a list, within the same limit; one still
  yielding at the limit is closed.
- **No typos.**  A function named ``dandi_compute_*`` that is no hook of this
  file, or one without ``@hookimpl``, would never be called: its plugin is
  ``failed`` and blocks deletions like a plugin that cannot be imported.
- **Standard output is the report's.**  What a hook (or a thread it starts, or a
  program it runs) writes to standard output goes to standard error while
  ``dandi compute delete-version`` or ``move`` runs, so that ``-f json`` stays
  parseable.
- **After the fact, only logged.**  An exception raised by
  :func:`dandi_compute_after_target` or :func:`dandi_compute_run_finished` is
  logged with the plugin's name; the deletion results stand.
- **Every implementation runs.**  All implementations of a hook are called (none
  of these hooks is ``firstresult``); for vetoes, any reason vetoes.
- **Dry runs** (``--dry-run``) consult :func:`dandi_compute_add_targets` and
  :func:`dandi_compute_veto_deletion` and show the vetoes; the other hooks are not
  called, since nothing happens.
- **Disabling.**  ``--disable-plugin NAME`` (repeatable) or the environment
  variable ``DANDI_COMPUTE_DISABLE_PLUGINS`` (comma-separated names) runs without
  the named plugins.
- Hook wrappers (``wrapper=True``) are not supported: each implementation is
  called on its own so that its result or error can be attributed to it.

The objects
-----------
``target`` is a frozen :class:`~dandi_compute_plugin.deletion.DeletionTarget`:
``.path`` (the local version directory, a :class:`pathlib.Path`), ``.relpath``
(its POSIX path in the dandiset, which is also the remote asset-path prefix),
``.version`` (the full directory version, e.g. ``v1.1.1+b268fd2``), ``.dandiset``
(the source dandiset id), ``.subject``, ``.session``, ``.pipeline`` (all taken
from ``.directory``, the :class:`~dandi_compute_plugin.VersionDirectory`), ``.assets``
(the remote assets planned for deletion: ``.path``, ``.size``, ``.asset_id``),
``.remote_bytes``, ``.local_files`` and ``.local_bytes``.  ``result`` is a
:class:`~dandi_compute_plugin.deletion.TargetResult` and ``report`` a
:class:`~dandi_compute_plugin.deletion.DeletionReport`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    from .deletion.model import DeletionReport, DeletionTarget, TargetResult

#: the pluggy project name, also the entry-point group of hook plugins
PROJECT_NAME = "dandi_compute"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: decorate hook implementations with this marker
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def dandi_compute_add_targets(
    dandiset_directory: Path, version: str
) -> Iterable[str | Path] | None:
    """Add version directories to a deletion run.

    Called once per run (dry runs included), before the plan is made.  Every
    returned path must be inside ``dandiset_directory/derivatives/dandiset-*/``,
    named ``version-{version}`` or ``version-{version}+...`` for the run's
    VERSION: other paths, and paths that do not exist in the clone, are ignored
    with a warning naming them; a path the scan already found is not added
    twice.  The others pass the check of every target's place, exactly like a
    scanned one -- a real directory reached without any symbolic link, on the
    clone's file system, not a mount point, not nested in another target (nested
    targets are both refused) -- and are reported ``refused`` with the reason
    when they fail it.  Added targets go through the same plan, vetoes and
    safety checks as scanned ones.  Use it for version directories the scan
    cannot see, e.g. below a hidden directory.

    Parameters
    ----------
    dandiset_directory
        The top directory of the local clone.
    version
        The VERSION the user asked for (without ``version-``).

    Returns
    -------
    iterable of str or pathlib.Path, or None
        Absolute paths, or paths relative to ``dandiset_directory``.
    """


@hookspec
def dandi_compute_veto_deletion(target: DeletionTarget) -> str | None:
    """Say why ``target`` must not be deleted, or nothing.

    Called for every target while the plan is made (dry runs included), before
    anything is touched.  Every implementation is consulted; any reason vetoes
    the target, which is then reported as refused with the reasons of all
    vetoing plugins.  Raising an exception vetoes too (fail closed).

    Parameters
    ----------
    target
        The planned target (see the module documentation).

    Returns
    -------
    str or None
        A reason (shown to the user, e.g. ``"published in a paper"``), or None
        (or an empty string) to let the deletion go ahead.
    """


@hookspec
def dandi_compute_before_target(target: DeletionTarget) -> None:
    """Act just before ``target`` is deleted (e.g. archive its logs first).

    Called after confirmation, right before the first remote asset of the
    target is deleted.  Raising an exception aborts this target (reported as
    refused, naming the plugin and the error): nothing of it is touched, and the
    other targets go on.

    Parameters
    ----------
    target
        The target about to be deleted.
    """


@hookspec
def dandi_compute_after_target(target: DeletionTarget, result: TargetResult) -> None:
    """Act when ``target`` has ended, whatever its result (e.g. an audit line).

    Called once for every target that was not settled at planning time
    (deleted, failed, or refused by a before-hook or the safety checks), right
    after it ended.  Exceptions are logged and change nothing.

    Parameters
    ----------
    target
        The target.
    result
        How it ended: ``.status`` (``deleted``, ``refused``, ``failed``,
        ``nothing-to-do``), ``.reason``, ``.deleted_assets``, ``.failed_assets``,
        ``.local_removed``.
    """


@hookspec
def dandi_compute_run_finished(report: DeletionReport) -> None:
    """Act once when a deletion run has ended (e.g. notify a channel).

    Not called for dry runs.  Exceptions are logged and change nothing.

    Parameters
    ----------
    report
        The whole run: ``.results`` (one per target), ``.ok``, ``.exit_code``,
        ``.deleted``, ``.interrupted``, ``.summary()``.
    """
