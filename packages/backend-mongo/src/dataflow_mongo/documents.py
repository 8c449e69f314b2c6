"""The eight document nodes: schemaless work on any collection of a Mongo DataFlow's database.

Names and parameters follow kailash-dataflow 2.x (``DocumentInsertNode`` …
``DocumentCountNode``); every node also takes ``database`` to choose among
several Mongo DataFlows (see :mod:`dataflow_mongo.targets`). Like model nodes
they are kailash ``AsyncNode`` subclasses that run natively under both
runtimes, validate everything before any I/O, and fail with
:class:`dataflow.nodes.base.NodeFailure` carrying a DataFlow error.

Values are MongoDB's own here (no model): ``datetime`` is a BSON date
(millisecond precision, returned aware UTC), ``Decimal`` is Decimal128 (exact
to 34 digits, returned as ``Decimal``), missing ``_id`` values are new
``ObjectId``s, and filters mean what they mean in MongoDB.

Document nodes cannot scope to a tenant, so all eight are refused while any
open MongoDB DataFlow of the process is tenant-scoped (``DataFlow(url,
multi_tenant=True)`` or a model with ``__dataflow__ = {"multi_tenant": True}``):
pipelines reach other collections and databases (``$lookup``, ``$unionWith``,
``$out``, ``$merge``), and one server answers to several host names.

This module holds the node classes and their registration; the operations they run are in
:mod:`dataflow_mongo.document_ops`.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, ClassVar

from dataflow import kailash_boundary
from dataflow.errors import NodeNameConflictError, ValidationError
from dataflow.nodes import ownership
from dataflow.nodes.base import RUNTIME_KEYS, node_failure, transaction_for
from dataflow.records import node_output
from kailash.nodes.base import NodeParameter
from kailash.nodes.base_async import AsyncNode

from . import targets
from .document_ops import OPERATIONS

COMMON = {
    "collection": "collection name (required)",
    "database": "which Mongo DataFlow: its namespace, its database name, or the DataFlow "
    "(needed when several are open)",
}
PARAMETERS: dict[str, dict[str, str]] = {
    "DocumentInsertNode": {"document": "the document to insert (required); a missing _id becomes an ObjectId",
                           "bypass_document_validation": "skip the collection's $jsonSchema validator"},
    "DocumentFindNode": {"filter": "MongoDB query (default: every document)", "projection": "fields to return",
                         "sort": "e.g. {'age': -1} or ['-age', 'name']", "limit": "at most this many documents",
                         "skip": "documents to skip first"},
    "DocumentUpdateNode": {"filter": "MongoDB query (required; {} matches every document)",
                           "update": "update operators such as {'$set': {...}} or a pipeline (required)",
                           "upsert": "insert when nothing matches (default false)",
                           "multi": "update every match instead of the first (default false)"},
    "DocumentDeleteNode": {"filter": "MongoDB query (required; {} matches every document)",
                           "multi": "delete every match instead of the first (default false)"},
    "BulkDocumentInsertNode": {"documents": "list of documents (required)",
                               "ordered": "stop at the first error (default true); false tries every document",
                               "atomic": "all or nothing in a transaction (default: when the server supports it)",
                               "bypass_document_validation": "skip the collection's $jsonSchema validator"},
    "MongoAggregateNode": {"pipeline": "list of aggregation stages (required)",
                           "allow_disk_use": "let stages spill to disk"},
    "CreateIndexNode": {"keys": "e.g. 'email', {'a': 1, 'b': -1}, [('loc', '2dsphere')] (required)",
                        "unique": "refuse duplicate keys", "sparse": "skip documents without the field",
                        "name": "index name (default: derived from the keys)",
                        "expire_after_seconds": "TTL: delete documents this many seconds after the date in the field"},
    "DocumentCountNode": {"filter": "MongoDB query (default: every document)"},
}
REQUIRED = {
    "DocumentInsertNode": ("collection", "document"), "DocumentFindNode": ("collection",),
    "DocumentUpdateNode": ("collection", "filter", "update"), "DocumentDeleteNode": ("collection", "filter"),
    "BulkDocumentInsertNode": ("collection", "documents"), "MongoAggregateNode": ("collection", "pipeline"),
    "CreateIndexNode": ("collection", "keys"), "DocumentCountNode": ("collection",),
}
NODE_NAMES = tuple(PARAMETERS)

#: BSON values in document results, which kailash's run tracker cannot serialise (and warns about)
BSON_RESULT_TYPES = ("ObjectId", "Decimal128", "Timestamp", "Binary", "Regex", "Int64", "datetime", "Decimal")


def _workflow_transaction(node: Any, backend: Any) -> Any:
    """The transaction a TransactionScopeNode opened in this workflow run on the backend's DataFlow, if any."""
    dataflow = targets.dataflow_of(backend)
    return transaction_for(node, dataflow) if dataflow is not None else None


