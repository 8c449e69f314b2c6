"""SQLite's bulk upsert: one prepared ``INSERT … ON CONFLICT (target) DO UPDATE`` for every row.

When every update takes the inserted values (BulkUpsert), the rows go through ``executemany`` of one statement
in the caller's unit of work: SQLite steps the prepared statement per row, the fastest it offers. Created vs
updated comes from one read of the existing keys in the same transaction (SQLite has one writer at a time, so
nothing changes in between; the column-wise BulkUpsert counts the table's rows instead). A refused row is named by its
index (core replays the batch row by row, then
undoes it). Other upserts (per-row update values, ``returning``) take core's portable path.
"""

from __future__ import annotations

import json

from dataflow.backend import UpsertOutcome

#: key kinds whose stored values JSON carries unchanged (``json_each`` then yields them as SQL values)
JSON_KEYS = {"str", "int"}


class BulkUpserts:
    """Mixin of :class:`~dataflow_sqlite.backend.SQLiteBackend`: the set-based upsert."""

    def _upsert_sql(self, model, columns: tuple[str, ...], update_cols: tuple[str, ...], conflict_on) -> str:
        key = ("upsert", model.name, columns, update_cols, tuple(conflict_on))
        sql = self._sql_cache.get(key)
        if sql is None:
            quote = self.quote
            action = ("DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update_cols)
                      if update_cols else "DO NOTHING")
            sql = self._sql_cache[key] = (
                f"INSERT INTO {quote(model.table)} ({', '.join(quote(c) for c in columns)}) "
                f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT ({', '.join(quote(c) for c in conflict_on)}) "
                f"{action}")
        return sql

    async def _existing_keys(self, model, rows, conflict_on) -> set[tuple]:
        return await self._existing_of(model, conflict_on, [tuple(row[c] for c in conflict_on) for row in rows])

    async def _existing_of(self, model, conflict_on, keys: list[tuple]) -> set[tuple]:
        """Which keys exist, in one statement: the keys as one JSON array parameter (``json_each``)."""
        if len(conflict_on) != 1 or model.fields[conflict_on[0]].kind not in JSON_KEYS:
            rows = [dict(zip(conflict_on, key)) for key in keys]
            return await super()._existing_keys(model, rows, conflict_on)
        name = conflict_on[0]
        quote = self.quote
        keys = json.dumps(list({key[0] for key in keys}), ensure_ascii=False)
        sql = (f"SELECT {quote(name)} FROM {quote(model.table)} WHERE {quote(name)} IN "
               "(SELECT value FROM json_each(?))")
        return {(r[0],) for r in await self.fetch(sql, (keys,))}

    async def upsert_columns(self, model, columns, values, update_cols, conflict_on) -> UpsertOutcome:
        """One prepared ``INSERT … ON CONFLICT`` stepped over the columns, in one transaction. How many rows it
        created is the table's row count after minus before: SQLite has one writer, so nothing else changed it."""
        columns = tuple(columns)
        count = f"SELECT count(*) FROM {self.quote(model.table)}"
        async with self.unit():
            before = (await self.fetch(count, ()))[0][0]
            sql = self._upsert_sql(model, columns, tuple(update_cols), conflict_on)
            await self._execute_many_naming_row(sql, self.encode_columns(model, columns, values))
            made = (await self.fetch(count, ()))[0][0] - before
        total = len(values[0]) if values else 0
        return UpsertOutcome([], [True] * made + [False] * (total - made))

    async def upsert(self, model, rows, updates, conflict_on, *, returning: bool) -> UpsertOutcome:
        if not rows or returning or len(rows) == 1:
            return await super().upsert(model, rows, updates, conflict_on, returning=returning)
        columns = tuple(rows[0])
        update_cols = tuple(updates[0])
        for row, update in zip(rows, updates):
            if tuple(row) != columns or tuple(update) != update_cols or not all(
                    row[c] is update[c] or row[c] == update[c] for c in update_cols):
                return await super().upsert(model, rows, updates, conflict_on, returning=returning)
        async with self.unit():
            seen = await self._existing_keys(model, rows, conflict_on)
            created = []
            for row in rows:
                key = tuple(row[c] for c in conflict_on)
                created.append(key not in seen)
                seen.add(key)
            sql = self._upsert_sql(model, columns, update_cols, conflict_on)
            await self._execute_many_naming_row(sql, self.encode_rows(model, rows, columns))
        return UpsertOutcome([], created)
