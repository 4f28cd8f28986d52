"""Loading deletion policy plugins and calling their hooks, failing closed.

Plugins are found through the entry-point group ``dandi_compute`` (see
:mod:`.hookspecs` for the contract) and can be passed as objects to the Python
API.  :class:`PluginHooks` is the one seam between the deletion and its policy:
it wraps a pluggy :class:`~pluggy.PluginManager` and calls each hook
implementation on its own, so that a veto, a result or an error is always
attributed to the plugin that gave it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
import logging
from pathlib import Path
import threading
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from ._limits import TimeLimitExceeded, call_within
from .defaults import (
    HOOK_DISABLE_ENV,
    HOOK_ENTRY_POINT_GROUP,
    HOOK_TIMEOUT_ENV,
    disabled_hook_plugins,
    hook_timeout,
)
from .errors import UnknownPluginError
from .hookspecs import PROJECT_NAME

if TYPE_CHECKING:  # pragma: no cover
    from .deletion.model import DeletionReport, DeletionTarget, TargetResult

lgr = logging.getLogger("dandi.compute")


class HookFailed(RuntimeError):
    """A hook raised or overran its time limit (the message says which).

    A signal between this module and the deletion, which turns it into a veto,
    a refused target or a log line: no caller of the package meets it.
    """


def _bounded(call: Any, limit: float, kwargs: dict[str, Any]) -> Any:
    """Call a hook under its time limit; any failure is a :class:`HookFailed`.

    ``SystemExit`` and ``KeyboardInterrupt`` too: a hook cannot end the run.  A
    result that is an iterator (a generator hook) is consumed within the same
    limit, into a list: its body is the hook's work.
    """
    late = threading.Event()

    def consumed(**kw: Any) -> Any:
        try:
            result = call(**kw)
            if not isinstance(result, Iterator):
                return result
            items = []
            for item in result:
                if late.is_set():  # nobody waits any more: stop, do not pile up
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                    break
                items.append(item)
            return items
        except BaseException as exc:  # the hook's own, told apart from ours
            raise _HookRaised(exc) from exc

    try:
        return call_within(limit, consumed, **kwargs)
    except TimeLimitExceeded as exc:
        late.set()
        raise HookFailed(f"{exc} ({HOOK_TIMEOUT_ENV})") from None
    except _HookRaised as wrapped:
        exc = wrapped.error
        raise HookFailed(f"{type(exc).__name__}: {exc}") from exc
    # a KeyboardInterrupt (or SIGTERM's exception) while waiting for the hook
    # is the user's, not the hook's: it goes on up


class _HookRaised(Exception):
    """What a hook raised, ``SystemExit`` and ``KeyboardInterrupt`` included."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class PluginInfo:
    """What ``dandi compute plugins`` shows of one hook plugin.

    Attributes
    ----------
    name
        The plugin's name (its entry-point name, or the name given to the API).
    distribution, version
        The distribution that provides it and its version (None for objects
        passed to the API).
    hooks
        The hooks it implements, sorted.
    status
        ``loaded``, ``disabled`` or ``failed``.
    error
        Why it failed to load.
    """

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...] = ()
    status: str = "loaded"
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        """The output record (JSON-serialisable)."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "hooks": list(self.hooks),
            "error": self.error,
        }


def check_disabled(disable: Iterable[str], plugins: Iterable[object] = ()) -> None:
    """Check that every plugin name to disable names an installed plugin.

    A name is that of an entry point of the ``dandi_compute`` group, of the
    distribution that provides one, or of a plugin object passed in
    ``plugins``; ``DANDI_COMPUTE_DISABLE_PLUGINS`` is checked too.  Nothing is
    imported.

    Raises
    ------
    UnknownPluginError
        Naming the unknown names, where they come from, and the installed ones.
    """
    from importlib.metadata import entry_points

    known = {_plugin_name(p) for p in plugins}
    for ep in entry_points(group=HOOK_ENTRY_POINT_GROUP):
        known.add(ep.name)
        if ep.dist is not None:
            known.add(ep.dist.name)
    given, from_env = set(disable), disabled_hook_plugins()
    unknown = sorted((given | from_env) - known)
    if not unknown:
        return
    where = [
        f"--disable-plugin {name} (disable_plugins= in Python)"
        if name in given
        else f"{HOOK_DISABLE_ENV}={name}"
        for name in unknown
    ]
    installed = ", ".join(sorted(known)) or "none"
    raise UnknownPluginError(
        f"No hook plugin named {', '.join(map(repr, unknown))} is installed, "
        f"asked for by {'; '.join(where)}; the installed ones: {installed}"
    )


def _plugin_name(plugin: object) -> str:
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return str(name)


class PluginHooks:
    """The policy hooks of a run, backed by a pluggy plugin manager.

    Parameters
    ----------
    plugins
        Plugin objects to register besides the entry points (modules, classes or
        instances with :data:`~.hookspecs.hookimpl` functions).
    disable
        Names of plugins (entry-point names, distribution names, or names of
        objects in ``plugins``) to run without; ``DANDI_COMPUTE_DISABLE_PLUGINS``
        adds to them.
    load_entry_points
        Whether to load the plugins of the ``dandi_compute`` entry-point group.
    """

    def __init__(
        self,
        plugins: Iterable[object] = (),
        disable: Iterable[str] = (),
        *,
        load_entry_points: bool = True,
    ) -> None:
        self.timeout = hook_timeout()
        self.manager = pluggy.PluginManager(PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.disabled = set(disable) | disabled_hook_plugins()
        self.infos: list[PluginInfo] = []
        if load_entry_points:
            self._load_entry_points()
        for plugin in plugins:
            name = _plugin_name(plugin)
            if name in self.disabled:
                self.infos.append(PluginInfo(name, None, None, status="disabled"))
                continue
            self._register(plugin, name, None, None)

    # -- loading ---------------------------------------------------------------

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        for ep in sorted(
            entry_points(group=HOOK_ENTRY_POINT_GROUP), key=lambda e: e.name
        ):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            if ep.name in self.disabled or (dist and dist in self.disabled):
                self.infos.append(PluginInfo(ep.name, dist, version, status="disabled"))
                lgr.info("Hook plugin %r of %s is disabled", ep.name, dist)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                lgr.error(
                    "Hook plugin %r of %s failed to load: %s", ep.name, dist, error
                )
                self.infos.append(
                    PluginInfo(ep.name, dist, version, status="failed", error=error)
                )
                continue
            self._register(plugin, ep.name, dist, version)

    def _register(
        self, plugin: object, name: str, dist: str | None, version: str | None
    ) -> None:
        error = None
        try:
            self.manager.register(plugin, name=name)
        except Exception as exc:  # pluggy validates the implementations
            error = f"{type(exc).__name__}: {exc}"
        else:
            unknown = self._unknown_hooks(plugin)
            if unknown:  # a misspelt hook would never be called: fail closed
                self.manager.unregister(plugin)
                error = (
                    f"implements {', '.join(unknown)}, which no hook of dandi "
                    "compute is (misspelt, or missing @hookimpl?): it would never "
                    "be called"
                )
        if error is not None:
            lgr.error("Hook plugin %r cannot be registered: %s", name, error)
            self.infos.append(
                PluginInfo(name, dist, version, status="failed", error=error)
            )
            return
        hooks = tuple(
            sorted(
                caller.name
                for caller in self.manager.get_hookcallers(plugin) or ()
                if caller.name.startswith("dandi_compute_")
            )
        )
        self.infos.append(PluginInfo(name, dist, version, hooks))

    def _unknown_hooks(self, plugin: object) -> list[str]:
        """Names of ``plugin`` that look like hooks and would never be called:
        marked implementations without a spec, and ``dandi_compute_*``
        functions without the marker.

        Each caller's ``has_spec()``, not ``check_pending()``: the latter lets
        an ``optionalhook`` implementation without a spec pass, and pluggy
        sees no unmarked function at all."""
        unknown = {
            f"{caller.name} (no such hook)"
            for caller in self.manager.get_hookcallers(plugin) or ()
            if not caller.has_spec()
        }
        for attr in dir(plugin):
            if not attr.startswith("dandi_compute_"):
                continue
            value = getattr(plugin, attr, None)
            if (
                callable(value)
                and self.manager.parse_hookimpl_opts(plugin, attr) is None
            ):
                unknown.add(f"{attr} (not marked @hookimpl)")
        return sorted(unknown)

    @property
    def failed(self) -> list[PluginInfo]:
        """The plugins that could not be loaded or registered."""
        return [i for i in self.infos if i.status == "failed"]

    # -- calling ---------------------------------------------------------------

    def _impls(self, hook: str) -> Iterator[tuple[str, Any]]:
        """Yield ``(plugin name, call)`` in pluggy's calling order."""
        caller = getattr(self.manager.hook, hook)
        for impl in reversed(caller.get_hookimpls()):
            if getattr(impl, "wrapper", False) or getattr(impl, "hookwrapper", False):
                lgr.warning(
                    "Hook wrapper %s of plugin %r is not supported; not called",
                    hook,
                    impl.plugin_name,
                )
                continue

            def call(_impl: Any = impl, **kwargs: Any) -> Any:
                return _impl.function(*(kwargs[a] for a in _impl.argnames))

            yield impl.plugin_name, call

    def extra_targets(self, dandiset_directory: Path, version: str) -> list[Path]:
        """Collect :func:`~.hookspecs.dandi_compute_add_targets` (errors logged)."""
        extra: list[Path] = []
        for name, call in self._impls("dandi_compute_add_targets"):
            kwargs = {"dandiset_directory": dandiset_directory, "version": version}
            try:
                paths = _bounded(call, self.timeout, kwargs)
                for path in paths or ():
                    path = Path(path)
                    if not path.is_absolute():
                        path = Path(dandiset_directory, path)
                    extra.append(path)
            except Exception as exc:
                lgr.error("Hook plugin %r failed to add targets: %s", name, exc)
        return extra

    def veto(self, target: DeletionTarget) -> list[str]:
        """Every veto reason, each naming its plugin; errors and load failures veto."""
        reasons = [
            f"hook plugin {i.name!r} ({i.distribution}) failed to load, so nothing "
            f"is deleted without it: {i.error}; --disable-plugin {i.name} "
            "(disable_plugins= in Python) goes on without it"
            for i in self.failed
        ]
        for name, call in self._impls("dandi_compute_veto_deletion"):
            try:
                reason = _bounded(call, self.timeout, {"target": target})
            except HookFailed as exc:
                reasons.append(
                    f"veto hook of plugin {name!r} failed, so the target is blocked: "
                    f"{exc}"
                )
                continue
            if reason:
                reasons.append(f"vetoed by plugin {name!r}: {reason}")
        return reasons

    def before_target(self, target: DeletionTarget) -> None:
        """Call every before-hook; the first error aborts the target."""
        for name, call in self._impls("dandi_compute_before_target"):
            try:
                _bounded(call, self.timeout, {"target": target})
            except HookFailed as exc:
                raise HookFailed(
                    f"before-target hook of plugin {name!r} failed: {exc}"
                ) from exc

    def after_target(self, target: DeletionTarget, result: TargetResult) -> None:
        """Call every after-hook; errors are logged."""
        self._call_logged("dandi_compute_after_target", target=target, result=result)

    def run_finished(self, report: DeletionReport) -> None:
        """Call every end-of-run hook; errors are logged."""
        self._call_logged("dandi_compute_run_finished", report=report)

    def _call_logged(self, hook: str, **kwargs: Any) -> None:
        for name, call in self._impls(hook):
            try:
                _bounded(call, self.timeout, kwargs)
            except HookFailed as exc:
                lgr.error(
                    "Hook %s of plugin %r failed (ignored): %s",
                    hook,
                    name,
                    exc,
                    exc_info=exc.__cause__,
                )


def list_plugins(disable: Iterable[str] = ()) -> list[PluginInfo]:
    """Return every hook plugin of the ``dandi_compute`` entry points.

    Parameters
    ----------
    disable
        Names to report as disabled (besides ``DANDI_COMPUTE_DISABLE_PLUGINS``).

    Returns
    -------
    list of PluginInfo
        Loaded, disabled and failed plugins, sorted by name.
    """
    return sorted(PluginHooks(disable=disable).infos, key=lambda i: i.name)
