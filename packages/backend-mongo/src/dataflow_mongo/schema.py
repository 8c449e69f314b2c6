"""Collections, indexes and id counters of the models on MongoDB (ensure_models, drop_tables)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dataflow.errors import SchemaError
from dataflow.model import ModelSpec

from . import driver
from .connection import _Conn
from .limits import operation

INDEX_CONFLICT_CODES = {85, 86}  # IndexOptionsConflict, IndexKeySpecsConflict
NAMESPACE_EXISTS = 48
#: $type of a stored value, per field kind (what a partial unique index covers)
STORED_TYPE = {"str": "string", "int": "number", "float": "number", "bool": "bool", "datetime": "string",
               "date": "string", "decimal": "decimal", "bytes": "string"}


class MongoSchema:
    """Mixin of :class:`~dataflow_mongo.backend.MongoBackend`: collections, indexes, counters."""

    @operation("schema change")
    async def ensure_models(self, models: Sequence[ModelSpec], *, create: bool) -> None:
        conn = await self._conn()
        model = None
        try:
            existing = set(await conn.db.list_collection_names())
        except driver.perr.PyMongoError as exc:
            raise self._translate(exc) from exc
        missing = [m for m in models if m.table not in existing]
        if not create and missing:
            names = ", ".join(f"{m.name} ({m.table})" for m in missing)
            raise SchemaError(f"collection(s) missing and auto_migrate is off: {names}; create them or set "
                              "auto_migrate=True")
        try:
            for model in models:
                if create and model.table not in existing:
                    self._observe("create_collection", model, {})
                    try:
                        await conn.db.create_collection(model.table)
                    except driver.perr.CollectionInvalid:
                        pass  # created concurrently
                    except driver.perr.OperationFailure as exc:
                        if exc.code != NAMESPACE_EXISTS:
                            raise
                if create:
                    await self._backfill_defaults(conn, model, fresh=model.table not in existing)
                    for index in model.indexes:
                        await self._create_index(conn, model, index)
                if model.pk.kind == "int":
                    await self._seed_counter(conn, model)
        except driver.perr.PyMongoError as exc:
            error = self._translate(exc, model)
            raise SchemaError(f"creating collections and indexes failed: {error.message}", orig=exc) from exc

    async def _create_index(self, conn: _Conn, model: ModelSpec, index: Any) -> None:
        fields = [model.fields[name] for name in index.fields]
        keys = [(driver.mongo_name(f), 1) for f in fields]
        options: dict[str, Any] = {"name": index.name}
        if index.unique:
            options["unique"] = True
            nullable = [f for f in fields if (f.nullable or f.managed) and not f.primary_key]
            if nullable:
                conds = [
                    {
                        driver.mongo_name(f): (
                            {"$type": STORED_TYPE[f.kind]} if f.kind in STORED_TYPE else {"$exists": True}
                        )
                    }
                    for f in fields
                ]
                options["partialFilterExpression"] = conds[0] if len(conds) == 1 else {"$and": conds}
        try:
            await conn.coll(model.table).create_index(keys, **options)
        except driver.perr.OperationFailure as exc:
            if exc.code in INDEX_CONFLICT_CODES:
                raise SchemaError(
                    f"model {model.name}: index {index.name!r} exists on {model.table} with different keys or "
                    f"options; drop it or rename the index in __dataflow__['indexes']", orig=exc) from exc
            raise

    async def _backfill_defaults(self, conn: _Conn, model: ModelSpec, *, fresh: bool) -> None:
        """Give documents stored before a field with a default existed that default, once per field.

        The model's defaulted fields are recorded next to the id counters (``<table>.fields``), so a restart
        scans nothing; a field not in the record is set where it is missing (one ``update_many`` each).
        """
        defaulted = {f.name: f for f in model.fields.values()
                     if f.has_default and not f.managed and not f.primary_key and f.default is not None}
        if not defaulted:
            return
        record_id = f"{model.table}.fields"
        record = None if fresh else await conn.counters.find_one({"_id": record_id})
        done = set(record.get("fields", ())) if record else set()
        for name, field in defaulted.items():
            if name in done or fresh:
                continue
            value = field.default_value()
            encode = driver.ENCODERS.get(field.kind)
            key = driver.mongo_name(field)
            self._observe("backfill", model, {"field": name})
            await conn.coll(model.table).update_many(
                {key: {"$exists": False}}, {"$set": {key: value if encode is None else encode(value)}})
        if done != set(defaulted):  # the current set: a field dropped from the model and declared again is refilled
            await conn.counters.update_one({"_id": record_id}, {"$set": {"fields": sorted(defaulted)}}, upsert=True)

    async def _seed_counter(self, conn: _Conn, model: ModelSpec) -> None:
        """Start the id counter past the largest int id already stored (data written by others)."""
        if await conn.counters.find_one({"_id": model.table}) is not None:
            return
        top = await conn.coll(model.table).find_one({"_id": {"$type": "number"}}, {"_id": 1}, sort=[("_id", -1)])
        start = int(top["_id"]) if top else 0
        await conn.counters.update_one({"_id": model.table}, {"$max": {"seq": start}}, upsert=True)

    @operation("drop")
    async def drop_tables(self, models: Sequence[ModelSpec]) -> None:
        """Drop the models' collections and id counters (test cleanup)."""
        conn = await self._conn()
        for model in models:
            await conn.db.drop_collection(model.table)
            await conn.counters.delete_many({"_id": {"$in": [model.table, f"{model.table}.fields"]}})
