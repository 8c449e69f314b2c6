"""PostgresBackend: asyncpg only, SQLAlchemy's postgresql dialect for DDL and statements.

* One bounded asyncpg pool per DataFlow per event loop, created lazily.
* DDL of all pending models in one transaction under an advisory lock, so
  processes starting together neither race nor open a connection storm.
* Native ``INSERT … ON CONFLICT`` upserts, ``COPY`` for bulk loads.
* Text columns are created ``COLLATE "C"``: comparisons and ordering follow
  code points, as on every other backend, whatever the database's locale.
* ``?prepared_statements=false`` (or ``pgbouncer=true``) disables asyncpg's
  statement cache for pgbouncer in transaction pooling mode.
* ``row_level_security=True``: PostgreSQL enforces tenant isolation itself (see
  :mod:`dataflow_postgres.rls`); every statement runs in a transaction that sets
  ``dataflow.tenant_id`` locally, which is also safe behind pgbouncer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import sqlalchemy as sa
from dataflow.backend import Capabilities, UpsertOutcome
from dataflow.errors import (
    BackendDependencyError,
    ConnectionFailedError,
    ConstraintError,
    DatabaseError,
    DataFlowError,
    DuplicateKeyError,
    SchemaError,
    TransactionConflictError,
)
from dataflow.pools import LoopPools
from dataflow.sql import SQLBackend
from dataflow.transactions import SQLTransactionHandle
from dataflow.urls import mask_secrets
from sqlalchemy.dialects import postgresql

from . import rls
from .compiler import PostgresFilterCompiler

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - asyncpg is a hard dependency
    raise BackendDependencyError(
        f"postgres backend cannot import {exc.name!r}; pip install -U kailash-dataflow-postgres"
    ) from exc

DDL_LOCK_KEY = 0x44617461466C6F77  # "DataFlow"
ARRAY_TYPES = {"str": "text", "int": "bigint", "float": "float8", "bool": "bool", "datetime": "timestamptz",
               "date": "date", "decimal": "numeric", "bytes": "bytea", "json": "jsonb"}
TRUE_WORDS = {"1", "true", "yes", "on"}
UTC = dt.timezone.utc


def _encode_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _decode_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _decode_datetime(value: Any) -> Any:
    """asyncpg returns timestamptz aware and in UTC whatever the session's TimeZone, except at the edge:
    'infinity' (which is how it stores ``datetime.max``) comes back as naive ``datetime.max``."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _close_pool(pool: Any) -> None:
    await pool.close()


def _terminate_pool(pool: Any) -> None:
    """Terminate a pool, also one whose event loop has closed: then its sockets are closed directly
    (a transport cannot close itself without its loop)."""
    try:
        pool.terminate()
    except RuntimeError:
        for holder in getattr(pool, "_holders", ()):
            transport = getattr(getattr(holder, "_con", None), "_transport", None)
            sock = getattr(transport, "_sock", None)
            if sock is not None:
                sock.close()
                transport._sock = None  # closed: nothing left for the transport to warn about


class DataFlowConnection(asyncpg.Connection):
    """asyncpg's connection, remembering the session settings :meth:`PostgresBackend.fetch_with_settings`
    made on it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dataflow_settings: dict[str, str] = {}


async def _keep_session(conn: Any) -> None:
    """Pool release without ``RESET ALL`` (a round trip per operation). asyncpg has already rolled back
    an open transaction; DataFlow leaves no other session state except the settings it tracks itself
    (``dataflow_settings``), and a connection hook's own settings persist, as a hook means them to."""


