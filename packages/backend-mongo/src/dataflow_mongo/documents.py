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
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, ClassVar

from bson import ObjectId
from dataflow import kailash_boundary
from dataflow.errors import DatabaseError, DataFlowError, DuplicateKeyError, ValidationError
from dataflow.nodes.base import RUNTIME_KEYS, node_failure, transaction_for
from kailash.nodes.base import NodeParameter
from kailash.nodes.base_async import AsyncNode

from . import targets
from . import validate as check

COMMON = {
    "collection": "collection name (required)",
    "database": "which Mongo DataFlow: its namespace, its database name, or the DataFlow (needed when several are open)",
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
                f"unknown parameter(s) {sorted(unknown)} for {self.node_type}; valid: {', '.join(sorted(self._allowed))}")
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
        out = dict(payload)
        out["result"] = payload
        return out

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


# --- the operations ----------------------------------------------------------------------------------------------


def _new_id() -> Any:
    return ObjectId()


def _with_id(doc: dict) -> dict:
    """A copy with an ``_id`` (the caller's dict is left alone; pymongo would add one to it)."""
    return dict(doc) if "_id" in doc else {"_id": _new_id(), **doc}


def _error(backend: Any, exc: BaseException, collection: str) -> DataFlowError:
    error = backend._translate(exc)
    if isinstance(error, DuplicateKeyError):
        message = error.message.replace("same id", "same _id") + f" in collection {collection!r}"
        error.message, error.args = message, (message,)
    return error


async def _run(backend: Any, collection: str, work: Any) -> Any:
    from pymongo.errors import PyMongoError

    conn = await backend._conn()
    try:
        return await work(conn.db[collection], backend.session(conn))
    except DataFlowError:
        raise
    except (PyMongoError, OverflowError) as exc:
        raise _error(backend, exc, collection) from exc


async def insert_document(backend: Any, p: dict) -> dict:
    collection = check.collection_name(p["collection"])
    doc = _with_id(check.document(p["document"]))
    bypass = bool(check.flag(p.get("bypass_document_validation"), "bypass_document_validation", False))

    async def work(coll: Any, session: Any) -> Any:
        return await coll.insert_one(doc, bypass_document_validation=bypass, session=session)

    await _run(backend, collection, work)
    return {"inserted_id": doc["_id"], "success": True}


async def find_documents(backend: Any, p: dict) -> dict:
    collection = check.collection_name(p["collection"])
    query = check.query(p.get("filter"))
    projection = check.projection(p.get("projection"))
    sort = check.keys(p.get("sort"), "sort")
    limit = check.count(p.get("limit"), "limit", 0)
    skip = check.count(p.get("skip"), "skip", 0)

    async def work(coll: Any, session: Any) -> list:
        cursor = coll.find(query, projection, sort=sort or None, skip=skip, limit=limit, session=session)
        return await cursor.to_list(None)

    docs = await _run(backend, collection, work)
    return {"documents": docs, "count": len(docs)}


async def update_documents(backend: Any, p: dict) -> dict:
    collection = check.collection_name(p["collection"])
    query = check.query(p["filter"], required=True)
    change = check.update(p["update"])
    upsert = bool(check.flag(p.get("upsert"), "upsert", False))
    multi = bool(check.flag(p.get("multi"), "multi", False))

    async def work(coll: Any, session: Any) -> Any:
        method = coll.update_many if multi else coll.update_one
        return await method(query, change, upsert=upsert, session=session)

    result = await _run(backend, collection, work)
    return {"matched_count": result.matched_count, "modified_count": result.modified_count,
            "upserted_id": result.upserted_id, "success": True}


async def delete_documents(backend: Any, p: dict) -> dict:
    collection = check.collection_name(p["collection"])
    query = check.query(p["filter"], required=True)
    multi = bool(check.flag(p.get("multi"), "multi", False))

    async def work(coll: Any, session: Any) -> Any:
        return await (coll.delete_many if multi else coll.delete_one)(query, session=session)

    result = await _run(backend, collection, work)
    return {"deleted_count": result.deleted_count, "success": True}