async def _in_place(backend: Any, operation: Any) -> Any:
    """Run an operation where the bound transaction lives (another event loop's client owns its session)."""
    handle = backend._foreign()
    return await (backend._elsewhere(handle, operation) if handle is not None else operation)


#: the nodes that change documents, which the result cache of the collection's model must forget (after commit)
WRITING = ("DocumentInsertNode", "DocumentUpdateNode", "DocumentDeleteNode", "BulkDocumentInsertNode")


async def _invalidating(node: str, backend: Any, params: dict) -> Any:
    """Run a node's operation; after a write (whatever its outcome), invalidate the DataFlow's result cache."""
    written: Any = params.get("collection") if node in WRITING else False
    pipeline = params.get("pipeline")
    if node == "MongoAggregateNode" and isinstance(pipeline, list) and any(
            isinstance(s, dict) and ("$out" in s or "$merge" in s) for s in pipeline):
        written = None  # $out / $merge may write any collection
    try:
        return await OPERATIONS[node](backend, params)
    finally:
        if written is not False:
            from dataflow.cache import collection_written

            await collection_written(targets.dataflow_of(backend), written)


def tenant_scoped() -> list[str]:
    """What makes an open MongoDB DataFlow of this process tenant-scoped: its option or its models."""
    from dataflow.dataflow import live_dataflows

    from .backend import MongoBackend

    found = []
    for df in live_dataflows():
        if not isinstance(getattr(df, "backend", None), MongoBackend):
            continue
        if getattr(df, "multi_tenant", False):
            found.append(f"DataFlow({df.url.masked()!r}, multi_tenant=True)")
        found += [f"model {spec.name} ({df.url.masked()})" for spec in list(df.models.values()) if spec.multi_tenant]
    return found


def refuse_when_tenant_scoped(node: str) -> None:
    """Fail closed: document nodes run only while no open MongoDB DataFlow is tenant-scoped."""
    scoped = tenant_scoped()
    if scoped:
        raise ValidationError(
            f"{node}: document nodes are not tenant-scoped, so they are refused while a multi-tenant MongoDB "
            f"DataFlow is open in this process ({'; '.join(scoped[:5])}); use the model nodes, which scope every "
            "operation to the bound tenant")


def _param(name: str, description: str) -> NodeParameter:
    return NodeParameter(name=name, type=Any, required=False, description=description)


