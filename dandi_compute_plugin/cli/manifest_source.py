"""Which dandiset and which of its manifests a command reads.

The ``DANDISET`` argument (an id, ``DANDI:`` identifier or archive URL), the
``--dandiset-version`` and ``-i`` that it may contradict, the manifest source
options (``--source``, ``--no-cache``, ``--refresh``) and reading the chosen
manifest with a progress line.  Used by ``versions``, ``scan-versions --remote``
and ``index``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .._identifiers import DandisetRef
from .._identifiers import known_instance_ref as _known_instance_ref
from ..defaults import DEFAULT_DANDISET_VERSION, DEFAULT_TIMEOUT

if TYPE_CHECKING:  # pragma: no cover
    from ..manifest import ManifestRequest

T = TypeVar("T")


def parse_dandiset(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> DandisetRef | None:
    """Accept what dandi accepts for a dandiset: ``001697``, ``DANDI:001697``,
    ``DANDI:001697/draft``, an archive URL, ``dandi://DANDI/001697@draft``."""
    if value is None:
        return None
    known = _known_instance_ref(value)
    if known is not None:
        return known
    from dandi.dandiarchive import DandisetURL, parse_dandi_url

    try:
        parsed = parse_dandi_url(value)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise click.BadParameter(
            f"{value!r} names no dandiset ({first}); give an id such as 001697, "
            "DANDI:001697/draft or an archive URL",
            ctx=ctx,
            param=param,
        ) from None
    if not isinstance(parsed, DandisetURL) or parsed.dandiset_id is None:
        raise click.BadParameter(
            f"{value!r} names {type(parsed).__name__}, not a dandiset",
            ctx=ctx,
            param=param,
        )
    return DandisetRef(parsed.dandiset_id, parsed.version_id, parsed.instance.name)


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source not in (None, click.core.ParameterSource.DEFAULT)


def resolve_dandiset(
    ctx: click.Context, ref: DandisetRef, version: str, instance: str
) -> tuple[str, str, str]:
    """The dandiset id, version and instance from an identifier and the options.

    What the identifier says wins over a default; an option given explicitly
    that contradicts it is a usage error.
    """
    if ref.version not in (None, version) and _given(ctx, "dandiset_version"):
        raise click.UsageError(
            f"The dandiset identifier names version {ref.version}, "
            f"--dandiset-version {version}"
        )
    explicit = _given(ctx, "dandi_instance")
    # an instance URL may well be the one a name stands for: -i decides then
    by_url = instance.lower().startswith(("http://", "https://"))
    if ref.instance not in (None, instance) and explicit and not by_url:
        raise click.UsageError(
            f"The dandiset identifier names instance {ref.instance}, -i {instance}"
        )
    chosen = instance if explicit else ref.instance or instance
    return ref.dandiset_id, ref.version or version, chosen


def _dandiset_version(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``draft`` or a published version; anything else is a usage error."""
    import re

    from dandi.consts import VERSION_REGEX

    if not re.fullmatch(VERSION_REGEX, value):
        raise click.BadParameter(
            f"{value!r} is neither 'draft' nor a published version such as "
            "0.240101.1234",
            ctx=ctx,
            param=param,
        )
    return value


def dandiset_version_option(*former: str) -> Callable:
    """``--dandiset-version`` (and ``former`` names): the dandiset's version."""
    return click.option(
        "--dandiset-version",
        *former,
        "dandiset_version",
        default=DEFAULT_DANDISET_VERSION,
        show_default=True,
        callback=_dandiset_version,
        help="The version of the dandiset whose manifest is read: draft or a "
        "published version (0.YYMMDD.NNNN)"
        + (f"; {', '.join(former)}: its former name." if former else "."),
    )


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
    timeout: float = DEFAULT_TIMEOUT,
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


def with_progress(request: ManifestRequest, run: Callable[[Any], T]) -> T:
    """Call ``run(progress)``: a download progress line on a terminal (or None);
    then a warning when the draft's manifest is older than the draft's last change."""
    from ..manifest.lag import warn_if_lagging
    from .progress import terminal_progress

    if request.source is None:
        label = f"{request.dandiset_id}@{request.version} assets.jsonld"
    else:  # the file name, not a long URL: the bar needs the width
        label = str(request.source).rstrip("/").rsplit("/", 1)[-1] or "manifest"
    from .._text import escape_control

    progress = terminal_progress(
        escape_control(f"Downloading {label}", backslash=False)
    )
    try:
        result = run(progress)
    finally:
        if progress is not None:
            progress.close()
    warn_if_lagging(request)
    return result


def read_manifest(request: ManifestRequest, consume: Callable[[Iterator[Any]], T]) -> T:
    """Stream a manifest's assets into ``consume``; a progress line on a TTY."""
    from ..manifest import iter_assets

    return with_progress(request, lambda p: consume(iter_assets(request, p)))
