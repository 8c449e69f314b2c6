"""Plugin loading: pluggy, the ``kailash_dataflow.plugins`` entry-point group, registries.

Core's own plugins are registered first; then every entry point. A second
distribution using a taken entry-point name is an error (pluggy would skip it
silently), and so is a module-level ``dataflow_*`` function that lacks
``@hookimpl`` (pluggy would ignore it). Switches: ``DATAFLOW_DISABLE_PLUGINS=a,b``
and ``DATAFLOW_PLUGINS=a,b`` (only these).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import threading
from collections.abc import Sequence
from importlib.metadata import Distribution, EntryPoint, distributions
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from . import hookspecs
from .errors import DuplicatePluginError, PluginError, PluginLoadError
from .fieldtypes import FieldTypeRegistry
from .query.operators import OperatorRegistry
from .registry import BackendRegistry

if TYPE_CHECKING:
    from .backend import Backend

log = logging.getLogger("dataflow.plugins")
GROUP = "kailash_dataflow.plugins"
DEFAULT_PLUGINS = ("dataflow.nodes.default_crud",)


class PluginHost:
    """The loaded plugins and the registries they filled."""

    def __init__(self, pm: pluggy.PluginManager, dists: dict[str, Distribution]) -> None:
        self.pm = pm
        self.hook = pm.hook
        self._dists = dists
        self._sources: dict[str, str] | None = None
        self.backends = BackendRegistry()
        self.field_types = FieldTypeRegistry()
        self.operators = OperatorRegistry()
        self.hook.dataflow_register_backends.call_historic(kwargs={"registry": self.backends})
        self.hook.dataflow_register_field_types.call_historic(kwargs={"registry": self.field_types})
        self.hook.dataflow_register_operators.call_historic(kwargs={"registry": self.operators})
        self.observing: bool = bool(pm.hook.dataflow_query_compiled.get_hookimpls())
        """True when a plugin implements ``dataflow_query_compiled``: a backend may skip preparing what
        :meth:`observe_query` would be given otherwise."""

    @property
    def sources(self) -> dict[str, str]:
        """``{entry-point name: "distribution version"}`` of the loaded plugins (read when first asked)."""
        if self._sources is None:
            self._sources = {name: f"{_dist_name(dist)} {dist.version or '?'}" for name, dist in self._dists.items()}
        return self._sources

    def capabilities(self, backend: Any) -> Any:
        """A backend's declared capabilities plus what extension plugins add to it."""
        import dataclasses

        extra: dict[str, bool] = {}
        for added in self.hook.dataflow_backend_capabilities(backend_name=backend.name):
            extra.update(added or {})
        return dataclasses.replace(backend.capabilities, **extra) if extra else backend.capabilities

    def observe_query(self, sql: str, params: Sequence[Any], backend: Backend) -> None:
        """Tell plugins about a statement (only when one implements the hook: this is on the hot path)."""
        if self.observing:
            self.hook.dataflow_query_compiled(sql=sql, params=params, backend=backend)

    # --- the connection hooks: who awaits what (docs/plugin-hooks.md, "Awaitable results") ----------------------------

    async def connection_opened(self, connection: Any, backend: Backend) -> None:
        """``dataflow_connection_opened`` for an async driver: every awaitable result is awaited, in order."""
        for result in self.hook.dataflow_connection_opened(connection=connection, backend=backend):
            if inspect.isawaitable(result):
                await result

    def connection_opened_sync(self, connection: Any, backend: Backend) -> None:
        """``dataflow_connection_opened`` for a blocking backend, where nothing could await: an awaitable result
        is refused (PluginError) before the connection is used."""
        results = self.hook.dataflow_connection_opened(connection=connection, backend=backend)
        if _discard_awaitables(results):
            raise PluginError(f"a dataflow_connection_opened implementation returned an awaitable for the blocking "
                              f"{backend.name!r} backend, whose connections are synchronous: return None there")

    def connection_closing(self, connection: Any, backend: Backend) -> None:
        """``dataflow_connection_closing``, on every backend synchronous: an awaitable result is never awaited; it
        is closed and logged as an error (a closing path does not raise)."""
        results = self.hook.dataflow_connection_closing(connection=connection, backend=backend)
        if _discard_awaitables(results):
            log.error("a dataflow_connection_closing implementation returned an awaitable (%s backend); closing hooks "
                      "are synchronous and it was not run", backend.name)

    def describe(self) -> list[dict]:
        """Plugins with their distribution, version and hooks (for ``dataflow plugins``)."""
        from . import __version__

        rows = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None or self.pm.is_blocked(name):
                rows.append({"name": name, "source": "disabled", "hooks": []})
                continue
            hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
            rows.append(
                {"name": name, "source": self.sources.get(name, f"kailash-dataflow {__version__}"), "hooks": hooks}
            )
        return rows


