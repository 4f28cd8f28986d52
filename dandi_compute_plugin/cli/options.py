"""Arguments and options shared by the ``dandi compute`` commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:  # pragma: no cover
    from ..manifest import ManifestRequest

T = TypeVar("T")


def validate_version_param(
    ctx: click.Context, param: click.Parameter, value: str
) -> str:
    """Turn an invalid VERSION into a usage error (exit 2)."""
    from ..versions import InvalidVersionError, validate_version

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


def manifest_request(
    dandiset_id: str | None,
    dandiset_version: str,
    dandi_instance: str,
    source: str | None,
    no_cache: bool,
    refresh: bool,
    timeout: float = 60.0,
) -> ManifestRequest:
    """The manifest that the arguments and :func:`manifest_options` choose."""
    from ..manifest import ManifestRequest

    return ManifestRequest(
        dandiset_id=dandiset_id or "",
        version=dandiset_version,
        dandi_instance=dandi_instance,
        source=source,
        cache=not no_cache,
        refresh=refresh,
        timeout=timeout,
    )


def read_manifest(request: ManifestRequest, consume: Callable[[Iterator[Any]], T]) -> T:
    """Stream a manifest's assets into ``consume``; a progress line on a TTY."""
    from ..manifest import iter_assets
    from .progress import terminal_progress

    label = request.dandiset_id or request.source
    progress = terminal_progress(f"assets.jsonld of {label}")
    try:
        return consume(iter_assets(request, progress))
    finally:
        if progress is not None:
            progress.close()


#: the environment variable of ``--timeout``
TIMEOUT_ENV = "DANDI_COMPUTE_TIMEOUT"

timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=1e9),
    default=60.0,
    show_default=True,
    envvar=TIMEOUT_ENV,
    show_envvar=True,
    metavar="SECONDS",
    help="How long any request may wait to connect, and then for each answer; a "
    "request that takes longer fails.",
)


def disable_plugin_option(help_text: str) -> Callable:
    """The repeatable ``--disable-plugin NAME`` option (``disable_plugins``)."""
    return click.option(
        "--disable-plugin",
        "disable_plugins",
        metavar="NAME",
        multiple=True,
        help=help_text,
    )
