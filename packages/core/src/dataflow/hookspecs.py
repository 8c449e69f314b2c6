"""Hook specifications. Implement them with ``@dataflow.hookimpl`` in a module listed
under the entry-point group ``kailash_dataflow.plugins``.

Hooks are called with keyword arguments; an implementation may accept any subset.
Registration hooks are *historic*: a plugin registered late is still asked.
Hooks are synchronous (``async def`` implementations are refused at load time); only
``dataflow_connection_opened`` may return an awaitable, which every async backend awaits
(``PluginHost.connection_opened``) and a blocking backend refuses.
Where one plugin answers for a thing (a backend, an operator), it claims it in a
registry that refuses a second claim, so plugin order never decides behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from kailash.nodes.base import Node

    from .backend import Backend
    from .dataflow import DataFlow
    from .errors import DataFlowError
    from .fieldtypes import FieldTypeRegistry
    from .model import ModelSpec
    from .query.operators import OperatorRegistry
    from .registry import BackendRegistry

#: A driver's connection object (``sqlite3.Connection``, ``asyncpg.Connection``, an aiomysql connection,
#: pymongo's ``AsyncMongoClient``): drivers share no class.
DriverConnection = Any

hookspec = pluggy.HookspecMarker("dataflow")
hookimpl = pluggy.HookimplMarker("dataflow")

# --- Registration ------------------------------------------------------------------------


@hookspec(historic=True)
def dataflow_register_backends(registry: BackendRegistry) -> None:
    """Add this plugin's Backend classes: ``registry.add(SQLiteBackend)``."""


@hookspec(historic=True)
def dataflow_register_field_types(registry: FieldTypeRegistry) -> None:
    """Add field types (e.g. ``Vector[384]``) that models may annotate fields with."""


@hookspec(historic=True)
def dataflow_register_operators(registry: OperatorRegistry) -> None:
    """Add filter operators: value check, reference semantics, compile function per backend."""


@hookspec
def dataflow_backend_capabilities(backend_name: str) -> dict[str, bool] | None:
    """Capabilities an extension adds to a backend, e.g. ``{"vector_search": True}`` for postgres."""


# --- Node generation -------------------------------------------------------------------------


@hookspec
def dataflow_model_declared(model: ModelSpec, backend_name: str) -> None:
    """Validate a model as it is declared; raise ModelError to reject it."""


@hookspec
def dataflow_generate_nodes(model: ModelSpec, dataflow: DataFlow) -> list[tuple[str, type[Node]]]:
    """Return ``(operation, node class)`` pairs for a model; results of all plugins are concatenated."""


# --- Query compilation ----------------------------------------------------------------------------


@hookspec
def dataflow_query_compiled(sql: str, params: Sequence[Any], backend: Backend) -> None:
    """Observe a compiled statement (logging, tracing); never mutate it. Parameters may hold user data."""


# --- Connection lifecycle ---------------------------------------------------------------------------


@hookspec
def dataflow_connection_opened(connection: DriverConnection, backend: Backend) -> Awaitable[None] | None:
    """Prepare a new driver connection: extensions, type adapters, session options.

    With an async driver an implementation may return an awaitable; every async backend awaits it before
    using the connection. A blocking backend (SQLite) refuses one with PluginError."""


@hookspec
def dataflow_connection_closing(connection: DriverConnection, backend: Backend) -> None:
    """Release per-connection resources just before the connection closes. Synchronous on every backend:
    an awaitable result is never awaited (it is closed and logged as an error)."""


@hookspec(firstresult=True)
def dataflow_translate_error(error: BaseException, backend: Backend) -> DataFlowError | None:
    """Turn a driver exception into a DataFlowError, or return None. Stops at the first answer."""
