"""SQLite's aggregate hooks: exact sums of decimal text, and of integers past 64 bits.

Decimals are stored as text, which SQLite's ``SUM`` would add as doubles: they are summed by
``dataflow_exact_sum`` (:mod:`.functions`). Integers use the native ``SUM`` (fast, exact), which raises
"integer overflow" when a running total leaves 64 bits; the statement is then run again with the exact
function, so a sum past 64 bits is still exact (as on PostgreSQL, MariaDB and MongoDB).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from dataflow.errors import DatabaseError
from dataflow.query.ast import FieldRef
from dataflow.sql.aggregate import Aggregates


class SQLiteAggregates(Aggregates):
    async def aggregate(self, model: Any, where: Any, plan: Any) -> list[tuple]:
        try:
            return await self.aggregate_rows(model, where, plan, wide=False)
        except DatabaseError as exc:
            if "integer overflow" not in str(exc):
                raise
            return await self.aggregate_rows(model, where, plan, wide=True)

    def aggregate_sum(self, compiler: Any, ref: FieldRef, wide: bool) -> Any:
        kind = ref.field.kind
        if kind == "decimal" or (kind == "int" and wide):
            return sa.func.dataflow_exact_sum(compiler.column(ref))
        return sa.func.sum(compiler.column(ref))