def _discard_awaitables(results: list[Any]) -> bool:
    """Close un-awaited coroutines among hook results (no "never awaited" warning later); True if any."""
    found = False
    for result in results:
        if inspect.isawaitable(result):
            found = True
            if inspect.iscoroutine(result):
                result.close()
    return found


def _csv(var: str) -> set[str]:
    return {p.strip() for p in os.environ.get(var, "").split(",") if p.strip()}


def _check_decorated(pm: pluggy.PluginManager, name: str, module: ModuleType) -> None:
    for attr in vars(module):
        if attr.startswith("dataflow_") and callable(getattr(module, attr)):
            if pm.parse_hookimpl_opts(module, attr) is None:
                raise PluginLoadError(
                    f"plugin {name!r}: {module.__name__}.{attr} looks like a hook but lacks @dataflow.hookimpl"
                )
            if inspect.iscoroutinefunction(getattr(module, attr)):
                raise PluginLoadError(
                    f"plugin {name!r}: {module.__name__}.{attr} is 'async def', but hooks are synchronous (pluggy "
                    "never awaits them); dataflow_connection_opened may return an awaitable instead")


def _entry_points() -> list[tuple[EntryPoint, Distribution]]:
    """Every entry point of the group, from every distribution.

    ``importlib.metadata.entry_points()`` keeps only the first of two entry
    points with the same name; walking the distributions shows both.
    """
    return [(ep, dist) for dist in distributions() for ep in dist.entry_points if ep.group == GROUP]


def _dist_name(dist: Distribution) -> str:
    return dist.metadata["Name"] or "?"  # parses METADATA: only for messages and `dataflow plugins`


def make_plugin_manager() -> PluginHost:
    pm = pluggy.PluginManager("dataflow")
    pm.add_hookspecs(hookspecs)
    dists: dict[str, Distribution] = {}
    for mod in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(mod), name=mod)
    disabled, only = _csv("DATAFLOW_DISABLE_PLUGINS"), _csv("DATAFLOW_PLUGINS")
    seen: dict[str, tuple[EntryPoint, Distribution]] = {}
    for ep, dist in _entry_points():
        if ep.name in seen:
            other, other_dist = seen[ep.name]
            if (other.value, _dist_name(other_dist)) == (ep.value, _dist_name(dist)):
                continue  # the same distribution found twice on sys.path
            raise DuplicatePluginError(
                f"two plugins use the entry-point name {ep.name!r}: {other.value} (distribution "
                f"{_dist_name(other_dist)}) and {ep.value} (distribution {_dist_name(dist)}); uninstall one"
            )
        seen[ep.name] = (ep, dist)
        if ep.name in disabled or (only and ep.name not in only):
            pm.set_blocked(ep.name)
            continue
        try:
            module = ep.load()
        except ImportError as exc:
            raise PluginLoadError(f"plugin {ep.name!r} ({ep.value}, distribution {_dist_name(dist)}) failed to import: "
                                  f"{exc}") from exc
        _check_decorated(pm, ep.name, module)
        pm.register(module, name=ep.name)
        dists[ep.name] = dist
    pm.check_pending()
    return PluginHost(pm, dists)


_host: PluginHost | None = None
_lock = threading.Lock()


def get_plugin_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _host
    if _host is None:
        with _lock:
            if _host is None:
                _host = make_plugin_manager()
    return _host


def reset_plugin_host() -> None:
    """Forget loaded plugins (tests that install plugins at run time)."""
    global _host
    with _lock:
        _host = None
