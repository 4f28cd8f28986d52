"""``dandi compute cache info|clear``: the download cache of manifests."""

from __future__ import annotations

import click
from dandi.cli.base import map_to_click_exceptions

from .formats import format_option, resolve_format, write_records
from .options import examples

#: the columns of the table (the other formats have every field of an entry)
TABLE_FIELDS = (
    "dandiset_id",
    "version",
    "status",
    "size",
    "last_used",
    "etag",
    "last_modified",
    "url",
)


@click.group(
    "cache",
    epilog=examples("dandi compute cache info", "dandi compute cache clear 001697"),
)
def cache() -> None:
    """The download cache of assets.jsonld manifests and their indexes.

    It lives in DANDI_COMPUTE_CACHE_DIR when that is set, else in the user
    cache directory of dandi-compute: one entry per manifest URL.

    """


def _entries() -> list:
    """Every entry of the cache; an error when the cache is not private."""
    from ..manifest.cache import UnsafeCacheError, list_entries

    try:
        return list_entries()
    except UnsafeCacheError as exc:
        raise click.ClickException(
            f"Not using the manifest cache: {exc} (nothing in it was read or "
            "removed; set DANDI_COMPUTE_CACHE_DIR to a directory of your own)"
        ) from None


@cache.command(
    "info",
    epilog=examples("dandi compute cache info", "dandi compute cache info -f json"),
)
@format_option(
    "Output format: 'auto' is a table on a terminal and one URL per line in a "
    "pipe; the others are those of 'dandi ls'."
)
@map_to_click_exceptions
def info(output_format: str) -> None:
    """List the cached manifests.

    For each: its URL, the dandiset id and version when the URL is a manifest
    location of a known instance (or of DANDI_COMPUTE_MANIFEST_URL), the
    server's ETag and Last-Modified, its status, the bytes of its files, its
    record count, and when it was cached and last used. An entry that is a
    link, another user's or writable by others is listed as unsafe: it is
    never used or removed.

    """
    from ..manifest import cache_directory

    entries = _entries()
    if not entries:
        click.echo(f"No manifests are cached in {cache_directory()}.", err=True)
    records = [e.as_record() for e in entries]
    if resolve_format(output_format) == "pyout":  # a table as wide as a terminal
        records = [{k: r[k] for k in TABLE_FIELDS} for r in records]
    write_records(
        records,
        output_format,
        TABLE_FIELDS,
        line=lambda rec: rec["url"] or rec["directory"],
    )


@cache.command(
    "clear",
    epilog=examples("dandi compute cache clear 001697", "dandi compute cache clear"),
)
@click.argument("names", nargs=-1, metavar="[URL|DANDISET_ID]...")
@map_to_click_exceptions
def clear(names: tuple[str, ...]) -> None:
    """Remove cached manifests: those named, or all of them.

    A URL names its entry, a dandiset id (001697 or DANDI:001697) every cached
    manifest of that dandiset (any version). A name that matches nothing is an
    error, and then nothing is removed. A download in progress is left to
    finish.

    """
    from ..manifest.cache import remove_entry, select_entries

    entries = _entries()
    if names:
        entries, unmatched = select_entries(names, entries)
        if unmatched:
            raise click.ClickException(
                "No cached manifest matches "
                + ", ".join(repr(n) for n in unmatched)
                + " (nothing was removed; see 'dandi compute cache info')"
            )
    removed, freed, failed = 0, 0, []
    for entry in entries:
        try:
            remove_entry(entry)
        except OSError as exc:
            failed.append(str(exc))
        else:
            removed, freed = removed + 1, freed + entry.size
    from .progress import natural_size

    click.echo(
        f"Removed {removed} cached manifest(s), {natural_size(freed)}.", err=True
    )
    if failed:
        raise click.ClickException("; ".join(failed))
