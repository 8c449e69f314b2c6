"""The backend registry: one owner per backend name and per URL scheme."""

from __future__ import annotations

from .backend import BACKEND_API_VERSION, Backend
from .errors import BackendNotFoundError, DuplicatePluginError, IncompatiblePluginError, PluginError

#: Which distribution to install for a URL scheme that no installed plugin claims.
INSTALL_HINTS = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "mongodb": "mongo",
}


class BackendRegistry:
    """Backends by name and by URL scheme; a second claim on either is an error."""

    def __init__(self) -> None:
        self._by_name: dict[str, type[Backend]] = {}
        self._by_scheme: dict[str, type[Backend]] = {}

    def add(self, backend: type[Backend]) -> None:
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
        if name in self._by_name:
            raise DuplicatePluginError(
                f"backend {name!r} is registered twice: {self._by_name[name].__module__} and {backend.__module__}"
            )
        for scheme in backend.schemes:
            if scheme in self._by_scheme:
                raise DuplicatePluginError(
                    f"URL scheme {scheme!r} is claimed by backends {self._by_scheme[scheme].name!r} and {name!r}"
                )
        self._by_name[name] = backend
        for scheme in backend.schemes:
            self._by_scheme[scheme] = backend

    def for_scheme(self, scheme: str, masked_url: str) -> type[Backend]:
        backend = self._by_scheme.get(scheme)
        if backend is not None:
            return backend
        extra = INSTALL_HINTS.get(scheme)
        hint = (
            f'pip install "kailash-dataflow[{extra}]"'
            if extra
            else "install a plugin that registers this scheme under the entry-point group 'kailash_dataflow.plugins'"
        )
        import sys

        installed = ", ".join(sorted(self._by_name)) or "none"
        raise BackendNotFoundError(
            f"no installed backend handles {scheme!r} URLs ({masked_url}); {hint}. "
            f"Installed backends: {installed} (Python environment: {sys.prefix})"
        )

    def get(self, name: str) -> type[Backend]:
        return self._by_name[name]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self):
        return iter(self._by_name.values())
