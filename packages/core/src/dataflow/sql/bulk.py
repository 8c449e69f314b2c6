"""Set-based bulk primitives every SQL backend shares: a value per row in one prepared statement.

``update_rows`` (BulkUpdate with a value per record) runs ``UPDATE t SET c = ? … WHERE pk = ? AND <scope>`` once
for all rows through the driver's ``executemany``, in one unit of work: on SQLite that is one prepared statement
stepped per row in one transaction, the fastest the embedded engine offers. PostgreSQL and MySQL override it
with a single statement per chunk (``unnest``, a joined derived table).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..model import ModelSpec


class BulkPrimitives:
    """Mixin of :class:`~dataflow.sql.SQLBackend`: set-based writes of many rows."""

    def scope_clause(self, model: ModelSpec, table: Any, scope: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        """``scope`` (field -> value, None = IS NULL) as SQLAlchemy conditions with bound, encoded values."""
        conds, params = [], []
        for name, value in scope.items():
            if value is None:
                conds.append(table.c[name].is_(None))
            else:
                conds.append(table.c[name] == sa.bindparam(f"_scope_{name}"))
                params.append(self.encode_value(model.fields[name].kind, value))
        return conds, params

    def update_rows_sql(self, model: ModelSpec, columns: tuple[str, ...], scope: dict[str, Any]) -> str:
        key = ("update-rows", model.name, columns, tuple((n, v is None) for n, v in scope.items()))
        sql = self._sql_cache.get(key)
        if sql is None:
            table = self.table(model)
            conds, _ = self.scope_clause(model, table, scope)
            stmt = (sa.update(table).values({c: sa.bindparam(f"_v_{c}") for c in columns})
                    .where(table.c[model.primary_key] == sa.bindparam("_key"), *conds))
            compiled = stmt.compile(dialect=self.dialect)
            expected = [
                *(f"_v_{c}" for c in columns),
                "_key",
                *(f"_scope_{n}" for n, v in scope.items() if v is not None),
            ]
            assert list(compiled.positiontup or []) == expected, compiled.positiontup
            sql = self._sql_cache[key] = str(compiled)
        return sql

    async def update_rows(self, model: ModelSpec, columns: tuple[str, ...], keys: list, values: list[list],
                          scope: dict[str, Any]) -> int:
        """One prepared UPDATE for every row (``executemany``), in one unit; how many rows matched."""
        if not keys:
            return 0
        sql = self.update_rows_sql(model, columns, scope)
        _, scope_params = self.scope_clause(model, self.table(model), scope)
        encoded_keys, encoded = self.encode_update_columns(model, columns, keys, values)
        params = list(zip(*encoded, encoded_keys, *([p] * len(keys) for p in scope_params)))
        async with self.unit():
            if len(params) == 1:
                return int(await self.execute(sql, params[0]))
            matched = await self.execute_many(sql, params)
        if isinstance(matched, int):
            return matched
        return len(keys) if await self._all_present(model, keys, scope) else -1

    def encode_update_columns(self, model: ModelSpec, columns: tuple[str, ...], keys: list,
                              values: list[list]) -> tuple[list[Any], list[list[Any]]]:
        """Keys and value columns, encoded for the driver."""
        encoded_keys = self.encode_column_values(model, [model.primary_key], [keys])[0]
        return encoded_keys, self.encode_column_values(model, columns, values)

    async def _all_present(self, model: ModelSpec, keys: list, scope: dict[str, Any]) -> bool:
        """Whether every key of ``rows`` has a row within ``scope`` (drivers that do not count executemany)."""
        table = self.table(model)
        pk = table.c[model.primary_key]
        conds, scope_params = self.scope_clause(model, table, scope)
        kind = model.pk.kind
        found = 0
        for part in self.chunks(keys, 1 + len(scope_params)):
            stmt = sa.select(sa.func.count()).select_from(table).where(
                pk.in_([sa.literal(self.encode_value(kind, k), type_=sa.types.NullType()) for k in part]), *conds)
            sql, params = self.compile(stmt.params({f"_scope_{n}": v for n, v in zip(
                [n for n, v in scope.items() if v is not None], scope_params)}))
            found += int((await self.fetch(sql, params))[0][0])
        return found == len(keys)
