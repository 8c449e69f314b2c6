"""The six data primitives on SQLAlchemy Core: insert, select, count, update, delete, upsert.

Statements are built with SQLAlchemy and compiled once per shape to SQL text with positional parameters
(:meth:`Primitives.compile`); values are encoded by the backend's codec and rows decoded by it, so the
driver sees only plain values. Every statement runs through ``self.fetch``/``self.execute``, that is
through the session (:mod:`dataflow.sql.session`). A dialect overrides a primitive only where its
database has a faster or atomic statement (COPY, ``ON CONFLICT``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import sqlalchemy as sa

from ..backend import UpsertOutcome
from ..errors import DataFlowError
from ..model import ModelSpec
from ..query.ast import And, Cmp, Expr, FieldRef
from ..query.order import OrderItem


class Primitives:
    """Mixin of :class:`~dataflow.sql.SQLBackend`: the data primitives."""

    explicit_null_order: ClassVar[bool] = False
    """Whether ORDER BY must say NULLS FIRST/LAST (nulls sort first ascending everywhere)."""
    statement_failure_keeps_transaction: ClassVar[bool] = True
    """After a failed statement the transaction is still usable (false on PostgreSQL)."""

    def chunk_size(self, per_item: int = 1) -> int:
        """How many items of ``per_item`` parameters one statement may carry (the driver's ``param_limit``)."""
        return max(1, self.driver.param_limit // max(1, per_item))

    def chunks(self, items: Sequence[Any], per_item: int = 1) -> Iterator[Sequence[Any]]:
        """``items`` in slices whose statements stay under the driver's parameter limit."""
        size = self.chunk_size(per_item)
        for start in range(0, len(items), size):
            yield items[start : start + size]

    # --- compiling ---------------------------------------------------------------------------------------------

    def compile(self, stmt: Any) -> tuple[str, list[Any]]:
        """SQL text and positional parameters for a statement.

        Compiling is the costly part of a small query, so compiled forms are cached by
        SQLAlchemy's own cache key (the statement's shape without its values), as its engine
        does; the values of a new statement of a known shape are mapped in by
        ``construct_params``. Statements with expanding IN lists compile each time (their
        text depends on the list's length).
        """
        try:
            key = stmt._generate_cache_key()
        except Exception:  # pragma: no cover - an element without caching support
            key = None
        if key is not None and not any(b.expanding for b in key.bindparams):
            compiled = self._compiled.get(key.key)
            if compiled is None:
                if len(self._compiled) >= 1024:
                    self._compiled.clear()
                compiled = self._compiled[key.key] = stmt.compile(dialect=self.dialect, cache_key=key)
                params = compiled.params
            else:
                params = compiled.construct_params(extracted_parameters=key.bindparams)
            return compiled.string, [params[name] for name in compiled.positiontup or []]
        compiled = stmt.compile(dialect=self.dialect, compile_kwargs={"render_postcompile": True})
        params = compiled.params
        return str(compiled), [params[name] for name in compiled.positiontup or []]

    def where(self, model: ModelSpec, expr: Expr) -> Any:
        return self.compiler_class(self, self.table(model)).compile(expr)

    def order_clause(self, model: ModelSpec, order: list[OrderItem]) -> list[Any]:
        table = self.table(model)
        compiler = self.compiler_class(self, table)
        clauses = []
        for item in order:
            col = compiler.comparable(FieldRef(model.fields[item.field]))
            clause = col.desc() if item.descending else col.asc()
            if self.explicit_null_order:
                clause = clause.nulls_last() if item.descending else clause.nulls_first()
            clauses.append(clause)
        return clauses

    # --- primitives -----------------------------------------------------------------------------------------------

    def insert_sql(self, model: ModelSpec, columns: tuple[str, ...], returning: bool) -> str:
        key = ("insert", model.name, columns, returning)
        sql = self._sql_cache.get(key)
        if sql is None:
            table = self.table(model)
            stmt = sa.insert(table).values({c: sa.bindparam(c) for c in columns})
            if returning:
                stmt = stmt.returning(*table.c)
            compiled = stmt.compile(dialect=self.dialect)
            assert list(compiled.positiontup or []) == list(columns)
            sql = self._sql_cache[key] = str(compiled)
        return sql

    async def insert(self, model: ModelSpec, rows: list[dict], *, returning: bool) -> list[dict]:
        if not rows:
            return []
        columns = tuple(rows[0])
        if len(rows) == 1:
            params = self.encode_row(model, rows[0], columns)
            if returning and self.capabilities.returning:
                fetched = await self.fetch(self.insert_sql(model, columns, True), params)
                return [self.decode(model, fetched[0])]
            async with self.unit():
                await self.execute(self.insert_sql(model, columns, False), params)
                if returning:
                    return await self._read_back_last(model, rows[0])
            return []
        sql = self.insert_sql(model, columns, False)
        encoded = self.encode_rows(model, rows, columns)
        if returning:
            return await self._insert_returning_many(model, columns, rows, encoded)
        async with self.unit():
            await self._execute_many_naming_row(sql, encoded)
        return []

    async def insert_columns(self, model: ModelSpec, columns: list[str], values: list[list]) -> None:
        if not values or not values[0]:
            return
        sql = self.insert_sql(model, tuple(columns), False)
        rows = self.encode_columns(model, columns, values)
        async with self.unit():
            await self._execute_many_naming_row(sql, rows)

    async def _execute_many_naming_row(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """executemany, and on failure say which record failed (replayed row by row, then undone)."""
        handle = self.current_transaction()
        guard = None
        if handle is not None and self.capabilities.savepoints:
            # a way back to before the call: a failed statement aborts the transaction (PostgreSQL), or the
            # records before the failing one are already written (SQLite), which the replay would collide with
            guard = await handle.savepoint()
        try:
            await self.execute_many(sql, rows)
        except DataFlowError as error:
            if guard is not None:
                await handle.rollback_to(guard)
            elif not self.statement_failure_keeps_transaction:
                raise
            name = guard or await handle.savepoint()
            try:
                for index, row in enumerate(rows):
                    try:
                        await self.execute(sql, row)
                    except DataFlowError:
                        error.message = f"record at index {index}: {error.message}"
                        error.args = (error.message,)
                        break
            finally:
                await handle.rollback_to(name)
            raise error

    async def _insert_returning_many(self, model, columns, rows, encoded) -> list[dict]:
        result: list[dict] = []
        async with self.unit():
            try:
                if self.capabilities.returning:
                    sql = self.insert_sql(model, columns, True)
                    for params in encoded:
                        result.extend(self.decode(model, r) for r in await self.fetch(sql, params))
                else:
                    sql = self.insert_sql(model, columns, False)
                    for row, params in zip(rows, encoded):
                        await self.execute(sql, params)
                        result.extend(await self._read_back_last(model, row))
            except DataFlowError as error:  # each record written so far added one row to the result
                if "record at index" not in error.message:
                    error.message = f"record at index {len(result)}: {error.message}"
                    error.args = (error.message,)
                raise
        return result

    async def _read_back_last(self, model: ModelSpec, row: dict) -> list[dict]:
        """Backends without RETURNING read the row back by key (override with LAST_INSERT_ID)."""
        raise NotImplementedError

    async def select(self, model, where, order, limit, offset) -> list[dict]:
        table = self.table(model)
        stmt = sa.select(*table.c)
        clause = self.where(model, where)
        if clause is not None:
            stmt = stmt.where(clause)
        stmt = stmt.order_by(*self.order_clause(model, order))
        if limit is not None:
            stmt = stmt.limit(limit)
        if offset:
            stmt = stmt.offset(offset)
        sql, params = self.compile(stmt)
        return [self.decode(model, r) for r in await self.fetch(sql, params)]

    async def count(self, model, where) -> int:
        table = self.table(model)
        stmt = sa.select(sa.func.count()).select_from(table)
        clause = self.where(model, where)
        if clause is not None:
            stmt = stmt.where(clause)
        sql, params = self.compile(stmt)
        return int((await self.fetch(sql, params))[0][0])

    def _values(self, model: ModelSpec, values: dict) -> dict:
        return {
            k: sa.literal(self.encode_value(model.fields[k].kind, v), type_=sa.types.NullType())
            for k, v in values.items()
        }

    async def update(self, model, where, values, *, returning: bool):
        table = self.table(model)
        stmt = sa.update(table).values(self._values(model, values))
        clause = self.where(model, where)
        if clause is not None:
            stmt = stmt.where(clause)
        if returning and self.capabilities.returning:
            sql, params = self.compile(stmt.returning(*table.c))
            async with self.unit():
                return [self.decode(model, r) for r in await self.fetch(sql, params)]
        if returning:
            async with self.unit():
                keys = [r[model.primary_key] for r in await self.select(model, where, [], None, 0)]
                if not keys:
                    return []
                sql, params = self.compile(stmt)
                await self.execute(sql, params)
                by_key = Cmp(FieldRef(model.pk), "in", tuple(keys))
                return await self.select(model, by_key, [OrderItem(model.primary_key)], None, 0)
        sql, params = self.compile(stmt)
        async with self.unit():
            return await self.execute(sql, params)

    async def delete(self, model, where) -> int:
        table = self.table(model)
        stmt = sa.delete(table)
        clause = self.where(model, where)
        if clause is not None:
            stmt = stmt.where(clause)
        sql, params = self.compile(stmt)
        async with self.unit():
            return await self.execute(sql, params)

    async def upsert(self, model, rows, updates, conflict_on, *, returning: bool) -> UpsertOutcome:
        """Portable upsert: find existing keys, then insert the new rows and update the others.

        Runs in one unit of work; a dialect with an atomic statement overrides this.
        """
        created: list[bool] = []
        out_rows: list[dict] = []
        async with self.unit():
            existing = await self._existing_keys(model, rows, conflict_on)
            seen = set(existing)
            inserts: list[dict] = []
            for row in rows:
                key = tuple(row[c] for c in conflict_on)
                created.append(key not in seen)
                if key not in seen:
                    inserts.append(row)
                    seen.add(key)
            if inserts:
                await self.insert(model, inserts, returning=False)
            new_keys: set = set()
            for row, update, is_new in zip(rows, updates, created):
                key = tuple(row[c] for c in conflict_on)
                if is_new and key not in new_keys:
                    new_keys.add(key)
                    continue
                if update:
                    await self.update(model, _key_filter(model, conflict_on, key), update, returning=False)
            if returning:
                for row in rows:
                    key = tuple(row[c] for c in conflict_on)
                    found = await self.select(model, _key_filter(model, conflict_on, key), [], 1, 0)
                    out_rows.append(found[0])
        return UpsertOutcome(out_rows, created)

    async def _existing_keys(self, model, rows, conflict_on) -> set[tuple]:
        keys = list({tuple(row[c] for c in conflict_on) for row in rows})
        found: set[tuple] = set()
        table = self.table(model)
        cols = [table.c[c] for c in conflict_on]
        for part in self.chunks(keys, 2 * len(conflict_on)):
            if len(cols) == 1:
                cond = cols[0].in_([self.encode_value(model.fields[conflict_on[0]].kind, k[0]) for k in part])
            else:
                cond = sa.or_(
                    *(
                        sa.and_(*(col == self._bind(model, name, v) for col, name, v in zip(cols, conflict_on, k)))
                        for k in part
                    )
                )
            sql, params = self.compile(sa.select(*cols).where(cond))
            for record in await self.fetch(sql, params):
                found.add(self.decode_key(model, conflict_on, record))
        return found

    def _bind(self, model, name, value):
        return sa.literal(self.encode_value(model.fields[name].kind, value), type_=sa.types.NullType())


def _key_filter(model: ModelSpec, conflict_on: Sequence[str], key: tuple) -> Expr:
    return And(tuple(Cmp(FieldRef(model.fields[c]), "eq", v) for c, v in zip(conflict_on, key)))
