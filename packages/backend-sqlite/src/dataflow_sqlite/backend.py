"""SQLiteBackend: the embedded default, on the standard library's sqlite3.

SQLite runs in-process and its calls finish in microseconds, so this backend
calls sqlite3 directly instead of hopping to a worker thread per statement
(which is what aiosqlite does, at ~50 µs a hop): coroutines here never suspend,
and synchronous callers run them inline (``blocking = True``). One connection
per DataFlow, guarded by a lock, serves every thread; ``:memory:`` therefore is
ONE database for the whole DataFlow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from dataflow.backend import Capabilities
from dataflow.errors import (
    ConnectionFailedError,
    ConstraintError,
    DatabaseError,
    DataFlowError,
    DuplicateKeyError,
)
from dataflow.sql import SQLBackend
from dataflow.transactions import SQLTransactionHandle, TransactionError
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from . import functions
from .compiler import SQLiteFilterCompiler

COLUMN_TYPES = {
    "str": sa.Text, "int": sa.Integer, "float": sa.Float, "bool": sa.Integer, "datetime": sa.Text,
    "date": sa.Text, "decimal": sa.Text, "bytes": sa.LargeBinary, "json": sa.Text,
}


def _encode_datetime(value: dt.datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _encode_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


ENCODERS = {"datetime": _encode_datetime, "date": dt.date.isoformat, "decimal": str, "json": _encode_json, "bool": int}
def _decode_datetime(text: Any) -> dt.datetime:
    """DataFlow writes UTC ISO text; existing tables may hold naive text (taken as UTC) or numbers."""
    if isinstance(text, (int, float)):
        return dt.datetime.fromtimestamp(text, dt.timezone.utc)
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


DECODERS = {"float": float, "datetime": _decode_datetime, "date": dt.date.fromisoformat, "decimal": decimal.Decimal,
            "json": json.loads, "bool": bool, "bytes": bytes}


class SQLiteBackend(SQLBackend):
    name = "sqlite"
    schemes = ("sqlite",)
    blocking = True
    capabilities = Capabilities(returning=True, native_upsert=False, concurrent_writers=False)
    compiler_class = SQLiteFilterCompiler

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)
        self.encoders = dict(ENCODERS)
        self.decoders = dict(DECODERS)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._open_lock = threading.Lock()
        self._owner: SQLiteTransaction | None = None
        self._turn = threading.Condition(self._lock)
        self.busy_timeout = float(options.get("connect_timeout") or 5)

    def make_dialect(self):
        return sqlite_dialect.dialect(paramstyle="qmark")

    def column_type(self, field) -> Any:
        return COLUMN_TYPES[field.kind]()

    def table(self, model):
        if model.name not in self.tables:
            table = super().table(model)
            table.kwargs["sqlite_autoincrement"] = True
            table.dialect_options["sqlite"]["autoincrement"] = True
            return table
        return self.tables[model.name]

    # --- lifecycle ---------------------------------------------------------------------------------------

    @property
    def path(self) -> str:
        return self.url.database or ":memory:"

    async def open(self) -> None:
        self.open_sync()

    def open_sync(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        with self._open_lock:
            if self._conn is None:
                self._conn = self._connect()
        return self._conn

    def _connect(self) -> sqlite3.Connection:
        path = self.path
        uri = path.startswith("file:")
        if not uri and path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise ConnectionFailedError(f"cannot open SQLite database {path!r}: directory {parent!r} does not exist")
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, uri=uri)
        except sqlite3.Error as exc:
            raise ConnectionFailedError(f"cannot open SQLite database {path!r}: {exc}", orig=exc) from exc
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA case_sensitive_like=ON")
        if path != ":memory:" and "mode=memory" not in path and "mode=ro" not in path:  # read-only: no WAL switch
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        functions.install(conn)
        if conn.execute("SELECT 'A' LIKE 'a'").fetchone()[0]:
            raise DatabaseError("this SQLite build ignores PRAGMA case_sensitive_like; $like would be case-insensitive")
        self.host.connection_opened_sync(conn, self)
        return conn

    async def close(self) -> None:
        self.close_sync()

    def close_sync(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                self.host.connection_closing(conn, self)
                conn.close()

    # --- driver --------------------------------------------------------------------------------------------

    def _translate(self, exc: BaseException, sql: str) -> DataFlowError:
        raised_inside = functions.take_failure()  # e.g. a $regex past its time bound
        custom = self.host.hook.dataflow_translate_error(error=exc, backend=self)
        if custom is not None or raised_inside is not None:
            return custom or raised_inside
        text = str(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            if "UNIQUE" in text or "PRIMARY KEY" in text:
                cols = text.split(":", 1)[1].strip() if ":" in text else "?"
                cols = ", ".join(c.strip().rsplit(".", 1)[-1] for c in cols.split(","))
                return DuplicateKeyError(f"duplicate key: a row with the same {cols} already exists", orig=exc, columns=cols)
            return ConstraintError(f"constraint violated: {text}", orig=exc)
        return DatabaseError(f"SQLite error: {text}", orig=exc, sql=sql)

    def _cursor_run(self, sql: str, params: Sequence[Any], many: bool = False) -> sqlite3.Cursor:
        conn = self._conn or self.open_sync()
        if self.echo or self.host.observing:
            self.observe(sql, params)
        try:
            return conn.executemany(sql, params) if many else conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._translate(exc, sql) from exc

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        if self._owner is not None:
            await self._wait_turn()
        with self._lock:
            return self._cursor_run(sql, params).fetchall()

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        if self._owner is not None:
            await self._wait_turn()
        with self._lock:
            return self._cursor_run(sql, params).rowcount

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if self._owner is not None:
            await self._wait_turn()
        with self._lock:
            self._cursor_run(sql, rows, many=True)

    # --- transactions ----------------------------------------------------------------------------------------
    # One connection serves the whole DataFlow, so an open transaction belongs to the context (task or
    # thread) that began it: statements from other contexts wait until it ends, instead of joining it.

    def _mine(self) -> bool:
        return self._owner is None or self._owner is self.bound_handle()

    async def _wait_turn(self) -> None:
        if self._mine():
            return
        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        deadline = time.monotonic() + self.busy_timeout
        while not self._mine():
            if time.monotonic() > deadline:
                raise DatabaseError(f"SQLite database is busy: a transaction elsewhere stayed open for {self.busy_timeout:g} s")
            owner = self._owner
            if in_loop:
                await asyncio.sleep(0.0005)
            elif owner is not None and owner.thread is threading.current_thread():
                raise TransactionError(
                    "a transaction opened elsewhere in this thread is still open on this SQLite database; "
                    "finish it first, or use the async API so the caller can wait")
            else:
                with self._turn:
                    self._turn.wait(0.01)

    async def begin(self, isolation_level: str | None = None) -> SQLiteTransaction:
        handle = SQLiteTransaction(self, isolation_level)
        while True:
            await self._wait_turn()
            with self._lock:
                if self._owner is None:
                    try:
                        (self._conn or self.open_sync()).execute("BEGIN IMMEDIATE")
                    except sqlite3.Error as exc:
                        raise self._translate(exc, "BEGIN IMMEDIATE") from exc
                    self._owner = handle
                    return handle

    def _end(self, handle: SQLiteTransaction, statement: str) -> None:
        with self._lock:
            try:
                if self._conn is not None and self._conn.in_transaction:
                    self._conn.execute(statement)
            except sqlite3.Error as exc:
                raise self._translate(exc, statement) from exc
            finally:
                if self._owner is handle:
                    self._owner = None
                self._turn.notify_all()


    async def existing_tables(self) -> set[str]:
        rows = await self.fetch("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')", ())
        return {r[0] for r in rows}

    async def run_reflection(self, fn):
        """SQLAlchemy on this backend's own connection (an in-memory database has no other)."""
        from sqlalchemy.pool import StaticPool

        conn = _BorrowedConnection(self.open_sync())
        engine = sa.create_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool, pool_reset_on_return=None)
        with self._lock, engine.connect() as sa_conn:
            return fn(sa_conn)

    async def change_column_type(self, model, field) -> None:
        """SQLite cannot alter a column's type: rebuild the table and copy the rows (inside the migration unit)."""
        quote = self.dialect.identifier_preparer.quote
        temp = f"_dataflow_rebuild_{model.table}"
        table = self.table(model)
        rebuilt = table.to_metadata(sa.MetaData(), name=temp)
        for index in list(rebuilt.indexes):
            rebuilt.indexes.discard(index)
        old = {r[1]: r[2] for r in await self.fetch(f"PRAGMA table_info({quote(model.table)})", ())}
        for name, declared in old.items():  # columns the model does not declare keep their data
            if name not in model.fields:
                rebuilt.append_column(sa.Column(name, _Declared(declared)))
        await self.execute(str(CreateTable(rebuilt).compile(dialect=self.dialect)), ())
        cols = ", ".join(quote(c) for c in rebuilt.c.keys() if c in old)
        await self.execute(f"INSERT INTO {quote(temp)} ({cols}) SELECT {cols} FROM {quote(model.table)}", ())
        await self.execute(f"DROP TABLE {quote(model.table)}", ())
        await self.execute(f"ALTER TABLE {quote(temp)} RENAME TO {quote(model.table)}", ())
        for index in table.indexes:
            await self.execute(str(CreateIndex(index, if_not_exists=True).compile(dialect=self.dialect)), ())

    async def _read_back_last(self, model, row):  # pragma: no cover - SQLite has RETURNING
        raise NotImplementedError


