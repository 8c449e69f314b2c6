"""SQLBackend: the data primitives for any SQL database, via SQLAlchemy Core.

Statements are built with SQLAlchemy and compiled once per shape to SQL text
with positional parameters; values are encoded by the backend's encoders and
rows decoded by its decoders, so the driver sees only plain values. A concrete
backend supplies the dialect, column types and four driver methods.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from ..backend import Backend, UpsertOutcome
from ..errors import SchemaError
from ..model import ModelSpec
from ..query.ast import And, Cmp, Expr, FieldRef
from ..query.order import OrderItem
from .compiler import FilterCompiler

Encoder = Callable[[Any], Any]
_sql_log = logging.getLogger("dataflow.sql")


class SQLBackend(Backend):
    """Common implementation of the primitives for SQL dialects."""

    compiler_class: ClassVar[type[FilterCompiler]] = FilterCompiler
    explicit_null_order: ClassVar[bool] = False
    """Whether ORDER BY must say NULLS FIRST/LAST (nulls sort first ascending everywhere)."""
    max_params: ClassVar[int] = 30000

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)
        self.dialect = self.make_dialect()
        self.metadata = sa.MetaData()
        self.tables: dict[str, sa.Table] = {}
        self.encoders: dict[str, Encoder] = {}
        self.decoders: dict[str, Encoder] = {}
        self._sql_cache: dict[Any, str] = {}
        self._compiled: dict[Any, Any] = {}
        self.echo = bool(options.get("echo", False))
        self._row_decoders: dict[str, tuple[tuple[str, ...], list[tuple[str, Encoder]]]] = {}

    # --- what a dialect provides ------------------------------------------------------------------

    @abstractmethod
    def make_dialect(self) -> sa.engine.Dialect:
        """The SQLAlchemy dialect used to render DDL and statements."""

    @abstractmethod
    def column_type(self, field) -> Any:
        """SQLAlchemy column type for a :class:`~dataflow.model.FieldSpec`."""

    @abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        """Run a query and return all rows as tuples."""

    @abstractmethod
    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run a statement and return the affected row count."""

    @abstractmethod
    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows."""

    def unit(self) -> AbstractAsyncContextManager[Any]:
        """An atomic scope: statements inside commit together or not at all (a savepoint when nested)."""
        return self.transaction()

    @abstractmethod
    async def existing_tables(self) -> set[str]:
        """Names of the tables that exist."""

    async def run_reflection(self, fn: Callable[[sa.Connection], Any]) -> Any:
        """Call ``fn`` with a SQLAlchemy Connection on this database (for reflection)."""
        raise NotImplementedError(f"backend {self.name!r} does not support reflection")

    async def discover(self, tables: list[str] | None = None) -> dict:
        """Reflect the given tables (all when None); tables that do not exist are not reflected at all,
        so creating a new schema opens no reflection connection."""
        from ..discovery import discover

        if tables is not None:
            present = await self.existing_tables()
            tables = [t for t in tables if t in present]
            if not tables:
                return {}
        return await self.run_reflection(lambda conn: discover(conn, tables))

    # --- schema ----------------------------------------------------------------------------------------

    def table(self, model: ModelSpec) -> sa.Table:
        table = self.tables.get(model.name)
        if table is None:
            self._adopt_extension_types(model)
            columns = [self.make_column(f) for f in model.fields.values()]
            table = sa.Table(model.table, self.metadata, *columns)
            for index in model.indexes:
                sa.Index(index.name, *(table.c[c] for c in index.fields), unique=index.unique)
            self.tables[model.name] = table
            decoders = [(f.name, self.decoders.get(f.kind)) for f in model.fields.values()]
            self._row_decoders[model.name] = (tuple(model.fields), [(n, d) for n, d in decoders if d is not None])
        return table

    def _adopt_extension_types(self, model: ModelSpec) -> None:
        """Field types from plugins bring their own column type and codecs for this backend."""
        for field in model.fields.values():
            custom = field.type.backends.get(self.name)
            if custom is None:
                continue
            if custom.encode is not None:
                self.encoders.setdefault(field.kind, custom.encode)
            if custom.decode is not None:
                self.decoders.setdefault(field.kind, custom.decode)

    def sql_type(self, field) -> Any:
        """The column type: an extension type's own, else the dialect's mapping of the kind."""
        custom = field.type.backends.get(self.name)
        if custom is not None:
            return custom.column_type(field)
        if field.kind not in self.core_kinds:
            raise SchemaError(f"backend {self.name!r} cannot store field {field.name!r} of type {field.kind!r}; "
                              f"install the plugin that provides it for {self.name}")
        return self.column_type(field)

    core_kinds = frozenset({"str", "int", "float", "bool", "datetime", "date", "decimal", "bytes", "json"})

    def make_column(self, field) -> sa.Column:
        if field.primary_key:
            autoinc = field.kind == "int"
            return sa.Column(field.name, self.sql_type(field), primary_key=True, autoincrement=autoinc)
        return sa.Column(field.name, self.sql_type(field), nullable=field.nullable or field.managed)

    def ddl(self, model: ModelSpec) -> list[str]:
        table = self.table(model)
        statements = [str(CreateTable(table, if_not_exists=True).compile(dialect=self.dialect)).strip()]
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            statements.append(str(CreateIndex(index, if_not_exists=True).compile(dialect=self.dialect)).strip())
        return statements

    def migration_lock(self) -> AbstractAsyncContextManager[Any]:
        """Serialise schema changes across processes (a dialect adds its named lock)."""
        return self.unit()

    def expected_kind(self, field) -> str:
        """The portable type discovery reports for a column this backend creates for ``field``."""
        from ..discovery import portable_type

        return portable_type(self.sql_type(field))

    async def plan(self, models: Sequence[ModelSpec], renames: dict | None = None):
        from ..migrations import plan_migration

        existing = await self.discover([m.table for m in models])
        return plan_migration(list(models), existing, self.expected_kind, renames)

    async def ensure_models(self, models: Sequence[ModelSpec], *, create: bool) -> None:
        """Create what is missing (create=True) or only check (existing_schema_mode).

        Compares with the real tables first, so a restart with unchanged models issues no DDL.
        """
        async with self.migration_lock():
            plan = await self.plan(models)
            if not create:
                mismatch = [s for s in plan.steps if s.action in ("create_table", "add_column", "required_column", "change_type")]
                if mismatch:
                    raise SchemaError("the models do not match the existing tables (DataFlow issues no DDL in "
                                      "existing_schema_mode / auto_migrate=False): " + "; ".join(s.mismatch() for s in mismatch))
                return
            by_name = {m.name: m for m in models}
            steps = list(plan.safe)
            for step in plan.steps:
                if step.action == "required_column":
                    if await self._table_is_empty(step.table):
                        steps.append(step)
                    else:
                        field = by_name[step.model].fields[step.column]
                        example = {"str": '""', "int": "0", "float": "0.0", "bool": "False"}.get(field.kind, "...")
                        unused = [s.column for s in plan.steps if s.action == "drop_column" and s.table == step.table]
                        hint = (f" If it is a renamed column ({', '.join(unused)}), pass db.migrate(apply=True, "
                                f"renames={{{step.model!r}: {{'<old>': {step.column!r}}}}}).") if unused else ""
                        raise SchemaError(
                            f"model {step.model}: new required field {step.column!r} has no default and table "
                            f"{step.table!r} has rows. Give it a default (e.g. {step.column}: {field.type.python_type.__name__ if isinstance(field.type.python_type, type) else field.kind} = {example}), "
                            f"make it Optional, or add it with db.migrate(apply=True, "
                            f"backfill={{{step.model!r}: {{{step.column!r}: <value>}}}}).{hint}"
                        )
            await self.apply_steps(by_name, steps)
            self.drift = [s for s in plan.explicit if s.action != "required_column"]
        if self.drift:
            import logging

            logging.getLogger("dataflow.migrations").warning(
                "schema differences not applied automatically: %s. See db.migration_plan(); apply with "
                "db.migrate(apply=True)", "; ".join(s.describe() for s in self.drift))

    drift: list = []

    async def _table_is_empty(self, table: str) -> bool:
        quoted = self.dialect.identifier_preparer.quote(table)
        return not await self.fetch(f"SELECT 1 FROM {quoted} LIMIT 1", ())

    async def migrate(self, models: Sequence[ModelSpec], *, apply: bool, renames: dict | None = None,
                      backfill: dict | None = None, drop_columns: bool = False) -> list[dict]:
        """Show (apply=False) or run the full plan, explicit steps included, in one unit of work."""
        async with self.migration_lock():
            plan = await self.plan(models, renames)
            steps = [s for s in plan.steps if s.action != "drop_column" or drop_columns]
            for step in steps:
                if step.action == "required_column":
                    value = (backfill or {}).get(step.model, {}).get(step.column)
                    if value is None and not await self._table_is_empty(step.table):
                        raise SchemaError(f"model {step.model}: required field {step.column!r} needs a backfill value: "
                                          f"db.migrate(apply=True, backfill={{{step.model!r}: {{{step.column!r}: <value>}}}})")
                    step.data["default"] = value
            if apply and steps:
                await self.apply_steps({m.name: m for m in models}, steps)
                self.drift = []
        return plan.as_dicts() if not apply else [s for s in plan.as_dicts() if s["action"] != "drop_column" or drop_columns]

    async def apply_steps(self, models: dict[str, ModelSpec], steps: list) -> None:
        if not steps:
            return
        quote = self.dialect.identifier_preparer.quote
        for step in steps:
            model = models[step.model]
            table = quote(step.table)
            if step.action == "create_table":
                for statement in self.ddl(model):
                    await self.execute(statement, ())
            elif step.action == "create_index":
                index = next(i for i in self.table(model).indexes if i.name == step.data["index"])
                await self.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=self.dialect)), ())
            elif step.action in ("add_column", "required_column"):
                field = model.fields[step.column]
                coltype = self.sql_type(field).compile(dialect=self.dialect)
                await self.execute(f"ALTER TABLE {table} ADD COLUMN {quote(field.name)} {coltype}", ())
                default = step.data.get("default")
                if default is not None:
                    await self.execute(f"UPDATE {table} SET {quote(field.name)} = {self.placeholder(1)}",
                                       (self.encode_value(field.kind, field.type.coerce(default)),))
            elif step.action == "rename_column":
                await self.execute(f"ALTER TABLE {table} RENAME COLUMN {quote(step.data['old'])} TO {quote(step.column)}", ())
            elif step.action == "drop_column":
                await self.execute(f"ALTER TABLE {table} DROP COLUMN {quote(step.column)}", ())
            elif step.action == "change_type":
                await self.change_column_type(model, model.fields[step.column])
        await self._record_history(steps)

    def placeholder(self, n: int) -> str:
        """The driver's n-th positional parameter marker."""
        return "?" if self.dialect.paramstyle == "qmark" else (f"${n}" if "dollar" in self.dialect.paramstyle else "%s")

    async def change_column_type(self, model: ModelSpec, field) -> None:
        raise SchemaError(f"backend {self.name!r} cannot change the type of {model.table}.{field.name} in place")

    async def _record_history(self, steps: list) -> None:
        history = sa.Table("dataflow_migrations", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                           sa.Column("applied_at", sa.String(40)), sa.Column("step", sa.Text))
        await self.execute(str(CreateTable(history, if_not_exists=True).compile(dialect=self.dialect)), ())
        import datetime as _dt

        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat()
        sql = f"INSERT INTO dataflow_migrations (applied_at, step) VALUES ({self.placeholder(1)}, {self.placeholder(2)})"
        await self.execute_many(sql, [(stamp, s.describe()) for s in steps])

    # --- encoding ---------------------------------------------------------------------------------------------

    def encode_value(self, kind: str, value: Any) -> Any:
        if value is None:
            return None
        encoder = self.encoders.get(kind)
        return value if encoder is None else encoder(value)

    def encode_row(self, model: ModelSpec, row: dict, columns: Sequence[str]) -> list[Any]:
        fields, encoders = model.fields, self.encoders
        out = []
        for name in columns:
            value = row[name]
            if value is not None:
                encoder = encoders.get(fields[name].type.kind)
                if encoder is not None:
                    value = encoder(value)
            out.append(value)
        return out

    def encode_rows(self, model: ModelSpec, rows: Sequence[dict], columns: Sequence[str]) -> list[list[Any]]:
        """Driver parameters for many rows: encoders looked up once per column, not per value.

        Rows of one bulk call share their timestamp objects, so each column remembers
        its last value and encoding (an identity check, no hashing).
        """
        getters = [(i, self.encoders.get(model.fields[c].kind)) for i, c in enumerate(columns)]
        encoded_cols = [(i, enc) for i, enc in getters if enc is not None]
        out = []
        last: dict[int, tuple[Any, Any]] = {}
        for row in rows:
            values = [row[c] for c in columns]
            for i, enc in encoded_cols:
                value = values[i]
                if value is None:
                    continue
                seen = last.get(i)
                if seen is not None and seen[0] is value:
                    values[i] = seen[1]
                else:
                    encoded = enc(value)
                    last[i] = (value, encoded)
                    values[i] = encoded
            out.append(values)
        return out

    def decode(self, model: ModelSpec, record: Sequence[Any]) -> dict:
        """A row as a dict of the model's fields (extra trailing columns are ignored), values decoded."""
        names, decoders = self._row_decoders[model.name]
        out = dict(zip(names, record))
        for name, decoder in decoders:
            value = out[name]
            if value is not None:
                out[name] = decoder(value)
        return out

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

    def observe(self, sql: str, params: Any) -> None:
        """Every statement passes here before the driver runs it: echo logging and the query hook."""
        if self.echo:
            _sql_log.info("%s", sql)
        self.host.observe_query(sql, params, self)

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

    def encode_columns(self, model: ModelSpec, columns: Sequence[str], values: list[list]) -> list[tuple]:
        """Column-wise values → driver rows; a column of one repeated object is encoded once."""
        return list(zip(*self.encode_column_values(model, columns, values)))

    def encode_column_values(self, model: ModelSpec, columns: Sequence[str], values: list[list]) -> list[list]:
        """Column-wise values → column-wise driver values (no transposing)."""
        encoded = []
        for name, col in zip(columns, values):
            encoder = self.encoders.get(model.fields[name].kind)
            if encoder is not None and col:
                first = col[0]
                if first is not None and all(v is first for v in col):
                    col = [encoder(first)] * len(col)
                else:
                    col = [None if v is None else encoder(v) for v in col]
            encoded.append(col)
        return encoded

    async def insert_columns(self, model: ModelSpec, columns: list[str], values: list[list]) -> None:
        if not values or not values[0]:
            return
        sql = self.insert_sql(model, tuple(columns), False)
        rows = self.encode_columns(model, columns, values)
        async with self.unit():
            await self._execute_many_naming_row(sql, rows)

    async def _execute_many_naming_row(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """executemany, and on failure say which record failed (replayed row by row, then undone)."""
        from ..errors import DataFlowError

        handle = self.current_transaction()
        guard = None
        if not self.statement_failure_keeps_transaction and handle is not None and self.capabilities.savepoints:
            guard = await handle.savepoint()  # a failed statement aborts the transaction: keep a way back
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

    statement_failure_keeps_transaction: ClassVar[bool] = True
    """After a failed statement the transaction is still usable (false on PostgreSQL)."""

    async def _insert_returning_many(self, model, columns, rows, encoded) -> list[dict]:
        result: list[dict] = []
        async with self.unit():
            if self.capabilities.returning:
                sql = self.insert_sql(model, columns, True)
                for params in encoded:
                    result.extend(self.decode(model, r) for r in await self.fetch(sql, params))
            else:
                sql = self.insert_sql(model, columns, False)
                for row, params in zip(rows, encoded):
                    await self.execute(sql, params)
                    result.extend(await self._read_back_last(model, row))
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
        return {k: sa.literal(self.encode_value(model.fields[k].kind, v), type_=sa.types.NullType()) for k, v in values.items()}

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
        keys = {tuple(row[c] for c in conflict_on) for row in rows}
        found: set[tuple] = set()
        table = self.table(model)
        cols = [table.c[c] for c in conflict_on]
        chunk = max(1, self.max_params // (2 * len(conflict_on)))
        ordered = list(keys)
        for start in range(0, len(ordered), chunk):
            part = ordered[start : start + chunk]
            if len(cols) == 1:
                cond = cols[0].in_([self.encode_value(model.fields[conflict_on[0]].kind, k[0]) for k in part])
            else:
                cond = sa.or_(*(sa.and_(*(col == self._bind(model, name, v) for col, name, v in zip(cols, conflict_on, k)))
                                for k in part))
            sql, params = self.compile(sa.select(*cols).where(cond))
            decoders = [self.decoders.get(model.fields[c].kind) for c in conflict_on]
            for record in await self.fetch(sql, params):
                found.add(tuple(v if v is None or d is None else d(v) for v, d in zip(record, decoders)))
        return found

    def _bind(self, model, name, value):
        return sa.literal(self.encode_value(model.fields[name].kind, value), type_=sa.types.NullType())


def _key_filter(model: ModelSpec, conflict_on: Sequence[str], key: tuple) -> Expr:
    return And(tuple(Cmp(FieldRef(model.fields[c]), "eq", v) for c, v in zip(conflict_on, key)))
