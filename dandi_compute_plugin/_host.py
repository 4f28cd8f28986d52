"""Put ``dandi.commands`` entry points into the stock ``dandi`` command group.

dandi-cli has no plugin loader: ``dandi.cli.command.main`` is a click group with a
fixed list of commands.  The wheel of this project ships
``dandi_compute_plugin.pth`` at the top of site-packages; Python runs its single line
at every start, which calls :func:`install`.  :func:`install` only appends a tiny
finder to :data:`sys.meta_path` (no import beyond :mod:`sys`, which every Python
start has loaded already; not even the switch below is read yet).  When -- and only
when -- ``dandi.cli.command`` is imported, the finder reads the switch (from
:mod:`~dandi_compute_plugin.defaults`) and wraps the module's loader so that, right
after the module has run, :func:`register_entry_point_commands` adds every entry
point of the group ``dandi.commands`` to ``main``.

Rules kept here:

- ``DANDI_DISABLE_PLUGINS=1`` (any value but ``""``/``0``/``false``/``no``)
  disables the loading entirely;
- a command whose name ``main`` already has is never replaced: a built-in command
  is never shadowed, and a future dandi that loads these entry points itself gets
  nothing twice;
- an entry point whose import fails is logged as a warning naming its distribution
  and the error, and skipped: ``dandi`` keeps working.

A finder placed in front of ours that loads ``dandi.cli.command`` itself bypasses the
hook; the one known case is pytest's assertion rewriter while dandi's own pytest plugin
is active.  Calling :func:`install` after
``dandi.cli.command`` was imported registers the commands right away.

This module must stay importable without click, dandi or any third-party package.
"""

import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: typing is slow to import
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

HOST_MODULE = "dandi.cli.command"


class _HookedLoader:
    """Delegate to the real loader, then register the plugin commands."""

    def __init__(self, loader: "Any") -> None:
        self._loader = loader

    def create_module(self, spec: "Any") -> "Any":
        return self._loader.create_module(spec)

    def exec_module(self, module: "Any") -> None:
        self._loader.exec_module(module)
        main = getattr(module, "main", None)
        if main is not None:
            register_entry_point_commands(main)

    def __getattr__(self, name: str) -> "Any":
        # get_source, get_filename, is_package ... for tracebacks and inspect
        return getattr(self._loader, name)


class _HostFinder:
    """A one-shot :data:`sys.meta_path` finder for ``dandi.cli.command``."""

    def find_spec(
        self, fullname: str, path: "Any" = None, target: "Any" = None
    ) -> "Any":
        if fullname != HOST_MODULE:
            return None
        # One shot: take ourselves out before asking the other finders.
        uninstall()
        try:
            from .defaults import host_plugins_disabled

            if host_plugins_disabled():  # dandi exactly as shipped
                return None
        except Exception:  # a broken installation of ours must not break dandi
            return None
        import importlib.util

        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _HookedLoader(spec.loader)
        return spec


_FINDER = _HostFinder()


def install() -> None:
    """Arm the post-import hook on ``dandi.cli.command`` (called by the ``.pth``).

    Does nothing when the hook is already armed.  ``DANDI_DISABLE_PLUGINS`` is
    read when ``dandi.cli.command`` is imported, not here: a Python start loads
    nothing more than this module.  If ``dandi.cli.command`` was imported already
    (not possible at interpreter start, but possible when called by hand),
    registers the commands right away; commands ``main`` already has are left
    alone, so calling it twice is harmless.
    """
    module = sys.modules.get(HOST_MODULE)
    if module is not None:
        uninstall()
        register_entry_point_commands(module.main)
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Disarm the post-import hook if it is armed."""
    # not contextlib.suppress: this module runs at every Python start
    try:  # noqa: SIM105
        sys.meta_path.remove(_FINDER)
    except ValueError:
        pass


def register_entry_point_commands(main: "Any", group: "str | None" = None) -> list:
    """Add the click commands of the entry points in ``group`` to ``main``.

    Parameters
    ----------
    main
        The ``dandi`` click group (``dandi.cli.command.main``).
    group
        The entry-point group to load; by default ``dandi.commands``
        (:data:`~dandi_compute_plugin.defaults.COMMAND_ENTRY_POINT_GROUP`).

    Returns
    -------
    list of str
        The names of the commands that were added.
    """
    from importlib.metadata import entry_points
    import logging

    from .defaults import COMMAND_ENTRY_POINT_GROUP, host_plugins_disabled

    lgr = logging.getLogger("dandi.compute")
    added: list[str] = []
    if host_plugins_disabled():
        return added
    for ep in entry_points(group=group or COMMAND_ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "unknown distribution"
        existing = main.commands.get(ep.name)
        if existing is not None:
            module = getattr(getattr(existing, "callback", None), "__module__", "")
            if module == "dandi" or module.startswith("dandi."):
                lgr.warning(
                    "Ignoring command %r of %s: it would shadow dandi's own command",
                    ep.name,
                    dist,
                )
            else:
                lgr.debug("Command %r of %s is already registered", ep.name, dist)
            continue
        try:
            command = ep.load()
        except Exception as exc:  # a broken plugin must not break dandi
            lgr.warning(
                "Could not load command %r from %s (%s = %s): %s: %s",
                ep.name,
                dist,
                ep.name,
                ep.value,
                type(exc).__name__,
                exc,
            )
            continue
        if not callable(getattr(command, "main", None)) or not hasattr(
            command, "get_short_help_str"
        ):
            lgr.warning(
                "Ignoring %r of %s: %s is not a click command", ep.name, dist, ep.value
            )
            continue
        main.add_command(command, ep.name)
        added.append(ep.name)
    return added
