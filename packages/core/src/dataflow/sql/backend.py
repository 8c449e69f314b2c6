"""SQLBackend: a backend for any SQL database, from a SQLAlchemy dialect and a driver.

A concrete backend names its SQLAlchemy dialect (``make_dialect``), maps field kinds to column types
(``column_type``), lists existing tables, and supplies its driver calls as a
:class:`~dataflow.sql.driver.SQLDriver` (``driver_class``). Everything else is here, once, in role modules:

* :mod:`~dataflow.sql.session` — the statement path, connections, pools, transactions;
* :mod:`~dataflow.sql.schema` — tables and DDL; :mod:`~dataflow.sql.migrate` — applying schema changes;
* :mod:`~dataflow.sql.codec` — values to and from the driver; :mod:`~dataflow.sql.primitives` — the six
  data primitives; :mod:`~dataflow.sql.aggregate` — the aggregate primitive (GROUP BY).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

import sqlalchemy as sa

from ..backend import Backend
from .aggregate import Aggregates
from .bulk import BulkPrimitives
from .codec import Codec
from .compiler import FilterCompiler
from .driver import SQLDriver
from .migrate import Migrations
from .primitives import Primitives
from .schema import Schema
from .session import SQLSession, SQLTransaction


class SQLBackend(Aggregates, BulkPrimitives, Primitives, Migrations, Schema, Codec, Backend):
    """Common implementation of a backend for SQL dialects."""

    compiler_class: ClassVar[type[FilterCompiler]] = FilterCompiler
    driver_class: ClassVar[type[SQLDriver]]
    """The driver calls of this backend (instantiated with the backend)."""

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)
        self.dialect = self.make_dialect()
        self.metadata = sa.MetaData()
        self.tables: dict[str, sa.Table] = {}
        self.encoders: dict[str, Any] = {}
        self.decoders: dict[str, Any] = {}
        self._row_decoders: dict[str, Any] = {}
        self._sql_cache: dict[Any, str] = {}
        self._compiled: dict[Any, Any] = {}
        self.driver = self.driver_class(self)
        self.session = SQLSession(self, self.driver)

    # --- what a dialect provides ------------------------------------------------------------------

    @abstractmethod
    def make_dialect(self) -> sa.engine.Dialect:
        """The SQLAlchemy dialect used to render DDL and statements."""

    @abstractmethod
    def column_type(self, field) -> Any:
        """SQLAlchemy column type for a :class:`~dataflow.model.FieldSpec`."""

    @abstractmethod
    async def existing_tables(self) -> set[str]:
        """Names of the tables that exist."""

    # --- statements: every one goes through the session -------------------------------------------

    @property
    def echo(self) -> bool:
        return self.session.echo

    def fetch(self, sql: str, params: Sequence[Any], *, timeout: float | None = None) -> Any:
        """(awaitable) Run a query; all rows as tuples."""
        return self.session.fetch(sql, params, timeout=timeout)

    def execute(self, sql: str, params: Sequence[Any], *, timeout: float | None = None) -> Any:
        """(awaitable) Run a statement; the affected row count."""
        return self.session.execute(sql, params, timeout=timeout)

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]], *, timeout: float | None = None) -> Any:
        """(awaitable) Run one statement for many parameter rows."""
        return self.session.execute_many(sql, rows, timeout=timeout)

    def observe(self, sql: str, params: Any) -> None:
        """Show a statement to echo and the query hook (for statements run outside ``fetch``/``execute``)."""
        self.session.observe(sql, params)

    def unit(self) -> AbstractAsyncContextManager[Any]:
        """An atomic scope: statements inside commit together or not at all (a savepoint when nested)."""
        return self.transaction()

    async def begin(self, isolation_level: str | None = None) -> SQLTransaction:
        return await self.session.begin(isolation_level)

    # --- lifecycle ----------------------------------------------------------------------------------

    async def open(self) -> None:
        await self.session.open()

    async def close(self) -> None:
        await self.session.close()

    def close_sync(self) -> None:
        self.session.close_sync()

    def pool_stats(self) -> dict:
        return self.session.pool_stats()
