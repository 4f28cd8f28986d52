"""Arguments and options shared by the ``dandi compute`` commands.

Their defaults come from :mod:`~dandi_compute_plugin.defaults`, the library's own;
the dandiset and manifest options are :mod:`.manifest_source`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..defaults import (
    DEFAULT_JOBS,
    DEFAULT_TIMEOUT,
    DEFAULT_VERIFY,
    MAX_JOBS,
    MAX_TIMEOUT,
    TIMEOUT_ENV,
    VERIFY_CHOICES,
)


def validate_version_param(
    ctx: click.Context, param: click.Parameter, value: str
) -> str:
    """Turn an invalid VERSION into a usage error (exit 2)."""
    from ..versions import InvalidVersionError, validate_version

    try:
        return validate_version(value)
    except InvalidVersionError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


#: an existing directory, completed by click (the shell lists directories)
DIRECTORY = click.Path(exists=True, file_okay=False, dir_okay=True)

dandiset_dir_argument = click.argument(
    "dandiset_dir", metavar="DANDISET_DIR", type=DIRECTORY
)


def complete_versions(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[Any]:
    """Shell completion of VERSION: the versions of the clone already given."""
    from click.shell_completion import CompletionItem

    clone = ctx.params.get("dandiset_dir")
    if not isinstance(clone, str):
        return []
    from ..versions.overview import known_versions

    try:
        found = known_versions(clone)
    except OSError:
        return []
    return [CompletionItem(v) for v in found if v.startswith(incomplete)]


version_argument = click.argument(
    "version",
    metavar="VERSION",
    callback=validate_version_param,
    shell_complete=complete_versions,
)


timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=MAX_TIMEOUT, max_open=True),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    envvar=TIMEOUT_ENV,
    show_envvar=True,
    metavar="SECONDS",
    help="How long a request to the archive may take as a whole (connection, "
    "answer, retries and their waits); for a manifest, the connection and "
    "headers, then each wait for more of its body (which may take longer only "
    "while it keeps coming at 16 KiB/s). A request that takes longer "
    "fails.",
)


def _known_instance(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Accept a known instance name or an instance URL; name the known ones."""
    from dandi.consts import known_instances

    if value in known_instances or value.lower().startswith(("http://", "https://")):
        return value
    raise click.BadParameter(
        f"unknown DANDI instance {value!r}; the known ones: "
        f"{', '.join(sorted(known_instances))}, or an instance URL "
        "(e.g. http://localhost:8000)",
        ctx,
        param,
    )


def instance_option(**kwargs: Any) -> Callable:
    """dandi's ``-i/--dandi-instance`` (``DANDI_INSTANCE``), checked at once: an
    unknown name is a usage error listing the known instances."""
    from dandi.cli.base import instance_option as dandis

    return dandis(callback=_known_instance, **kwargs)


def check_clone(dandiset_dir: str) -> str | None:
    """Check that ``dandiset_dir`` looks like a clone; return its dandiset id.

    A directory with neither ``dandiset.yaml`` nor ``derivatives/`` is a usage
    error (exit 2) saying what a clone looks like; of a clone without
    ``derivatives/`` the scan warns (once), as for the API.
    """
    import os

    has_yaml = os.path.isfile(os.path.join(dandiset_dir, "dandiset.yaml"))
    has_derivatives = os.path.isdir(os.path.join(dandiset_dir, "derivatives"))
    if not has_yaml and not has_derivatives:
        raise click.UsageError(
            f"{dandiset_dir} is not a clone of a dandiset: it has neither "
            "dandiset.yaml nor derivatives/. Give the top directory of the clone "
            "(the one holding dandiset.yaml and derivatives/dandiset-*/...)."
        )
    if not has_yaml:
        return None
    from dandi.dandiset import Dandiset

    try:
        return Dandiset(dandiset_dir).identifier
    except Exception:  # a damaged dandiset.yaml: the local commands go on
        return None


def yes_option(help_text: str) -> Callable:
    """``-y/--yes/--force``: do not ask for confirmation."""
    return click.option("-y", "--yes", "--force", "yes", is_flag=True, help=help_text)


def jobs_option(help_text: str) -> Callable:
    """``-J/--jobs``: how many remote requests run at once."""
    return click.option(
        "-J",
        "--jobs",
        type=click.IntRange(1, MAX_JOBS),
        default=DEFAULT_JOBS,
        show_default=True,
        help=help_text,
    )


def verify_option(help_text: str) -> Callable:
    """``--verify digest|size``: how local files are found on the server."""
    return click.option(
        "--verify",
        type=click.Choice(VERIFY_CHOICES),
        default=DEFAULT_VERIFY,
        show_default=True,
        help=help_text,
    )


def examples(*command_lines: str) -> str:
    """The epilog of a command's ``--help``: its examples, lines kept as written."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in command_lines)


def checked_deletion_options(verb: str, yes: bool, **fields: Any) -> Any:
    """The :class:`~dandi_compute_plugin.deletion.DeletionOptions` of a deleting
    command, after the usage checks (exit 2, before anything happens) that every
    such command makes: the plugins to disable exist, and a run that changes
    things can be confirmed (``--yes``, or a terminal to ask on)."""
    import sys

    from ..deletion import DeletionOptions

    check_disabled_plugins(fields.get("disable_plugins", ()))
    can_ask = sys.stdin.isatty() and sys.stderr.isatty()
    if not (fields.get("dry_run") or yes or can_ask):
        raise click.UsageError(
            f"Not {verb} without confirmation: there is no terminal to ask on. "
            "Pass --yes to confirm, or --dry-run to see the plan. Nothing was changed."
        )
    return DeletionOptions(**fields)


def check_disabled_plugins(names: tuple[str, ...]) -> None:
    """A usage error (exit 2) for a plugin name to disable that is not installed
    (from ``--disable-plugin`` or ``DANDI_COMPUTE_DISABLE_PLUGINS``)."""
    from ..errors import UnknownPluginError
    from ..plugins import check_disabled

    try:
        check_disabled(names)
    except UnknownPluginError as exc:
        raise click.UsageError(str(exc)) from None


def disable_plugin_option(help_text: str) -> Callable:
    """The repeatable ``--disable-plugin NAME`` option (``disable_plugins``)."""
    return click.option(
        "--disable-plugin",
        "disable_plugins",
        metavar="NAME",
        multiple=True,
        help=help_text,
    )
