"""The read primitives on MongoDB: select and count."""

from __future__ import annotations

from dataflow.query.order import OrderItem
from dataflow.query.related import resolved

from . import driver
from .encoding import _Plan
from .limits import operation


class MongoReads:
    """Mixin of :class:`~dataflow_mongo.backend.MongoBackend`: select and count."""

    def _sort(self, plan: _Plan, order: list[OrderItem]) -> list[tuple[str, int]]:
        return [(plan.keys[item.field], -1 if item.descending else 1) for item in order]

    @operation("find")
    async def select(self, model, where, order, limit, offset) -> list[dict]:
        if limit == 0:
            return []
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.select(model, where, order, limit, offset))
        where = await resolved(self, where)  # relationship filters: key lists (query/related.py)
        plan = self.plan(model)
        query = self.where(model, where)
        self._observe("find", model, query)
        conn = await self._conn()
        try:
            cursor = conn.coll(model.table).find(query, sort=self._sort(plan, order) or None, skip=offset or 0,
                                                 limit=limit or 0, session=self.session(conn))
            docs = await cursor.to_list(None)
        except driver.perr.PyMongoError as exc:
            raise self._translate(exc, model) from exc
        decode = self.decode
        return [decode(model, d) for d in docs]

    @operation("count")
    async def count(self, model, where) -> int:
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.count(model, where))
        where = await resolved(self, where)  # relationship filters: key lists (query/related.py)
        query = self.where(model, where)
        self._observe("count", model, query)
        conn = await self._conn()
        try:
            return await conn.coll(model.table).count_documents(query, session=self.session(conn))
        except driver.perr.PyMongoError as exc:
            raise self._translate(exc, model) from exc
