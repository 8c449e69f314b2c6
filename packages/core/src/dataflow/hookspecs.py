"""Hook specifications. Implement them with ``@dataflow.hookimpl`` in a module listed
under the entry-point group ``kailash_dataflow.plugins``.

Hooks are called with keyword arguments; an implementation may accept any subset.
Registration hooks are *historic*: a plugin registered late is still asked.
Where one plugin answers for a thing (a backend, an operator), it claims it in a
registry that refuses a second claim, so plugin order never decides behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .backend import Backend
    from .errors import DataFlowError
    from .fieldtypes import FieldTypeRegistry
    from .model import ModelSpec
    from .query.operators import OperatorRegistry
    from .registry import BackendRegistry

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
def dataflow_backend_capabilities(backend_name: str) -> dict | None:
    """Capabilities an extension adds to a backend, e.g. ``{"vector_search": True}`` for postgres."""


# --- Node generation -------------------------------------------------------------------------


@hookspec
def dataflow_model_declared(model: ModelSpec, backend_name: str) -> None:
    """Validate a model as it is declared; raise ModelError to reject it."""


@hookspec
def dataflow_generate_nodes(model: ModelSpec, dataflow: Any) -> list[tuple[str, type]]:
    """Return ``(operation, node class)`` pairs for a model; results of all plugins are concatenated."""


# --- Query compilation ----------------------------------------------------------------------------


@hookspec
def dataflow_query_compiled(sql: str, params: Any, backend: Backend) -> None:
    """Observe a compiled statement (logging, tracing); never mutate it. Parameters may hold user data."""


# --- Connection lifecycle ---------------------------------------------------------------------------


@hookspec
def dataflow_connection_opened(connection: Any, backend: Backend) -> None:
    """Prepare a new driver connection: extensions, type adapters, session options.

    With an async driver an implementation may return an awaitable; the backend awaits it."""


@hookspec
def dataflow_connection_closing(connection: Any, backend: Backend) -> None:
    """Release per-connection resources just before the connection closes."""


@hookspec(firstresult=True)
def dataflow_translate_error(error: BaseException, backend: Backend) -> DataFlowError | None:
    """Turn a driver exception into a DataFlowError, or return None. Stops at the first answer."""
