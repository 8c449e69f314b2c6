"""SQLiteBackend: the embedded default, on the standard library's sqlite3.

One connection per DataFlow, shared by every thread (core's ``SharedConnection``): ``:memory:`` is
therefore ONE database for the whole DataFlow, and synchronous callers run operations inline
(``blocking = True``). Driver calls are in :mod:`.connection`, values in :mod:`.codec`; this module holds
the dialect and SQLite's schema quirks (a type change rebuilds the table); the SQL functions the filter
compiler calls are in :mod:`.functions`.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa
from dataflow.backend import Capabilities
from dataflow.sql import SQLBackend
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateTable

from .aggregate import SQLiteAggregates
from .bulk import BulkUpserts
from .codec import COLUMN_TYPES, DECODERS, ENCODERS
from .compiler import SQLiteFilterCompiler
from .connection import SQLiteDriver


class SQLiteBackend(SQLiteAggregates, BulkUpserts, SQLBackend):
    name = "sqlite"
    schemes = ("sqlite",)
    blocking = True
    capabilities = Capabilities(returning=True, native_upsert=False, concurrent_writers=False,
                                foreign_keys=True, aggregates=True)
    compiler_class = SQLiteFilterCompiler
    driver_class = SQLiteDriver

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)
        self.encoders = dict(ENCODERS)
        self.decoders = dict(DECODERS)
        self._rebuild_pending: dict[str, Any] = {}

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

    @property
    def path(self) -> str:
        return self.driver.path

    def open_sync(self) -> sqlite3.Connection:
        return self.session.shared.get()

    # --- schema ------------------------------------------------------------------------------------------------

    async def existing_tables(self) -> set[str]:
        rows = await self.fetch("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')", ())
        return {r[0] for r in rows}

    async def run_reflection(self, fn):
        """SQLAlchemy on this backend's own connection (an in-memory database has no other)."""
        from sqlalchemy.pool import StaticPool

        shared = self.session.shared
        conn = _BorrowedConnection(shared.get())
        engine = sa.create_engine("sqlite://", creator=lambda: conn, poolclass=StaticPool, pool_reset_on_return=None)
        with shared.lock, engine.connect() as sa_conn:
            return fn(sa_conn)

    async def rebuild_table(self, model) -> None:
        """Create the table as ``model`` declares it and copy the rows (inside the migration unit)."""
        self._rebuild_pending.pop(model.name, None)
        quote = self.quote
        temp = f"_dataflow_rebuild_{model.table}"
        table = self.table(model)
        metadata = sa.MetaData()
        for fk in table.foreign_key_constraints:  # the tables it refers to, so its foreign keys render
            if fk.referred_table is not table:
                fk.referred_table.to_metadata(metadata)
        rebuilt = table.to_metadata(metadata, name=temp)
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
            await self.execute(self.create_index_sql(index), ())

    async def apply_steps(self, models, steps: list) -> None:
        """Columns made required are rebuilt once per table, after every column of the plan exists."""
        self._rebuild_pending = {}
        await super().apply_steps(models, steps)
        for model in list(self._rebuild_pending.values()):
            await self.rebuild_table(model)

    async def require_column(self, model, field) -> None:
        """SQLite cannot add NOT NULL to a column: the table is rebuilt as the model declares it (see above)."""
        self._rebuild_pending[model.name] = model

    async def change_column_type(self, model, field) -> None:
        """SQLite cannot alter a column's type: the table is rebuilt as the model declares it."""
        await self.rebuild_table(model)

    async def _read_back_last(self, model, row):  # pragma: no cover - SQLite has RETURNING
        raise NotImplementedError


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