async def bulk_insert_documents(backend: Any, p: dict) -> dict:
    from pymongo.errors import BulkWriteError, PyMongoError

    collection = check.collection_name(p["collection"])
    raw = p["documents"]
    if not isinstance(raw, (list, tuple)):
        raise ValidationError(f"'documents' must be a list of dicts, got {type(raw).__name__}", path="documents")
    docs = [_with_id(check.document(d, f"documents[{i}]")) for i, d in enumerate(raw)]
    ordered = bool(check.flag(p.get("ordered"), "ordered", True))
    bypass = bool(check.flag(p.get("bypass_document_validation"), "bypass_document_validation", False))
    atomic = check.flag(p.get("atomic"), "atomic", None)
    supported = await backend.supports_transactions()
    if atomic and not supported:
        raise ValidationError(f"atomic=True needs transactions, which the MongoDB server at {backend.target} does not "
                              "support (not a replica set); pass atomic=False to write what can be written")
    atomic = supported if atomic is None else atomic
    ids = [d["_id"] for d in docs]
    if not docs:
        return {"inserted_ids": [], "inserted_count": 0, "atomic": atomic, "success": True}

    async def work(conn: Any, session: Any) -> None:
        await conn.db[collection].insert_many(docs, ordered=ordered, bypass_document_validation=bypass,
                                              session=session)

    try:
        if atomic:
            await backend.atomic(work)
        else:
            await work(await backend._conn(), None)
    except BulkWriteError as exc:
        raise _bulk_error(backend, exc, collection, len(docs), ordered, atomic, ids) from exc
    except DataFlowError:
        raise
    except (PyMongoError, OverflowError) as exc:
        error = _error(backend, exc, collection)
        if atomic:
            error.message = f"{error.message}; nothing was written (one transaction)"
            error.args = (error.message,)
        raise error from exc
    return {"inserted_ids": ids, "inserted_count": len(ids), "atomic": atomic, "success": True}


def _bulk_error(backend: Any, exc: Any, collection: str, total: int, ordered: bool, atomic: bool,
                ids: list) -> DataFlowError:
    errors = exc.details.get("writeErrors") or []
    failed = sorted({e.get("index") for e in errors if e.get("index") is not None})
    first = errors[0] if errors else {}
    reason = "duplicate key" if first.get("code") == 11000 else (
        "document rejected: " + str(first.get("errmsg", "write error")).split(" full error")[0][:200])
    if atomic:
        written: list[int] = []
        outcome = "nothing was written (one transaction, rolled back)"
    else:
        if ordered:
            stop = failed[0] if failed else exc.details.get("nInserted", 0)
            written = list(range(stop))
            not_tried = list(range(stop + 1, total))
        else:
            written = [i for i in range(total) if i not in set(failed)]
            not_tried = []
        outcome = (f"documents at indexes {_ranges(written) or 'none'} were written"
                   + (f"; indexes {_ranges(not_tried)} were not attempted (ordered)" if not_tried else ""))
    message = (f"BulkDocumentInsertNode on {collection!r}: document(s) at index {_ranges(failed)} failed "
               f"({reason}); {outcome}")
    kind = DuplicateKeyError if first.get("code") == 11000 else DatabaseError
    return kind(message, orig=exc, failed=failed, written=written,
                inserted_ids=[ids[i] for i in written], atomic=atomic)


def _ranges(indexes: list[int]) -> str:
    out, start, prev = [], None, None
    for i in indexes:
        if start is None:
            start = prev = i
        elif i == prev + 1:
            prev = i
        else:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = i
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out)


async def aggregate(backend: Any, p: dict) -> dict:
    collection = check.collection_name(p["collection"])
    stages = check.pipeline(p["pipeline"])
    disk = check.flag(p.get("allow_disk_use"), "allow_disk_use", None)

    async def work(coll: Any, session: Any) -> list:
        options = {} if disk is None else {"allowDiskUse": disk}
        cursor = await coll.aggregate(stages, session=session, **options)
        return await cursor.to_list(None)

    docs = await _run(backend, collection, work)
    return {"documents": docs, "count": len(docs)}


async def create_index(backend: Any, p: dict) -> dict:
    collection = check.collection_name(p["collection"])
    keys = check.keys(p["keys"], "keys", extra=check.INDEX_TYPES)
    if not keys:
        raise ValidationError("'keys' names no field", path="keys")
    options: dict[str, Any] = {}
    if check.flag(p.get("unique"), "unique", False):
        options["unique"] = True
    if check.flag(p.get("sparse"), "sparse", False):
        options["sparse"] = True
    name = p.get("name")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise ValidationError(f"'name' must be a non-empty string, got {name!r}", path="name")
        options["name"] = name
    ttl = check.count(p.get("expire_after_seconds"), "expire_after_seconds", None)
    if ttl is not None:
        if len(keys) != 1:
            raise ValidationError("a TTL index (expire_after_seconds) has exactly one field", path="keys")
        options["expireAfterSeconds"] = ttl

    async def work(coll: Any, session: Any) -> str:
        return await coll.create_index(keys, **options)

    created = await _run(backend, collection, work)
    return {"index_name": created, "success": True}


async def count_documents(backend: Any, p: dict) -> dict:
    collection = check.collection_name(p["collection"])
    query = check.query(p.get("filter"))

    async def work(coll: Any, session: Any) -> int:
        return await coll.count_documents(query, session=session)

    return {"count": await _run(backend, collection, work)}


OPERATIONS = {
    "DocumentInsertNode": insert_document, "DocumentFindNode": find_documents, "DocumentUpdateNode": update_documents,
    "DocumentDeleteNode": delete_documents, "BulkDocumentInsertNode": bulk_insert_documents,
    "MongoAggregateNode": aggregate, "CreateIndexNode": create_index, "DocumentCountNode": count_documents,
}