class SQLiteTransaction(SQLTransactionHandle):
    """``BEGIN IMMEDIATE`` on the shared connection, owned by the context that began it.

    SQLite transactions are serializable whatever isolation level is asked for.
    """

    def __init__(self, backend: SQLiteBackend, isolation_level: str | None) -> None:
        super().__init__(isolation_level)
        self.backend = backend
        self.thread = threading.current_thread()

    async def _commit(self) -> None:
        self.check_active()
        self.active = False
        self.backend._end(self, "COMMIT")

    async def _rollback(self) -> None:
        self.check_active()
        self.active = False
        self.backend._end(self, "ROLLBACK")

    async def _run(self, sql: str) -> None:
        """A statement on behalf of this transaction, from whichever context holds the handle."""
        self.check_active()
        token = self.backend.bind(self)
        try:
            await self.backend.execute(sql, ())
        finally:
            self.backend.unbind(token)



class _Declared(sa.types.UserDefinedType):
    """A column type exactly as SQLite reports it (used to carry undeclared columns through a rebuild)."""

    cache_ok = True

    def __init__(self, spec: str) -> None:
        self.spec = spec

    def get_col_spec(self, **kw: Any) -> str:
        return self.spec or ""


class _BorrowedConnection:
    """The shared connection lent to SQLAlchemy, which must not end a transaction it did not begin."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
