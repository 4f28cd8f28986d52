"""``dandi compute plugins``: the deletion policy plugins and their state."""

from __future__ import annotations

import click
from dandi.cli.base import map_to_click_exceptions

from .formats import format_option, resolve_format, write_records
from .options import check_disabled_plugins, disable_plugin_option, examples

PLUGIN_FIELDS = ("name", "distribution", "version", "status", "hooks", "error")


@click.command(
    "plugins", epilog=examples("dandi compute plugins", "dandi compute plugins -f json")
)
@disable_plugin_option("Show the hook plugin NAME as disabled (repeatable).")
@format_option(
    "Output format: 'auto' is a table on a terminal and one 'NAME STATUS' line "
    "per plugin in a pipe; the others are those of 'dandi ls'."
)
def plugins(disable_plugins: tuple[str, ...], output_format: str) -> None:
    """List the deletion policy (hook) plugins that delete-version loads.

    Hook plugins are installed packages with an entry point in the group
    'dandi_compute'. For each: its name, distribution and version, whether it
    is loaded, disabled (--disable-plugin, DANDI_COMPUTE_DISABLE_PLUGINS) or
    failed to load (then delete-version refuses every directory until it is
    fixed or disabled), and the hooks it implements.

    """
    # a usage error (exit 2) comes before the error mapping, which makes it 1
    check_disabled_plugins(disable_plugins)
    _list(disable_plugins, output_format)


@map_to_click_exceptions
def _list(disable_plugins: tuple[str, ...], output_format: str) -> None:
    from ..plugins import list_plugins

    infos = list_plugins(disable_plugins)
    if not infos:
        click.echo(
            "No hook plugins are installed (entry-point group 'dandi_compute').",
            err=True,
        )
    records = [i.as_record() for i in infos]
    if resolve_format(output_format) == "pyout":
        records = [dict(r, hooks=", ".join(r["hooks"])) for r in records]
    write_records(
        records,
        output_format,
        PLUGIN_FIELDS,
        line=lambda rec: f"{rec['name']} {rec['status']}",
    )