class DocumentNode(AsyncNode):
    """Base of the document nodes."""

    _parameters: ClassVar[dict[str, NodeParameter]]
    _allowed: ClassVar[frozenset[str]]
    _required: ClassVar[tuple[str, ...]]
    _bound: ClassVar[Any] = None
    """A weak reference to the backend of one DataFlow (classes from :func:`document_nodes`)."""

    def get_parameters(self) -> dict[str, NodeParameter]:
        return self._parameters

    def validate_outputs(self, outputs: dict[str, Any]) -> dict[str, Any]:
        return outputs

    @property
    def node_type(self) -> str:
        return type(self).__name__

    def _params(self, inputs: dict[str, Any]) -> dict[str, Any]:
        params = {**self.config, **inputs} if inputs else dict(self.config)
        for key in RUNTIME_KEYS.intersection(params):
            del params[key]
        for key in [k for k in params if k.startswith("_")]:
            del params[key]
        unknown = params.keys() - self._allowed
        if unknown:
            raise ValidationError(
                f"unknown parameter(s) {sorted(unknown)} for {self.node_type}; "
                f"valid: {', '.join(sorted(self._allowed))}"
            )
        missing = [name for name in self._required if params.get(name) is None]
        if missing:
            raise ValidationError(f"{self.node_type}: missing required parameter(s) {', '.join(missing)}")
        return params

    def _backend(self, params: dict[str, Any]) -> Any:
        choice = params.pop("database", None)
        if self._bound is not None:
            backend = self._bound()
            if backend is None or backend.closed:
                raise ValidationError(f"{self.node_type} belongs to a MongoDB DataFlow that was closed")
            if choice is not None and targets.resolve(choice, self.node_type) is not backend:
                raise ValidationError(f"{self.node_type} is bound to {backend.target}; 'database' names another one")
        else:
            backend = targets.resolve(choice, self.node_type)
        refuse_when_tenant_scoped(self.node_type)
        return backend

    async def execute_async(self, **inputs: Any) -> dict[str, Any]:
        tx = backend = None
        try:
            params = self._params(inputs)
            backend = self._backend(params)
            tx = _workflow_transaction(self, backend)
            if tx is None:
                payload = await _in_place(backend, _invalidating(self.node_type, backend, params))
            else:  # a TransactionScopeNode earlier in this run: join its transaction, like model nodes
                await tx.check()
                token = backend.bind(tx.handle)
                try:
                    payload = await _in_place(backend, _invalidating(self.node_type, backend, params))
                finally:
                    backend.unbind(token)
        except Exception as exc:
            if tx is not None and tx.rollback_on_error and tx.failed_by is None:
                await tx.fail(self.id)
            failure = node_failure(self, exc, backend.url if backend is not None else None)
            raise failure from failure.error
        return node_output(payload, "documents")

    async def async_run(self, **inputs: Any) -> dict[str, Any]:
        return await self.execute_async(**inputs)

    def execute(self, **inputs: Any) -> dict[str, Any]:
        backend = None
        try:
            backend = self._backend(self._params(inputs))
            return backend.runner.run(self.execute_async(**inputs))
        except Exception as exc:
            failure = node_failure(self, exc, backend.url if backend is not None else None)
            raise failure from failure.error

    def run(self, **inputs: Any) -> dict[str, Any]:
        return self.execute(**inputs)


def _make_class(name: str, bound: Any = None) -> type[DocumentNode]:
    params = {key: _param(key, text) for key, text in {**COMMON, **PARAMETERS[name]}.items()}
    doc = f"{name}: MongoDB document node of kailash-dataflow ({', '.join(params)})."
    attrs: dict[str, Any] = {
        "_parameters": params, "_allowed": frozenset(params), "_required": REQUIRED[name],
        "__doc__": doc, "__module__": "dataflow_mongo.documents", "__qualname__": name,
    }
    if bound is not None:
        attrs["_bound"] = bound
    cls = type(name, (DocumentNode,), attrs)
    kailash_boundary.set_class_metadata(cls, doc, {"dataflow", "mongodb"})
    return cls


_registered: dict[str, type[DocumentNode]] = {}
_lock = threading.Lock()


def register_document_nodes() -> dict[str, type[DocumentNode]]:
    """Register the eight nodes in kailash's registry under their bare names (once per process)."""
    with _lock:
        if not _registered:
            for name in NODE_NAMES:  # a live model's node of that name is never replaced
                taken = ownership.model_owning(name)
                if taken is not None:
                    raise NodeNameConflictError(
                        f"MongoDB's document node {name!r} is the node of model {taken[1]!r} on "
                        f"{taken[0].url_masked}; rename that model (@db.model(table=...) keeps its table) or give "
                        "its DataFlow a namespace, then create the MongoDB DataFlow")
            for name in NODE_NAMES:
                cls = _make_class(name)
                kailash_boundary.register_node(cls, name)
                _registered[name] = cls
            kailash_boundary.quiet_tracker(BSON_RESULT_TYPES)
        return dict(_registered)


def document_nodes(dataflow: Any) -> dict[str, type[DocumentNode]]:
    """The eight node classes bound to one Mongo DataFlow: ``wf.add_node(nodes["DocumentFindNode"], "f", {...})``."""
    backend = targets.resolve(dataflow, "document_nodes()")
    ref = weakref.ref(backend)
    return {name: _make_class(name, ref) for name in NODE_NAMES}
