"""Arguments and options shared by the ``dandi compute`` commands."""

from __future__ import annotations

from collections.abc import Callable

import click

SCAN_FIELDS = ("path", "dandiset", "subject", "session", "pipeline", "version")


def validate_version_param(
    ctx: click.Context, param: click.Parameter, value: str
) -> str:
    """Turn an invalid VERSION into a usage error (exit 2)."""
    from .versions import InvalidVersionError, validate_version

    try:
        return validate_version(value)
    except InvalidVersionError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


dandiset_dir_argument = click.argument(
    "dandiset_dir",
    metavar="DANDISET_DIR",
    type=click.Path(exists=True, file_okay=False, dir_okay=True),
)
version_argument = click.argument(
    "version", metavar="VERSION", callback=validate_version_param
)


def validate_dandiset_id(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    """Accept ``001697`` or ``DANDI:001697``; return the six digits."""
    import re

    if value is None:
        return None
    if re.fullmatch(r"(?i:DANDI:)?[0-9]{6}", value) is None:
        raise click.BadParameter(
            f"{value!r} is not a dandiset id (six digits, e.g. 001697)",
            ctx=ctx,
            param=param,
        )
    return value[-6:]


def manifest_options(f: Callable) -> Callable:
    """The options choosing a manifest source and the cache."""
    f = click.option(
        "--refresh",
        is_flag=True,
        help="Download the manifest again even if the cached copy is current.",
    )(f)
    f = click.option(
        "--no-cache",
        is_flag=True,
        help="Neither use nor update the download cache.",
    )(f)
    return click.option(
        "--source",
        metavar="URL|FILE|-",
        help="Read this manifest (an http(s) URL, a file, or - for standard input) "
        "instead of the dandiset's on the instance.",
    )(f)


def disable_plugin_option(help_text: str) -> Callable:
    """The repeatable ``--disable-plugin NAME`` option (``disable_plugins``)."""
    return click.option(
        "--disable-plugin",
        "disable_plugins",
        metavar="NAME",
        multiple=True,
        help=help_text,
    )
