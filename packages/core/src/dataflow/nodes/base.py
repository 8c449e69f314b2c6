"""The base class of DataFlow's nodes, and how a node call reaches the operations.

Generated nodes are real ``kailash`` ``AsyncNode`` subclasses, so both
``LocalRuntime`` and ``AsyncLocalRuntime`` run them natively. They keep
kailash's construction (config, metadata) but replace its per-call input and
output handling with DataFlow's own: parameters are validated once, by the
operation layer, and outputs keep their Python types (datetime, Decimal…).

A failing node raises :class:`NodeFailure`, which kailash treats as a failure
that always stops the workflow, under both runtimes alike; the DataFlow error
is its ``error`` attribute and its ``__cause__``. An exception that is not a
DataFlow error becomes :class:`~dataflow.errors.InternalError` first, so no
DataFlow node ever ends as a ``{"failed": True}`` result.

Extensions build their nodes on :class:`DataFlowNode` with :func:`node_class`
(see docs/extension-api.md): they override :meth:`DataFlowNode.perform` (and
:meth:`DataFlowNode.target` for nodes that find their DataFlow from a parameter).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from kailash.nodes.base import Node, NodeParameter
from kailash.nodes.base_async import AsyncNode
from kailash.sdk_exceptions import NodeExecutionError

from .. import kailash_boundary, timeouts
from ..errors import DataFlowError, InternalError, UnknownFieldError, ValidationError
from ..urls import DatabaseURL, mask_secrets

if TYPE_CHECKING:
    from ..dataflow import DataFlow
    from ..model import ModelSpec

#: the eleven operations of the reference (the seed's table), operation key -> node name suffix, in its order
CRUD_OPERATIONS = {
    "create": "Create", "read": "Read", "update": "Update", "delete": "Delete", "list": "List",
    "upsert": "Upsert", "count": "Count", "bulk_create": "BulkCreate", "bulk_update": "BulkUpdate",
    "bulk_delete": "BulkDelete", "bulk_upsert": "BulkUpsert",
}
#: every generated node per model: the eleven, plus ``{Model}AggregateNode`` (docs/aggregates.md)
OPERATIONS = {**CRUD_OPERATIONS, "aggregate": "Aggregate"}
#: keys the kailash runtime may add to a node's inputs; never user parameters
RUNTIME_KEYS = frozenset({"context", "config", "resource_registry"})


class NodeFailure(kailash_boundary.StopsWorkflow, NodeExecutionError):
    """A DataFlow node failed; ``error`` is the :class:`~dataflow.errors.DataFlowError`."""

    def __init__(self, node_id: str, node_type: str, error: DataFlowError) -> None:
        super().__init__(f"{node_type} '{node_id}' failed: {error}")
        self.node_id = node_id
        self.error = error
        self.failure_data = {"error": str(error), "code": error.code}


def as_dataflow_error(exc: BaseException, url: DatabaseURL | None = None) -> DataFlowError:
    """``exc`` itself when it is a DataFlow error, else an InternalError naming it (``url``'s secrets masked)."""
    if isinstance(exc, DataFlowError):
        return exc
    text = mask_secrets(str(exc), url)
    error = InternalError(f"unexpected {type(exc).__name__} inside DataFlow: {text} (a defect: please report it)",
                            orig=exc)
    error.__cause__ = exc
    return error


def node_failure(node: Node, exc: BaseException, url: DatabaseURL | None = None) -> NodeFailure:
    """The :class:`NodeFailure` a node raises for ``exc`` (a NodeFailure is returned as it is).

    Raise it as ``raise failure from failure.error``, so the DataFlow error is its ``__cause__``."""
    if isinstance(exc, NodeFailure):
        return exc
    return NodeFailure(node.id, type(node).__name__, as_dataflow_error(exc, url))


def transaction_for(node: Any, dataflow: Any) -> Any:
    """The workflow transaction a TransactionScopeNode opened for ``dataflow`` in ``node``'s run, or None."""
    from .transactions import transaction_for as lookup

    return lookup(node, dataflow)


class DataFlowNode(AsyncNode):
    """Base of DataFlow's nodes. Subclasses are made by :func:`node_class`."""

    operation: ClassVar[str] = ""
    model: ClassVar[ModelSpec | None] = None
    _dataflow_ref: ClassVar[weakref.ref | None] = None
    _parameters: ClassVar[dict[str, NodeParameter]]
    _allowed: ClassVar[frozenset[str]]
    takes_timeout: ClassVar[bool] = False
    """Whether the node's ``timeout`` parameter bounds its statements (:func:`dataflow.timeouts.query_timeout`)."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return self._parameters

    def validate_outputs(self, outputs: dict[str, Any]) -> dict[str, Any]:
        return outputs

    def validate_inputs(self, **inputs: Any) -> dict[str, Any]:
        """Inputs pass through unchanged: the operation layer validates them completely, once.

        (Kailash's generic validation would coerce types and costs ~0.3 ms per call.)
        """
        return inputs

    @classmethod
    def dataflow(cls) -> DataFlow:
        """The DataFlow this node class belongs to; ValidationError once it is closed or gone."""
        df = cls._dataflow_ref() if cls._dataflow_ref is not None else None
        if df is None or df.closed:
            raise ValidationError(
                f"{cls.__name__} belongs to a DataFlow instance that was closed or garbage-collected; "
                "declare the model on a live DataFlow"
            )
        return df

    def checked_params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Config merged with ``inputs``, without the keys kailash adds; an unknown parameter is refused."""
        params = {**self.config, **inputs} if inputs else dict(self.config)
        for key in RUNTIME_KEYS.intersection(params):
            del params[key]
        for key in [k for k in params if k.startswith("_")]:
            del params[key]
        if isinstance(params.get("parameters"), dict) and "parameters" not in self._allowed:
            del params["parameters"]  # Nexus's CLI/MCP envelope: kailash binds its inputs at top level as well
        unknown = params.keys() - self._allowed
        if unknown:
            if self.operation in ("create", "update") and self.model is not None:
                name = sorted(unknown)[0]
                fields = ", ".join(f.name for f in self.model.user_fields)
                raise UnknownFieldError(f"{self.model.name}: unknown field {name!r} for {type(self).__name__}; "
                                        f"fields: {fields}", field=name)
            raise ValidationError(
                f"unknown parameter(s) {sorted(unknown)} for {type(self).__name__}; valid: "
                f"{', '.join(sorted(self._allowed))}"
            )
        return params

    def target(self, params: dict[str, Any]) -> tuple[DataFlow, ModelSpec | None]:
        """The DataFlow and model this call works on: the class's own, unless a subclass reads ``params``."""
        return self.dataflow(), self.model

    async def perform(self, dataflow: DataFlow, model: ModelSpec | None, params: dict[str, Any]) -> dict[str, Any]:
        """The node's work, given checked parameters; returns the node's outputs."""
        return await dataflow._call(self.operation, model, params)

    async def execute_async(self, **inputs: Any) -> dict[str, Any]:
        tx = df = None
        try:
            params = self.checked_params(inputs)
            limit = params.pop("timeout", None) if self.takes_timeout else None
            with timeouts.query_timeout(limit) if limit is not None else nullcontext():
                df, model = self.target(params)
                tx = transaction_for(self, df)
                if tx is None:
                    return await self.perform(df, model, params)
                await tx.check()
                token = df.backend.bind(tx.handle)
                try:
                    return await self.perform(df, model, params)
                finally:
                    df.backend.unbind(token)
        except Exception as exc:
            if tx is not None and tx.rollback_on_error and tx.failed_by is None:
                await tx.fail(self.id)  # the whole scope goes, and nothing after this node can commit
            failure = node_failure(self, exc, df.url if df is not None else None)
            raise failure from failure.error

    async def async_run(self, **inputs: Any) -> dict[str, Any]:
        return await self.execute_async(**inputs)

    def execute(self, **inputs: Any) -> dict[str, Any]:
        df = None
        try:
            df, _ = self.target(self.checked_params(inputs))
            return df.run_sync(self.execute_async(**inputs))
        except Exception as exc:
            failure = node_failure(self, exc, df.url if df is not None else None)
            raise failure from failure.error

    def run(self, **inputs: Any) -> dict[str, Any]:
        return self.execute(**inputs)


N = TypeVar("N", bound=Node)


def node_class(name: str, base: type[N], *, parameters: dict[str, NodeParameter], description: str,
               tags: Iterable[str] = (), module: str = "dataflow.generated", dataflow: DataFlow | None = None,
               **attributes: Any) -> type[N]:
    """A node class ``name`` derived from ``base``, taking exactly ``parameters``.

    ``dataflow`` binds it weakly to one instance (``DataFlowNode.dataflow()``); ``attributes`` become class
    attributes (``operation``, ``model``, …). Register it by returning it from ``dataflow_generate_nodes``,
    or with :func:`dataflow.kailash_boundary.register_node`.
    """
    namespace: dict[str, Any] = {
        "_parameters": dict(parameters),
        "_allowed": frozenset(parameters),
        "__doc__": description,
        "__module__": module,
        "__qualname__": name,
        **attributes,
    }
    if dataflow is not None:
        namespace["_dataflow_ref"] = weakref.ref(dataflow)
    cls = type(name, (base,), namespace)
    kailash_boundary.set_class_metadata(cls, description, tags)
    return cls


def _param(name: str, description: str) -> NodeParameter:
    return NodeParameter(name=name, type=Any, required=False, description=description)


COMMON = {
    "read": {"id": "primary key of the record", "record_id": "alias of id",
             "filter": "find the first match instead of by id",
             "order_by": "order used with filter",
             "raise_on_not_found": "False returns {'found': False} instead of failing",
             "include_deleted": "also see soft-deleted records",
             "use_primary": "True reads from the primary, never a read replica",
             "include": "related records to add (docs/relationships.md)"},
    "update": {"id": "primary key of the record", "record_id": "alias of id",
               "filter": "update the one record matching it",
               "fields": "new field values", "updates": "alias of fields"},
    "delete": {"id": "primary key of the record", "record_id": "alias of id",
               "soft_delete": "False forces a hard delete on a soft-delete model"},
    "list": {"filter": "MongoDB-style filter", "limit": "page size (default 10)", "offset": "rows to skip",
             "order_by": "sort keys, e.g. ['-created_at', 'name']", "sort": "alias of order_by",
             "include_deleted": "also list soft-deleted records", "count_only": "return only {'count': total}",
             "use_primary": "True reads from the primary, never a read replica",
             "include": "related records to add (docs/relationships.md)"},
    "count": {"filter": "MongoDB-style filter", "include_deleted": "also count soft-deleted records",
              "use_primary": "True reads from the primary, never a read replica"},
    "upsert": {"where": "field values that identify the record", "create": "extra values when inserting",
               "update": "values to set when it exists", "conflict_on": "unique columns (default: the where keys)"},
    "bulk_create": {"data": "list of records", "batch_size": "accepted for compatibility; batching is automatic",
                    "return_ids": "also return the new ids", "conflict_resolution": "'error' (default) or 'skip'"},
    "bulk_update": {"filter": "records to update", "fields": "new values", "update": "alias of fields",
                    "data": "records with ids and new values", "confirmed": "required with an empty filter",
                    "batch_size": "accepted for compatibility"},
    "bulk_delete": {"filter": "records to delete", "ids": "list of ids", "data": "records (or ids) to delete",
                    "confirmed": "required with an empty filter", "soft_delete": "False forces a hard delete",
                    "batch_size": "accepted for compatibility"},
    "bulk_upsert": {"data": "list of records", "conflict_on": "unique columns (default: id)",
                    "match_fields": "alias of conflict_on", "update_fields": "columns to update on conflict",
                    "batch_size": "accepted for compatibility"},
}


#: the result cache's per-call switches (dataflow.cache), on the reads it serves
CACHE_PARAMETERS = {"enable_cache": "False skips the result cache for this call; True uses it when the DataFlow's "
                                    "cache is opt-in (no effect without DataFlow(cache=...))",
                    "cache_ttl": "seconds to keep this result (0: not cached; default: the DataFlow's cache_ttl)"}
for _op in ("read", "list", "count"):
    COMMON[_op].update(CACHE_PARAMETERS)


def parameters_for(model: ModelSpec, operation: str) -> dict[str, NodeParameter]:
    params: dict[str, NodeParameter] = {}
    if operation == "aggregate":
        from ..aggregates.operation import PARAMETERS

        params = {name: _param(name, description) for name, description in PARAMETERS.items()}
    if operation == "create":
        params["data"] = _param("data", "the record as a dict (alternative to flat fields)")
    for name, description in COMMON.get(operation, {}).items():
        params[name] = _param(name, description)
    pk = model.primary_key
    if operation in ("read", "update", "delete") and pk not in (None, "id"):
        params[pk] = _param(pk, f"primary key {pk} (same as id)")
    if operation in ("create", "update"):
        for f in model.user_fields:
            if operation == "update" and f.primary_key:
                continue
            params.setdefault(f.name, _param(f.name, f"{f.kind} field{' (required)' if f.required else ''}"))
    if "timeout" not in model.fields:  # else the field: dataflow.query_timeout() bounds that model's calls
        params["timeout"] = _param("timeout", "seconds each statement may wait (QueryTimeoutError after); "
                                   "default: the DataFlow's query_timeout")
    return params


def make_node_class(dataflow: DataFlow, model: ModelSpec, operation: str, name: str) -> type[DataFlowNode]:
    doc = f"{OPERATIONS[operation]} operation of DataFlow model {model.name} (table {model.table})."
    parameters = parameters_for(model, operation)
    takes_timeout = "timeout" not in model.fields
    return node_class(name, DataFlowNode, parameters=parameters, description=doc, tags={"dataflow", model.name},
                      dataflow=dataflow, operation=operation, model=model, takes_timeout=takes_timeout)