class PostgresBackend(SQLBackend):
    name = "postgres"
    schemes = ("postgresql",)
    capabilities = Capabilities(returning=True, native_upsert=True, schemas=True, text_nul=False,
                                row_level_security=True)
    compiler_class = PostgresFilterCompiler
    explicit_null_order = True
    statement_failure_keeps_transaction = False

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)
        self.encoders = {"json": _encode_json}
        self.decoders = {"json": _decode_json, "datetime": _decode_datetime}
        self.pool_size = int(options.get("pool_size") or 10)
        self.connect_timeout = float(options.get("connect_timeout") or url.query.get("connect_timeout") or 10)
        self._pools = LoopPools(self._create_pool, _close_pool, _terminate_pool, "PostgreSQL")
        self.unicode_collation: str | None = None
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self.row_level_security = bool(options.get("row_level_security", False))
        # behind pgbouncer (no prepared statements) consecutive statements may reach different server sessions
        self.session_settings = "statement_cache_size" not in self._connect_kwargs()

    def make_dialect(self):
        return postgresql.asyncpg.dialect(paramstyle="numeric_dollar")

    def column_type(self, field) -> Any:
        kind = field.kind
        if kind == "str":
            return sa.Text(collation="C")
        return {
            "int": sa.BigInteger, "float": postgresql.DOUBLE_PRECISION, "bool": sa.Boolean,
            "datetime": lambda: sa.DateTime(timezone=True), "date": sa.Date, "decimal": sa.Numeric,
            "bytes": postgresql.BYTEA, "json": postgresql.JSONB,
        }[kind]()

    def make_column(self, field) -> sa.Column:
        if field.primary_key and field.kind == "int":
            return sa.Column(field.name, sa.BigInteger, sa.Identity(always=False), primary_key=True)
        return super().make_column(field)

    # --- connections --------------------------------------------------------------------------------------

    def _connect_kwargs(self) -> dict:
        url = self.url
        query = dict(url.query)
        settings: dict[str, str] = {}
        kwargs: dict[str, Any] = {
            "host": url.host or "localhost", "port": url.port or 5432, "user": url.username,
            "password": url.password, "database": url.database or url.username,
        }
        if "application_name" in query:
            settings["application_name"] = query.pop("application_name")
        for key in ("search_path", "schema"):
            if key in query:
                settings["search_path"] = query.pop(key)
        if "options" in query:
            for match in re.finditer(r"-c\s*([\w.]+)=(\S+)", query.pop("options")):
                settings[match[1]] = match[2]
        if "sslmode" in query:
            mode = query.pop("sslmode")
            kwargs["ssl"] = None if mode == "disable" else mode
        prepared = query.pop("prepared_statements", "true").lower() in TRUE_WORDS
        if query.pop("pgbouncer", "false").lower() in TRUE_WORDS:
            prepared = False
        if not prepared:
            kwargs["statement_cache_size"] = 0
        query.pop("connect_timeout", None)
        kwargs["server_settings"] = settings
        return kwargs

    async def _pool(self) -> Any:
        return await self._pools.get()

    async def _create_pool(self) -> Any:
        kwargs = self._connect_kwargs()
        try:
            return await asyncio.wait_for(
                asyncpg.create_pool(min_size=1, max_size=self.pool_size, init=self._init_connection,
                                    reset=_keep_session, connection_class=DataFlowConnection,
                                    timeout=self.connect_timeout, command_timeout=None, **kwargs),
                timeout=self.connect_timeout + 1,
            )
        except asyncio.TimeoutError:
            raise ConnectionFailedError(
                f"PostgreSQL at {self.url.masked()} did not answer within {self.connect_timeout:g} s"
            ) from None
        except DataFlowError:
            raise  # a plugin's connection setup failed: its own error says why
        except Exception as exc:
            raise ConnectionFailedError(
                f"cannot connect to PostgreSQL at {self.url.masked()}: {self._describe(exc)}"
            ) from None

    async def _init_connection(self, conn: Any) -> None:
        """Run plugins' connection setup; an implementation may return an awaitable (asyncpg is async)."""
        self._connections.add(conn)
        if conn.get_server_version().major >= 17:
            self.unicode_collation = "pg_c_utf8"
        await self.host.connection_opened(conn, self)

    def _describe(self, exc: BaseException) -> str:
        text = mask_secrets(f"{type(exc).__name__}: {exc}", self.url)
        return text.strip()

    async def open(self) -> None:
        await self._pool()

    def _announce_closing(self) -> None:
        for conn in list(self._connections):
            if not conn.is_closed():
                self.host.connection_closing(conn, self)
        self._connections = weakref.WeakSet()

    async def close(self) -> None:
        self._announce_closing()
        await self._pools.close()

    def close_sync(self) -> None:
        self._announce_closing()
        self._pools.close_sync()

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        pinned = self.bound_handle()
        if pinned is not None:
            pinned.check_active()
            async with pinned.lock:  # nodes of one level may share a transaction concurrently
                if self.row_level_security:
                    await pinned.bind_tenant()
                yield pinned.conn
            return
        pool = await self._pool()
        async with pool.acquire() as conn:
            if not self.row_level_security:
                yield conn
                return
            # one message: BEGIN and the tenant, local to this transaction (never left on the connection)
            await conn.execute(f"BEGIN; {rls.set_tenant_sql()}")
            try:
                yield conn
            except BaseException:
                with suppress(Exception):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    # --- transactions -------------------------------------------------------------------------------------------

    async def begin(self, isolation_level: str | None = None) -> PostgresTransaction:
        pool = await self._pool()
        try:
            conn = await pool.acquire()
        except Exception as exc:  # the server went away: DF-501 like every other statement, not a raw OSError
            raise self._translate(exc, "BEGIN") from exc
        try:
            tr = conn.transaction(isolation=isolation_level)
            await tr.start()
        except BaseException as exc:
            await pool.release(conn)
            if isinstance(exc, Exception):
                raise self._translate(exc, "BEGIN") from exc
            raise
        return PostgresTransaction(self, pool, conn, tr, isolation_level)


    # --- driver -----------------------------------------------------------------------------------------------

    def _translate(self, exc: BaseException, sql: str) -> DataFlowError:
        custom = self.host.hook.dataflow_translate_error(error=exc, backend=self)
        if custom is not None:
            return custom
        if isinstance(exc, DataFlowError):
            return exc
        if isinstance(exc, (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)):
            return TransactionConflictError(f"transaction aborted by PostgreSQL to stay consistent ({exc.sqlstate}); "
                                            "retry it", orig=exc)
        if isinstance(exc, asyncpg.UniqueViolationError):
            cols = _key_columns(exc)
            return DuplicateKeyError(
                f"duplicate key: a row with the same {cols} already exists (constraint {exc.constraint_name})",
                orig=exc, columns=cols,
            )
        if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
            column = getattr(exc, "column_name", None)
            where = f" on column {column}" if column else ""
            return ConstraintError(f"constraint violated{where}: {exc.message if hasattr(exc, 'message') else exc}", orig=exc)
        if isinstance(exc, (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError)):
            return ConnectionFailedError(f"PostgreSQL connection failed ({self.url.masked()}): {self._describe(exc)}")
        message = getattr(exc, "message", None) or str(exc)
        return DatabaseError(f"PostgreSQL error: {mask_secrets(message, self.url)}", orig=exc, sql=sql)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        self.observe(sql, params)
        try:
            async with self._conn() as conn:
                return [tuple(r) for r in await conn.fetch(sql, *params)]
        except Exception as exc:
            raise self._translate(exc, sql) from exc

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        self.observe(sql, params)
        try:
            async with self._conn() as conn:
                status = await conn.execute(sql, *params)
        except Exception as exc:
            raise self._translate(exc, sql) from exc
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def fetch_with_settings(self, settings: dict[str, Any], sql: str, params: Sequence[Any]) -> list[tuple]:
        """``fetch`` with server settings in force, e.g. ``{"hnsw.ef_search": 80}``; ``DEFAULT`` resets one.

        Values are written into SQL: pass validated numbers or fixed words only. On a pooled connection the
        settings are made for the session, once, and remembered on the connection, so repeating them costs
        nothing; callers therefore pass every setting they manage, each time. Inside a transaction, under
        row-level security or behind pgbouncer, they are ``SET LOCAL`` in a unit of work of their own.
        """
        assignments = {name: str(value) for name, value in settings.items()}
        if not self.session_settings or self.row_level_security or self.current_transaction() is not None:
            async with self.unit():
                if assignments:
                    await self.execute("; ".join(f"SET LOCAL {n} = {v}" for n, v in assignments.items()), ())
                return await self.fetch(sql, params)
        try:
            async with self._conn() as conn:
                held = conn.dataflow_settings
                changes = {n: v for n, v in assignments.items() if held.get(n, "DEFAULT") != v}
                if changes:  # one implicit transaction: all of them or none
                    statement = "; ".join(f"SET {n} = {v}" for n, v in changes.items())
                    self.observe(statement, ())
                    await conn.execute(statement)
                    held.update(changes)
                self.observe(sql, params)
                return [tuple(r) for r in await conn.fetch(sql, *params)]
        except Exception as exc:
            raise self._translate(exc, sql) from exc

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self.observe(sql, rows)
        try:
            async with self._conn() as conn:
                await conn.executemany(sql, rows)
        except Exception as exc:
            raise self._translate(exc, sql) from exc

    async def run_reflection(self, fn):
        """SQLAlchemy's asyncpg dialect on a dedicated connection, the inspector run via run_sync."""
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        kwargs = self._connect_kwargs()
        engine = create_async_engine("postgresql+asyncpg://", poolclass=NullPool,
                                     async_creator=lambda: asyncpg.connect(**kwargs))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        except DataFlowError:
            raise
        except Exception as exc:
            raise self._translate(getattr(exc, "orig", None) or exc, "reflection") from exc
        finally:
            await engine.dispose()

    async def existing_tables(self) -> set[str]:
        rows = await self.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()", ()
        )
        return {r[0] for r in rows}

    @asynccontextmanager
    async def migration_lock(self) -> AsyncIterator[Any]:
        """One transaction holding a cluster-wide advisory lock: concurrent processes migrate one at a time."""
        try:
            async with self.unit() as tx:
                await self.execute(f"SELECT pg_advisory_xact_lock({DDL_LOCK_KEY})", ())
                yield tx
        except SchemaError:
            raise
        except DataFlowError as exc:
            raise SchemaError(f"schema change failed, nothing was changed: {exc.message}", orig=getattr(exc, "orig", None)) from exc

    def ddl(self, model) -> list[str]:
        statements = super().ddl(model)
        if self.row_level_security and model.multi_tenant:
            statements += rls.enable_statements(self.dialect.identifier_preparer.quote(model.table))
        return statements

    async def ensure_models(self, models, *, create: bool) -> None:
        await super().ensure_models(models, create=create)
        if self.row_level_security:
            await rls.ensure(self, [m for m in models if m.multi_tenant], create=create)

    async def _table_is_empty(self, table: str) -> bool:
        """Counts every tenant's rows, also under row-level security (see :func:`rls.unforced`)."""
        async with rls.unforced(self, [table]):
            return await super()._table_is_empty(table)

    async def apply_steps(self, models, steps: list) -> None:
        async with rls.unforced(self, sorted({s.table for s in steps if s.action != "create_table"})):
            await super().apply_steps(models, steps)

    async def change_column_type(self, model, field) -> None:
        quote = self.dialect.identifier_preparer.quote
        coltype = self.sql_type(field).compile(dialect=self.dialect)
        await self.execute(f"ALTER TABLE {quote(model.table)} ALTER COLUMN {quote(field.name)} TYPE {coltype} "
                           f"USING {quote(field.name)}::{coltype}", ())

    # --- bulk insert and upsert -----------------------------------------------------------------------------------

    async def insert(self, model, rows, *, returning: bool):
        if len(rows) <= 1 or returning or self.row_level_security:  # PostgreSQL refuses COPY FROM under RLS
            return await super().insert(model, rows, returning=returning)
        columns = tuple(rows[0])
        await self._copy(model, columns, self.encode_rows(model, rows, columns))
        return []

    async def insert_columns(self, model, columns, values) -> None:
        if self.row_level_security:
            await super().insert_columns(model, columns, values)
        elif values and values[0]:
            # rows are made lazily as COPY consumes them: no second full copy of the data in memory
            await self._copy(model, tuple(columns), zip(*self.encode_column_values(model, columns, values)))

    async def _copy(self, model, columns, records) -> None:
        """Binary COPY in one transaction; a failure names the record and writes nothing."""
        self.observe(f"COPY {model.table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)", records)
        async with self.unit() as tx, tx.lock:
            try:
                await tx.conn.copy_records_to_table(model.table, records=records, columns=list(columns),
                                                    schema_name=None)
            except Exception as exc:
                error = self._translate(exc, f"COPY {model.table}")
                row = _copy_row(exc)
                if row is not None:
                    error.message = f"record at index {row}: {error.message}"
                    error.args = (error.message,)
                raise error from exc

    async def upsert(self, model, rows, updates, conflict_on, *, returning: bool) -> UpsertOutcome:
        """``INSERT … ON CONFLICT DO UPDATE … RETURNING (xmax = 0)``: atomic, and tells created from updated."""
        if not rows:
            return UpsertOutcome([], [])
        if any(not u for u in updates) or len({tuple(u) for u in updates}) != 1:
            return await super().upsert(model, rows, updates, conflict_on, returning=returning)
        update_cols = tuple(updates[0])
        columns = tuple(rows[0])
        from_row = all(c in row and row[c] == u[c] for row, u in zip(rows, updates) for c in update_cols)
        unnest = from_row and all(model.fields[c].kind in ARRAY_TYPES for c in columns)
        out_rows: list[dict] = []
        created: list[bool] = []
        async with self.unit():
            batch_size = 50_000 if unnest else (max(1, self.max_params // len(columns)) if from_row else 1)
            for batch in _unique_batches(rows, updates, conflict_on, batch_size):
                if unnest:
                    sql, params = self._upsert_unnest(model, columns, update_cols, conflict_on, [r for r, _ in batch])
                else:
                    sql, params = self._upsert_statement(model, columns, update_cols, conflict_on, batch, from_row)
                for record in await self.fetch(sql, params):
                    out_rows.append(self.decode(model, record[:-1]))
                    created.append(bool(record[-1]))
        return UpsertOutcome(out_rows if returning else [], created)

    def _upsert_unnest(self, model, columns, update_cols, conflict_on, rows) -> tuple[str, list]:
        """One statement for a whole batch: arrays per column, unnested server-side."""
        quote = self.dialect.identifier_preparer.quote
        key = ("upsert-unnest", model.name, columns, update_cols, tuple(conflict_on))
        sql = self._sql_cache.get(key)
        if sql is None:
            arrays = ", ".join(f"${i}::{ARRAY_TYPES[model.fields[c].kind]}[]" for i, c in enumerate(columns, 1))
            sets = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in update_cols)
            sql = self._sql_cache[key] = (
                f"INSERT INTO {quote(model.table)} ({', '.join(quote(c) for c in columns)}) SELECT * FROM unnest({arrays}) "
                f"ON CONFLICT ({', '.join(quote(c) for c in conflict_on)}) DO UPDATE SET {sets} "
                f"RETURNING {', '.join(quote(c) for c in model.fields)}, (xmax = 0)"
            )
        encoded = self.encode_rows(model, rows, columns)
        return sql, [list(col) for col in zip(*encoded)]

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


class PostgresTransaction(SQLTransactionHandle):
    """A transaction on one pooled connection, released to the pool when it ends."""

    def __init__(self, backend: PostgresBackend, pool: Any, conn: Any, tr: Any, isolation_level: str | None) -> None:
        super().__init__(isolation_level)
        self.backend, self.pool, self.conn, self.tr = backend, pool, conn, tr
        self.lock = asyncio.Lock()
        self.loop = asyncio.get_running_loop()  # core runs operations of a foreign loop here (on_home_loop)
        self.tenant_set: str | None = None  # dataflow.tenant_id as last set in this transaction (row-level security)

    async def bind_tenant(self) -> None:
        """Set ``dataflow.tenant_id`` for this transaction to the bound tenant, when it is not already."""
        tenant = rls.current_tenant()
        if tenant != self.tenant_set:
            await self.conn.execute(rls.set_tenant_sql(tenant))
            self.tenant_set = tenant

    async def _finish(self, action: str) -> None:
        self.check_active()
        self.active = False
        try:
            async with self.lock:
                await (self.tr.commit() if action == "COMMIT" else self.tr.rollback())
        except Exception as exc:
            raise self.backend._translate(exc, action) from exc
        finally:
            await self.pool.release(self.conn)

    async def _commit(self) -> None:
        await self._finish("COMMIT")

    async def _rollback(self) -> None:
        await self._finish("ROLLBACK")

    async def _run(self, sql: str) -> None:
        self.check_active()
        try:
            async with self.lock:
                await self.conn.execute(sql)
        except Exception as exc:
            raise self.backend._translate(exc, sql) from exc

    async def rollback_to(self, name: str) -> None:
        await super().rollback_to(name)
        self.tenant_set = None  # rolling back to a savepoint also undoes a set_config made after it



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


def _key_columns(exc: Any) -> str:
    detail = getattr(exc, "detail", None) or ""
    match = re.match(r"Key \(([^)]*)\)", detail)
    return match[1] if match else (getattr(exc, "constraint_name", None) or "key")


def _copy_row(exc: BaseException) -> int | None:
    context = getattr(exc, "context", None) or str(exc)
    match = re.search(r"COPY \S+, line (\d+)", context or "")
    return int(match[1]) - 1 if match else None
