"""PostgreSQL's bulk paths: binary ``COPY`` for bulk inserts, ``INSERT … ON CONFLICT`` for upserts.

* Bulk inserts COPY inside one transaction; a failure names the record and writes nothing. PostgreSQL
  refuses ``COPY FROM`` under row-level security, so those bind whole columns as arrays (:mod:`.unnest`).
* An upsert whose updates take the inserted values binds each column as one array and unnests it
  server-side (one statement per 50,000 rows); ``RETURNING (xmax = 0)`` tells created rows from updated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from dataflow.backend import UpsertOutcome
from dataflow.errors import DataFlowError
from sqlalchemy.dialects import postgresql

from .unnest import UNNEST_BATCH, ArrayPaths


class BulkPaths(ArrayPaths):
    """Mixin of :class:`~dataflow_postgres.backend.PostgresBackend`: inserts and upserts in bulk."""

    async def insert(self, model, rows, *, returning: bool):
        if len(rows) <= 1 or returning:
            return await super().insert(model, rows, returning=returning)
        columns = tuple(rows[0])
        encoded = self.encode_rows(model, rows, columns)
        if self.row_level_security:  # COPY FROM is refused under row-level security; arrays are not
            await self.insert_arrays(model, columns, [list(col) for col in zip(*encoded)])
            return []
        await self._copy(model, columns, encoded, encoded)
        return []

    async def insert_columns(self, model, columns, values) -> None:
        if self.row_level_security:
            if values and values[0]:
                await self.insert_arrays(model, tuple(columns), self.encode_column_values(model, columns, values))
        elif values and values[0]:
            # rows are made lazily as COPY consumes them: no second full copy of the data in memory
            await self._copy(model, tuple(columns), zip(*self.encode_column_values(model, columns, values)), ())

    async def _copy(self, model, columns, records, shown) -> None:
        """Binary COPY in one transaction; a failure names the record and writes nothing."""
        await self._copy_into(model.table, model, columns, records, shown)

    async def _copy_into(self, table, model, columns, records, shown) -> None:
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)"
        async with self.unit():
            try:
                await self.session.call(sql, shown, self.driver.copy, (table, list(columns), records))
            except DataFlowError as error:
                row = _copy_row(error.__cause__)
                if row is not None:
                    error.message = f"record at index {row}: {error.message}"
                    error.args = (error.message,)
                raise

    async def upsert(self, model, rows, updates, conflict_on, *, returning: bool) -> UpsertOutcome:
        """``INSERT … ON CONFLICT DO UPDATE … RETURNING (xmax = 0)``: atomic, and tells created from updated."""
        if not rows:
            return UpsertOutcome([], [])
        if any(not u for u in updates) or len({tuple(u) for u in updates}) != 1:
            return await super().upsert(model, rows, updates, conflict_on, returning=returning)
        update_cols = tuple(updates[0])
        columns = tuple(rows[0])
        from_row = all(c in row and row[c] == u[c] for row, u in zip(rows, updates) for c in update_cols)
        unnest = from_row
        out_rows: list[dict] = []
        created: list[bool] = []
        async with self.unit():
            batch_size = UNNEST_BATCH if unnest else (self.chunk_size(len(columns)) if from_row else 1)
            for batch in _unique_batches(rows, updates, conflict_on, batch_size):
                if unnest:
                    sql, params = self._upsert_unnest(model, columns, update_cols, conflict_on, [r for r, _ in batch],
                                                      returning)
                    if not returning:  # only the counts: (created, total) of the batch
                        made, total = (await self.fetch(sql, params))[0]
                        created.extend([True] * made + [False] * (total - made))
                        continue
                else:
                    sql, params = self._upsert_statement(model, columns, update_cols, conflict_on, batch, from_row)
                for record in await self.fetch(sql, params):
                    out_rows.append(self.decode(model, record[:-1]))
                    created.append(bool(record[-1]))
        return UpsertOutcome(out_rows if returning else [], created)

    def _upsert_unnest(self, model, columns, update_cols, conflict_on, rows, returning=True) -> tuple[str, list]:
        """One statement for a whole batch: arrays per column, unnested server-side."""
        encoded = self.encode_rows(model, rows, columns)
        arrays = self.as_arrays(model, columns, [list(c) for c in zip(*encoded)])
        return self._upsert_unnest_sql(model, columns, update_cols, conflict_on, returning), arrays

    def _upsert_unnest_sql(self, model, columns, update_cols, conflict_on, returning: bool) -> str:
        """``INSERT … SELECT * FROM unnest(…) ON CONFLICT … DO UPDATE``; without ``returning`` the statement
        returns one row: how many rows it created, and how many it wrote."""
        quote = self.quote
        key = ("upsert-unnest", model.name, tuple(columns), tuple(update_cols), tuple(conflict_on), returning)
        sql = self._sql_cache.get(key)
        if sql is None:
            sets = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update_cols)
            head = (
                f"INSERT INTO {quote(model.table)} ({', '.join(quote(c) for c in columns)}) "
                f"{self.unnest_select(model, columns)} "
                f"ON CONFLICT ({', '.join(quote(c) for c in conflict_on)}) DO UPDATE SET {sets} "
            )
            if returning:
                sql = f"{head}RETURNING {', '.join(quote(c) for c in model.fields)}, (xmax = 0)"
            else:
                sql = (f"WITH w AS ({head}RETURNING (xmax = 0) AS made) "
                       "SELECT count(*) FILTER (WHERE made), count(*) FROM w")
            self._sql_cache[key] = sql
        return sql

    async def upsert_columns(self, model, columns, values, update_cols, conflict_on) -> UpsertOutcome:
        """BulkUpsert straight from the columns: each bound as one array, one statement per chunk."""
        columns = tuple(columns)
        keys = [values[columns.index(c)] for c in conflict_on]
        total = len(values[0]) if values else 0
        try:
            distinct = len(set(keys[0]) if len(keys) == 1 else set(zip(*keys))) == total
        except TypeError:  # unhashable key values
            distinct = False
        if not update_cols or not distinct:  # ON CONFLICT cannot touch one row twice in a statement
            return await super().upsert_columns(model, columns, values, update_cols, conflict_on)
        sql = self._upsert_unnest_sql(model, columns, tuple(update_cols), conflict_on, False)
        encoded = self.as_arrays(model, columns, self.encode_column_values(model, columns, values))
        made = 0
        async with self.unit():
            for start in range(0, total, UNNEST_BATCH):
                made += (await self.fetch(sql, [col[start : start + UNNEST_BATCH] for col in encoded]))[0][0]
        return UpsertOutcome([], [True] * made + [False] * (total - made))

    def _upsert_statement(self, model, columns, update_cols, conflict_on, batch, from_row) -> tuple[str, list]:
        table = self.table(model)
        values: dict[str, Any] = {}
        rows_sql = []
        for i, (row, _update) in enumerate(batch):
            rows_sql.append({c: sa.bindparam(f"v{i}_{c}") for c in columns})
            for c, v in zip(columns, self.encode_row(model, row, columns)):
                values[f"v{i}_{c}"] = v
        stmt = postgresql.insert(table).values(rows_sql)
        if from_row:
            assignments = {c: stmt.excluded[c] for c in update_cols}
        else:
            update = batch[0][1]
            assignments = {c: sa.bindparam(f"u_{c}") for c in update_cols}
            values.update({f"u_{c}": self.encode_value(model.fields[c].kind, update[c]) for c in update_cols})
        stmt = stmt.on_conflict_do_update(index_elements=[table.c[c] for c in conflict_on], set_=assignments)
        stmt = stmt.returning(*table.c, sa.literal_column("(xmax = 0)"))
        compiled = stmt.compile(dialect=self.dialect)
        return str(compiled), [values[name] for name in compiled.positiontup]


def _unique_batches(rows: list[dict], updates: list[dict], conflict_on: Sequence[str], size: int = 500):
    """Split rows so that no statement touches one key twice (ON CONFLICT forbids it)."""
    batch: list[tuple[dict, dict]] = []
    keys: set = set()
    for row, update in zip(rows, updates):
        key = tuple(row[c] for c in conflict_on)
        if key in keys or len(batch) >= size:
            yield batch
            batch, keys = [], set()
        batch.append((row, update))
        keys.add(key)
    if batch:
        yield batch


def _copy_row(exc: BaseException | None) -> int | None:
    context = getattr(exc, "context", None) or str(exc)
    match = re.search(r"COPY \S+, line (\d+)", context or "")
    return int(match[1]) - 1 if match else None
