"""Arguments and options shared by the ``dandi compute`` commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

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


def complete_directories(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[Any]:
    """Shell completion of a directory argument (the shell lists them)."""
    from click.shell_completion import CompletionItem

    return [CompletionItem(incomplete, type="dir")]


version_argument = click.argument(
    "version",
    metavar="VERSION",
    callback=validate_version_param,
    shell_complete=complete_versions,
)


class DandisetRef(NamedTuple):
    """A dandiset as the user named it: its id, and the version and instance
    the identifier carries (None when it names none)."""

    dandiset_id: str
    version: str | None = None
    instance: str | None = None


def parse_dandiset(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> DandisetRef | None:
    """Accept what dandi accepts for a dandiset: ``001697``, ``DANDI:001697``,
    ``DANDI:001697/draft``, an archive URL, ``dandi://DANDI/001697@draft``."""
    import re

    if value is None:
        return None
    if re.fullmatch(r"[0-9]{6}", value):
        return DandisetRef(value)
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


def _known_instance_ref(value: str) -> DandisetRef | None:
    """``DANDI:ID[/VERSION]`` and the web or API URL of a dandiset on one of
    dandi's known instances, read without asking the server (dandi's parser
    asks the instance for its URLs first: a wait, and warnings, offline)."""
    import re

    from dandi.consts import known_instances

    version = r"(?:draft|[0-9]+\.[0-9]+\.[0-9]+)"
    found = re.fullmatch(rf"DANDI:([0-9]{{6}})(?:/({version}))?/?", value, re.I)
    if found is not None:
        return DandisetRef(found[1], found[2], "dandi")
    found = re.fullmatch(rf"dandi://([^/]+)/([0-9]{{6}})(?:@({version}))?/?", value)
    if found is not None and found[1].lower() in known_instances:
        return DandisetRef(found[2], found[3], found[1].lower())
    for instance in known_instances.values():
        for base, shape in (
            (instance.gui, rf"/dandiset/([0-9]{{6}})(?:/({version}))?/?"),
            (instance.api, rf"/dandisets/([0-9]{{6}})(?:/versions/({version}))?/?"),
        ):
            if base and value.startswith(base + "/"):
                found = re.fullmatch(shape, value[len(base) :])
                if found is not None:
                    return DandisetRef(found[1], found[2], instance.name)
    return None


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
        default="draft",
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
    help="How long a request to the archive may take as a whole (connection, "
    "answer, retries and their waits); for a manifest, the connection and "
    "headers, then each wait for more of its body. A request that takes longer "
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
    error (exit 2) saying what a clone looks like; a clone without
    ``derivatives/`` gets a warning (it holds no version directories).
    """
    import logging
    import os

    has_yaml = os.path.isfile(os.path.join(dandiset_dir, "dandiset.yaml"))
    has_derivatives = os.path.isdir(os.path.join(dandiset_dir, "derivatives"))
    if not has_yaml and not has_derivatives:
        raise click.UsageError(
            f"{dandiset_dir} is not a clone of a dandiset: it has neither "
            "dandiset.yaml nor derivatives/. Give the top directory of the clone "
            "(the one holding dandiset.yaml and derivatives/dandiset-*/...)."
        )
    if not has_derivatives:
        logging.getLogger("dandi.compute").warning(
            "%s has no derivatives/ directory: it holds no version directories",
            dandiset_dir,
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
        type=click.IntRange(1, 64),
        # the library's DEFAULT_JOBS, written out: importing it here would load
        # the deletion code (and pluggy) for every `dandi --help`; a test keeps
        # them equal
        default=16,
        show_default=True,
        help=help_text,
    )


def verify_option(help_text: str) -> Callable:
    """``--verify digest|size``: how local files are found on the server."""
    return click.option(
        "--verify",
        type=click.Choice(["digest", "size"]),
        default="digest",
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
