"""The eight document operations: parameters checked by :mod:`.validate`, then one pymongo call each.

Values are MongoDB's own (see :mod:`dataflow_mongo.documents`); errors become DataFlow errors through the
backend's translation, with bulk inserts saying which documents were written.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from dataflow.errors import DatabaseError, DataFlowError, DuplicateKeyError, ValidationError

from . import validate as check
from .limits import limited


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

    try:
        async with limited(backend, work.__qualname__.split(".")[0].replace("_", " ")):  # "insert document"
            conn = await backend._conn()
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
        async with limited(backend, "bulk insert documents"):
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
