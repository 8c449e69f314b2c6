"""PostgresBackend: asyncpg only, SQLAlchemy's postgresql dialect for DDL and statements.

* Driver calls are in :mod:`.connection`, values in :mod:`.codec`, COPY and ``ON CONFLICT`` upserts in
  :mod:`.bulk`, error mapping in :mod:`.errors`; core runs every statement (``dataflow.sql.session``).
* DDL of all pending models in one transaction under an advisory lock, so processes starting together
  neither race nor open a connection storm.
* Text columns are created ``COLLATE "C"``: comparisons and ordering follow code points, as on every
  other backend, whatever the database's locale.
* ``row_level_security=True``: PostgreSQL enforces tenant isolation itself (see :mod:`dataflow_postgres.rls`);
  every statement runs in a transaction that sets ``dataflow.tenant_id`` locally, which is also safe
  behind pgbouncer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from dataflow.backend import Capabilities
from dataflow.errors import DataFlowError, SchemaError
from dataflow.sql import SQLBackend
from sqlalchemy.dialects import postgresql

from . import codec, rls
from .aggregate import PostgresAggregates
from .bulk import BulkPaths
from .client import asyncpg
from .compiler import PostgresFilterCompiler
from .connection import PostgresDriver

DDL_LOCK_KEY = 0x44617461466C6F77  # "DataFlow"


class PostgresBackend(PostgresAggregates, BulkPaths, SQLBackend):
    name = "postgres"
    schemes = ("postgresql",)
    capabilities = Capabilities(returning=True, native_upsert=True, schemas=True, text_nul=False,
                                row_level_security=True, foreign_keys=True, aggregates=True)
    two_phase_support = "dataflow_postgres.twophase:PostgresTwoPhase"  # prepared transactions (distributed/)
    compiler_class = PostgresFilterCompiler
    driver_class = PostgresDriver
    explicit_null_order = True
    statement_failure_keeps_transaction = False

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)
        self.encoders = dict(codec.ENCODERS)
        self.decoders = dict(codec.DECODERS)
        self.row_level_security = self.driver.row_level_security
        self.session.implicit_transactions = self.row_level_security
        # behind pgbouncer (no prepared statements) consecutive statements may reach different server sessions
        self.session_settings = "statement_cache_size" not in self.driver.connect_kwargs

    @property
    def pool_size(self) -> int:
        return self.driver.pool_size

    @property
    def unicode_collation(self) -> str | None:
        """``pg_c_utf8`` on PostgreSQL 17+ (Unicode case mapping for ``$ilike``), learnt at connect."""
        return self.driver.unicode_collation

    def make_dialect(self):
        return postgresql.asyncpg.dialect(paramstyle="numeric_dollar")

    def column_type(self, field) -> Any:
        return codec.column_type(field.kind)

    def make_column(self, field) -> sa.Column:
        if field.primary_key and field.kind == "int":
            return sa.Column(field.name, sa.BigInteger, sa.Identity(always=False), primary_key=True)
        return super().make_column(field)

    # --- statements with settings ---------------------------------------------------------------------------

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
        return await self.session.call(sql, params, self.driver.fetch_with_session_settings, (assignments, params))

    # --- schema -------------------------------------------------------------------------------------------------

    async def run_reflection(self, fn):
        """SQLAlchemy's asyncpg dialect on a dedicated connection, the inspector run via run_sync."""
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        kwargs = self.driver.connect_kwargs
        engine = create_async_engine("postgresql+asyncpg://", poolclass=NullPool,
                                     async_creator=lambda: asyncpg.connect(**kwargs))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        except DataFlowError:
            raise
        except Exception as exc:
            raise self.session.translate(getattr(exc, "orig", None) or exc, "reflection") from exc
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
            raise SchemaError(
                f"schema change failed, nothing was changed: {exc.message}", orig=getattr(exc, "orig", None)
            ) from exc

    def ddl(self, model) -> list[str]:
        statements = super().ddl(model)
        if self.row_level_security and model.multi_tenant:
            statements += rls.enable_statements(self.quote(model.table))
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
        quote = self.quote
        coltype = self.sql_type(field).compile(dialect=self.dialect)
        await self.execute(f"ALTER TABLE {quote(model.table)} ALTER COLUMN {quote(field.name)} TYPE {coltype} "
                           f"USING {quote(field.name)}::{coltype}", ())
