"""MongoDB's set-based BulkUpdate: one ordered ``bulk_write`` of ``UpdateOne`` per record.

Each record's filter is its key plus the scope core asks for (tenant, not soft-deleted); the whole write runs in
one transaction (``MongoBackend.atomic``), so a refused record leaves nothing written; the error carries the
position the server reports (``record_index``), which core turns into the record's index in ``data``.
"""

from __future__ import annotations

from typing import Any

from dataflow.errors import DataFlowError
from dataflow.query.ast import And, Cmp, FieldRef

from .limits import operation


class BulkWrites:
    """Mixin of :class:`~dataflow_mongo.backend.MongoBackend`: updates with a value per record."""

    @operation("bulk update")
    async def update_rows(self, model, columns, keys, values, scope) -> int:
        if not keys:
            return 0
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.update_rows(model, columns, keys, values, scope))
        from pymongo import UpdateOne  # pymongo loads with the backend, not with this module
        from pymongo import errors as perr

        plan = self.plan(model)
        extra = tuple(Cmp(FieldRef(model.fields[name]), "eq", value) for name, value in scope.items())
        ops, queries = [], []
        for n, key in enumerate(keys):
            query = self.where(model, And((Cmp(FieldRef(model.pk), "eq", key), *extra)))
            queries.append(query)
            ops.append(UpdateOne(query, self._encode_values(plan, {c: col[n] for c, col in zip(columns, values)})))
        self._observe("update", model, queries[:3])

        async def work(c: Any, session: Any) -> int:
            return (await c.coll(model.table).bulk_write(ops, ordered=True, session=session)).matched_count

        try:
            return await self.atomic(work)
        except DataFlowError:
            raise
        except (perr.PyMongoError, OverflowError) as exc:
            error = self._translate(exc, model)
            if isinstance(exc, perr.BulkWriteError) and exc.details.get("writeErrors"):
                at = error.record_index = exc.details["writeErrors"][0]["index"]
                prefix = f"record at index {at}: "  # the position in this write, not in the caller's data
                if error.message.startswith(prefix):
                    error.message = error.message[len(prefix):]
                    error.args = (error.message,)
            raise error from exc
