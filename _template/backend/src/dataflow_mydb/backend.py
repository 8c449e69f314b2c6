"""TEMPLATE: MyDBBackend, a SQL backend on SQLAlchemy Core plus a driver. Replace "mydb" everywhere.

The contract is in docs/writing-a-backend.md. ``SQLBackend`` implements the six data primitives; a SQL
dialect supplies the SQLAlchemy dialect, column types and the driver methods below (every ``TODO``).
For a database without SQL, subclass ``dataflow.backend.Backend`` instead and implement ``insert``,
``select``, ``count``, ``update``, ``delete`` and ``upsert`` yourself, against ``dataflow.query.evaluate``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from dataflow.backend import Capabilities
from dataflow.errors import BackendDependencyError, ConnectionFailedError, DatabaseError, DataFlowError
from dataflow.sql import SQLBackend
from dataflow.transactions import TransactionHandle
from dataflow.urls import mask_secrets
from sqlalchemy.dialects import postgresql

#: field kind -> column type (TODO: your database's types; every kind needs one)
COLUMN_TYPES = {
    "str": sa.Text, "int": sa.BigInteger, "float": sa.Float, "bool": sa.Boolean,
    "datetime": lambda: sa.DateTime(timezone=True), "date": sa.Date, "decimal": sa.Numeric,
    "bytes": sa.LargeBinary, "json": sa.JSON,
}


def load_driver() -> Any:
    """Import the driver lazily: loading the plugin, or using another backend, never needs it."""
    try:
        import mydb_driver  # TODO: the real driver module
    except ImportError as exc:
        raise BackendDependencyError(
            f"the mydb backend cannot import {exc.name!r}; pip install -U kailash-dataflow-mydb"
        ) from exc
    return mydb_driver


class MyDBTransaction(TransactionHandle):
    """One open transaction on one pinned connection (TODO: each method runs the SQL named)."""

    def __init__(self, connection: Any, isolation_level: str | None = None) -> None:
        super().__init__(isolation_level)
        self.connection = connection

    async def _commit(self) -> None:
        raise NotImplementedError("TODO: COMMIT, release the connection, self.active = False")

    async def _rollback(self) -> None:
        raise NotImplementedError("TODO: ROLLBACK, release the connection, self.active = False")

    async def savepoint(self, name: str | None = None) -> str:
        raise NotImplementedError("TODO: SAVEPOINT <name or self.new_savepoint_name()>; return the name")

    async def rollback_to(self, name: str) -> None:
        raise NotImplementedError("TODO: ROLLBACK TO SAVEPOINT name")

    async def release(self, name: str) -> None:
        raise NotImplementedError("TODO: RELEASE SAVEPOINT name")


class MyDBBackend(SQLBackend):
    name = "mydb"  # the entry-point name
    schemes = ("mydb",)  # mydb://user:pass@host:port/db
    blocking = False  # True only for an in-process driver that never waits (SQLite)
    capabilities = Capabilities(returning=False)  # TODO: declare exactly what holds

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)  # construction never connects
        self._conn: Any = None
        self._bound: contextvars.ContextVar[MyDBTransaction | None] = contextvars.ContextVar(
            f"mydb_tx_{id(self)}", default=None
        )

    # --- what a dialect provides ------------------------------------------------------------------------

    def make_dialect(self) -> sa.engine.Dialect:
        return postgresql.dialect(paramstyle="format")  # TODO: the SQLAlchemy dialect and the driver's paramstyle

    def column_type(self, field) -> Any:
        return COLUMN_TYPES[field.kind]()

    async def open(self) -> None:
        if self._conn is not None:
            return
        driver = load_driver()
        try:
            self._conn = await driver.connect(  # TODO: the driver's connect call; per event loop if it has pools
                host=self.url.host, port=self.url.port, user=self.url.username,
                password=self.url.password, database=self.url.database,
            )
        except Exception as exc:
            raise ConnectionFailedError(
                f"cannot connect to {self.url.masked()}: {mask_secrets(str(exc), self.url)}", orig=exc
            ) from exc
        self.host.hook.dataflow_connection_opened(connection=self._conn, backend=self)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self.host.hook.dataflow_connection_closing(connection=conn, backend=self)
            await conn.close()  # TODO

    def close_sync(self) -> None:
        raise NotImplementedError("TODO: release connections without an event loop (DataFlow.close())")

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        raise NotImplementedError("TODO: run a query; all rows as tuples; driver errors through self.translate()")

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        raise NotImplementedError("TODO: run a statement; the affected row count")

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError("TODO: one statement, many parameter rows")

    # --- transactions (docs/writing-a-backend.md, "Transactions") ----------------------------------------

    async def begin(self, isolation_level: str | None = None) -> MyDBTransaction:
        raise NotImplementedError("TODO: pin a connection, BEGIN (at isolation_level), return MyDBTransaction")

    def bind(self, handle: MyDBTransaction) -> contextvars.Token:
        return self._bound.set(handle)  # fetch/execute must use the bound handle's connection

    def unbind(self, token: contextvars.Token) -> None:
        self._bound.reset(token)

    def current_transaction(self) -> MyDBTransaction | None:
        handle = self._bound.get()
        return handle if handle is not None and handle.active else None

    async def existing_tables(self) -> set[str]:
        raise NotImplementedError("TODO: names of the tables that exist")

    # --- errors -------------------------------------------------------------------------------------------------

    def translate(self, exc: BaseException, sql: str) -> DataFlowError:
        """Driver exception -> DataFlowError: plugins first, then this backend's mapping."""
        custom = self.host.hook.dataflow_translate_error(error=exc, backend=self)
        if custom is not None:
            return custom
        # TODO: unique/primary key -> DuplicateKeyError (columns, never values); NOT NULL/CHECK/foreign key ->
        # ConstraintError; connection lost -> ConnectionFailedError
        return DatabaseError(f"MyDB error: {mask_secrets(str(exc), self.url)}", orig=exc, sql=sql)
