"""The write primitives on MongoDB: insert (with int ids from counters), update, delete, upsert."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dataflow.backend import UpsertOutcome
from dataflow.errors import DataFlowError
from dataflow.model import ModelSpec
from dataflow.query.ast import And, Cmp, Expr
from dataflow.query.order import OrderItem
from dataflow.query.related import resolved

from . import driver
from .connection import _Conn
from .encoding import _Plan
from .limits import operation


def _pins_key(expr: Expr) -> bool:
    """Whether ``expr`` selects at most one document: an equality on the key, alone or in a conjunction."""
    if isinstance(expr, Cmp):
        return expr.op == "eq" and expr.ref.field.primary_key and not expr.ref.path and expr.value is not None
    if isinstance(expr, And):
        return any(_pins_key(e) for e in expr.items)
    return False


class MongoWrites:
    """Mixin of :class:`~dataflow_mongo.backend.MongoBackend`: insert, update, delete, upsert."""

    async def _ids(self, conn: _Conn, model: ModelSpec, plan: _Plan, rows: Sequence[dict]) -> list[Any]:
        pk = plan.pk
        ids = [row.get(pk) for row in rows]
        if not plan.auto_id:
            return ids
        missing = [i for i, key in enumerate(ids) if key is None]
        if missing:
            doc = await conn.counters.find_one_and_update(
                {"_id": model.table}, {"$inc": {"seq": len(missing)}}, upsert=True,
                return_document=driver.ReturnDocument.AFTER)
            first = int(doc["seq"]) - len(missing) + 1
            for offset, i in enumerate(missing):
                ids[i] = first + offset
        if len(missing) < len(ids):
            top = max(key for i, key in enumerate(ids) if key is not None)
            await conn.counters.update_one({"_id": model.table}, {"$max": {"seq": top}}, upsert=True)
        return ids

    @operation("insert")
    async def insert(self, model: ModelSpec, rows: list[dict], *, returning: bool) -> list[dict]:
        if not rows:
            return []
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.insert(model, rows, returning=returning))
        plan = self.plan(model)
        conn = await self._conn()
        try:
            ids = await self._ids(conn, model, plan, rows)
            docs = self._encode_docs(plan, rows, ids)
            self._observe("insert", model, len(docs))
            coll = conn.coll(model.table)
            if len(docs) == 1:
                await coll.insert_one(docs[0], session=self.session(conn))
            else:
                async def work(c: _Conn, session: Any) -> None:
                    await c.coll(model.table).insert_many(docs, ordered=True, session=session)

                await self.atomic(work)
        except DataFlowError:
            raise
        except (driver.perr.PyMongoError, OverflowError) as exc:
            error = self._translate(exc, model)
            if isinstance(exc, driver.perr.BulkWriteError) and self.server_transactions is False:
                written = exc.details.get("nInserted", 0)
                error.message += (f"; records 0-{written - 1} were written before it (this server has no "
                                  "transactions)" if written else "; nothing was written")
                error.args = (error.message,)
            raise error from exc
        if returning:
            return [self._output(model, plan, row, key) for row, key in zip(rows, ids, strict=True)]
        return []

    @operation("update")
    async def update(self, model, where, values, *, returning: bool):
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.update(model, where, values, returning=returning))
        where = await resolved(self, where)  # relationship filters: key lists (query/related.py)
        plan = self.plan(model)
        query = self.where(model, where)
        update = self._encode_values(plan, values)
        self._observe("update", model, (query, update))
        single = _pins_key(where)
        try:
            if not update:
                rows = await self.select(model, where, [OrderItem(plan.pk)], None, 0)
                return rows if returning else len(rows)
            if single:
                conn = await self._conn()
                coll = conn.coll(model.table)
                if returning:
                    doc = await coll.find_one_and_update(query, update, return_document=driver.ReturnDocument.AFTER,
                                                         session=self.session(conn))
                    return [] if doc is None else [self.decode(model, doc)]
                result = await coll.update_one(query, update, session=self.session(conn))
                return result.matched_count

            async def work(c: _Conn, session: Any) -> Any:
                coll = c.coll(model.table)
                if not returning:
                    return (await coll.update_many(query, update, session=session)).matched_count
                keys = [d["_id"] async for d in coll.find(query, {"_id": 1}, session=session)]
                if not keys:
                    return []
                await coll.update_many({"_id": {"$in": keys}}, update, session=session)
                docs = await coll.find({"_id": {"$in": keys}}, sort=[("_id", 1)], session=session).to_list(None)
                return [self.decode(model, d) for d in docs]

            return await self.atomic(work)
        except DataFlowError:
            raise
        except driver.perr.PyMongoError as exc:
            raise self._translate(exc, model) from exc

    @operation("delete")
    async def delete(self, model, where) -> int:
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.delete(model, where))
        where = await resolved(self, where)  # relationship filters: key lists (query/related.py)
        query = self.where(model, where)
        self._observe("delete", model, query)
        conn = await self._conn()
        coll = conn.coll(model.table)
        try:
            if _pins_key(where):
                return (await coll.delete_one(query, session=self.session(conn))).deleted_count
            return (await coll.delete_many(query, session=self.session(conn))).deleted_count
        except driver.perr.PyMongoError as exc:
            raise self._translate(exc, model) from exc

    @operation("upsert")
    async def upsert(self, model, rows, updates, conflict_on, *, returning: bool) -> UpsertOutcome:
        """Insert each row, or apply its update where ``conflict_on`` matches.

        When every update holds the row's own values (BulkUpsert), one ``bulk_write`` of ``driver.UpdateOne(…,
        upsert=True)`` with ``$set`` + ``$setOnInsert`` does it, atomically per record; otherwise each row is
        an update-or-insert. Several rows run in one transaction.
        """
        if not rows:
            return UpsertOutcome([], [])
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.upsert(model, rows, updates, conflict_on, returning=returning))
        plan = self.plan(model)
        conn = await self._conn()
        keys = [plan.keys[c] for c in conflict_on]
        try:
            ids = await self._ids(conn, model, plan, rows) if plan.auto_id and plan.pk not in conflict_on else [
                row.get(plan.pk) for row in rows]
            docs = self._encode_docs(plan, rows, ids)
            from_row = all(
                all(name in row and row[name] is not None and type(row[name]) is type(value) and row[name] == value
                    for name, value in update.items())
                for row, update in zip(rows, updates, strict=True))
            filters = [{k: doc[k] for k in keys} for doc in docs]
            self._observe("upsert", model, filters[:3])

            async def bulk(c: _Conn, session: Any) -> list[bool]:
                ops = []
                for doc, filt, update in zip(docs, filters, updates, strict=True):
                    change = self._encode_values(plan, update)
                    on_insert = {k: v for k, v in doc.items() if k not in filt and k not in change.get("$set", ())}
                    if on_insert:
                        change["$setOnInsert"] = on_insert
                    if not change:
                        change = {"$setOnInsert": dict(filt)}
                    ops.append(driver.UpdateOne(filt, change, upsert=True))
                result = await c.coll(model.table).bulk_write(ops, ordered=True, session=session)
                return [i in result.upserted_ids for i in range(len(ops))]

            async def each(c: _Conn, session: Any) -> list[bool]:
                coll = c.coll(model.table)
                created = []
                for doc, filt, update in zip(docs, filters, updates, strict=True):
                    change = self._encode_values(plan, update)
                    if change:
                        found = await coll.find_one_and_update(filt, change, projection={"_id": 1}, session=session)
                    else:
                        found = await coll.find_one(filt, {"_id": 1}, session=session)
                    if found is None:
                        await coll.insert_one(doc, session=session)
                    created.append(found is None)
                return created

            work = bulk if from_row else each
            created = await (work(conn, self.session(conn)) if len(rows) == 1 else self.atomic(work))
            out_rows: list[dict] = []
            if returning:
                coll = conn.coll(model.table)
                for filt in filters:
                    found = await coll.find_one(filt, session=self.session(conn))
                    out_rows.append(self.decode(model, found))
        except DataFlowError:
            raise
        except (driver.perr.PyMongoError, OverflowError) as exc:
            raise self._translate(exc, model) from exc
        return UpsertOutcome(out_rows, created)
