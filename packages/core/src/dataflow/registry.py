"""The backend registry: one owner per backend name and per URL scheme, imported on first use.

A plugin registers a backend by import path with its name and schemes
(``registry.add("dataflow_postgres.backend:PostgresBackend", name="postgres", schemes=("postgresql",))``),
so loading plugins imports no backend module and no driver: a SQLite DataFlow never imports asyncpg, and
a broken PostgreSQL install fails only for ``postgresql://`` URLs (``BackendDependencyError``). The class
is imported at the first use of one of its schemes and checked then (a ``Backend`` subclass declaring the
registered name and schemes, of this backend API version). A class object is accepted too, checked at once.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .backend import BACKEND_API_VERSION, Backend
from .errors import (
    BackendDependencyError,
    BackendNotFoundError,
    DataFlowError,
    DuplicatePluginError,
    IncompatiblePluginError,
    PluginError,
)

#: Which distribution to install for a URL scheme that no installed plugin claims.
INSTALL_HINTS = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mongodb": "mongo",
}


@dataclass
class BackendEntry:
    """One registered backend: its name, schemes, and the class or where to import it from."""

    name: str
    schemes: tuple[str, ...]
    path: str
    """``"module:Class"``."""
    cls: type[Backend] | None = field(default=None, repr=False)
    """The class, once imported (or when it was registered as a class)."""


def _install_hint(scheme: str) -> str:
    extra = INSTALL_HINTS.get(scheme)
    return f'pip install "kailash-dataflow[{extra}]"' if extra else "reinstall the plugin that provides it"


def check_class(backend: object) -> type[Backend]:
    """A Backend subclass with a name, implementing this core's backend API version."""
    if not (isinstance(backend, type) and issubclass(backend, Backend)):
        raise PluginError(f"{backend!r} is not a dataflow.backend.Backend subclass")
    name = getattr(backend, "name", None)
    if not name:
        raise PluginError(f"backend class {backend.__qualname__} has no 'name'")
    if backend.api_version != BACKEND_API_VERSION:
        newer = "kailash-dataflow" if backend.api_version > BACKEND_API_VERSION else f"the {name} backend"
        raise IncompatiblePluginError(
            f"backend {name!r} implements backend API {backend.api_version}, core implements "
            f"{BACKEND_API_VERSION}: upgrade {newer}"
        )
    return backend


class BackendRegistry:
    """Backends by name and by URL scheme; a second claim on either is an error."""

    def __init__(self) -> None:
        self._by_name: dict[str, BackendEntry] = {}
        self._by_scheme: dict[str, BackendEntry] = {}
        self._lock = threading.Lock()

    def add(self, backend: type[Backend] | str, *, name: str | None = None,
            schemes: Iterable[str] | None = None) -> None:
        """Register a backend class, or its ``"module:Class"`` path with ``name`` and ``schemes`` (lazy)."""
        if isinstance(backend, str):
            module, _, attr = backend.partition(":")
            if not (module and attr and name and schemes is not None):
                raise PluginError(f"registry.add({backend!r}): a backend path is 'module:Class' and needs name= and "
                                  "schemes= (nothing is imported until a DataFlow uses one of the schemes)")
            entry = BackendEntry(name, tuple(schemes), backend)
        else:
            cls = check_class(backend)
            entry = BackendEntry(cls.name, tuple(cls.schemes), f"{cls.__module__}:{cls.__qualname__}", cls)
        if entry.name in self._by_name:
            raise DuplicatePluginError(
                f"backend {entry.name!r} is registered twice: {self._by_name[entry.name].path} and {entry.path}"
            )
        for scheme in entry.schemes:
            if scheme in self._by_scheme:
                raise DuplicatePluginError(
                    f"URL scheme {scheme!r} is claimed by backends {self._by_scheme[scheme].name!r} and {entry.name!r}"
                )
        self._by_name[entry.name] = entry
        for scheme in entry.schemes:
            self._by_scheme[scheme] = entry

    def for_scheme(self, scheme: str, masked_url: str) -> type[Backend]:
        entry = self._by_scheme.get(scheme)
        if entry is not None:
            return self._load(entry, scheme)
        extra = INSTALL_HINTS.get(scheme)
        hint = (
            f'pip install "kailash-dataflow[{extra}]"'
            if extra
            else "install a plugin that registers this scheme under the entry-point group 'kailash_dataflow.plugins'"
        )
        installed = ", ".join(sorted(self._by_name)) or "none"
        raise BackendNotFoundError(
            f"no installed backend handles {scheme!r} URLs ({masked_url}); {hint}. "
            f"Installed backends: {installed} (Python environment: {sys.prefix})"
        )

    def get(self, name: str) -> type[Backend]:
        entry = self._by_name[name]
        return self._load(entry, entry.schemes[0] if entry.schemes else name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[BackendEntry]:
        """The registered backends (``name``, ``schemes``, ``path``), imported or not."""
        return iter(list(self._by_name.values()))

    def _load(self, entry: BackendEntry, scheme: str) -> type[Backend]:
        if entry.cls is not None:
            return entry.cls
        with self._lock:
            if entry.cls is None:
                entry.cls = self._import(entry, scheme)
        return entry.cls

    @staticmethod
    def _import(entry: BackendEntry, scheme: str) -> type[Backend]:
        module_name, _, attr = entry.path.partition(":")
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            reason = exc.__cause__ if isinstance(exc, DataFlowError) and exc.__cause__ is not None else exc
            raise BackendDependencyError(
                f"the {entry.name!r} backend ({entry.path}) cannot be imported: {type(reason).__name__}: {reason}. Its "
                f"driver or package is missing or broken; {_install_hint(scheme)}. Other backends are unaffected."
            ) from exc
        cls = getattr(module, attr, None)
        if cls is None:
            raise PluginError(f"backend {entry.name!r}: {module_name} has no {attr!r} (registered as {entry.path})")
        check_class(cls)
        if cls.name != entry.name or set(cls.schemes) != set(entry.schemes):
            raise PluginError(
                f"backend {entry.path} was registered as {entry.name!r} for schemes {list(entry.schemes)}, but the "
                f"class declares {cls.name!r} for {list(cls.schemes)}: fix the plugin's registry.add call"
            )
        return cls
