"""MySQLBackend: aiomysql only, SQLAlchemy's mysql dialect for DDL and statements; MySQL 8 and MariaDB.

Driver calls are in :mod:`.connection`, values and literals in :mod:`.codec`, bulk inserts in
:mod:`.bulk`, upserts in :mod:`.upsert`, error mapping in :mod:`.errors`; core runs every statement
(``dataflow.sql.session``). This module holds the dialect and MySQL's schema quirks:

* text columns use the server's binary NO PAD collation (``utf8mb4_nopad_bin`` on MariaDB,
  ``utf8mb4_0900_bin`` on MySQL 8); key and index columns are ``VARCHAR`` sized to InnoDB's key limit;
* tables are created with their indexes inline, in one idempotent statement;
* schema changes run under a named server lock (``GET_LOCK``), outside any transaction (MySQL commits DDL).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from dataflow.backend import Capabilities
from dataflow.errors import DatabaseError, DataFlowError, SchemaError
from dataflow.model import ModelSpec
from dataflow.sql import SQLBackend
from sqlalchemy.dialects import mysql
from sqlalchemy.schema import CreateTable

from .bulk import BulkInserts
from .client import aiomysql
from .codec import DECIMAL_TEXT, DECODERS, ENCODERS, encode_decimal
from .compiler import MySQLFilterCompiler
from .connection import INIT_COMMAND, TEXT_COLLATIONS, MySQLDriver
from .update import BulkUpdates
from .upsert import Upserts

MAX_KEY_BYTES = 3072  # InnoDB's index key limit (DYNAMIC row format)
MAX_INDEXED_CHARS = 768


class MySQLBackend(BulkUpdates, Upserts, BulkInserts, SQLBackend):
    name = "mysql"
    schemes = ("mysql", "mariadb")
    capabilities = Capabilities(returning=False, native_upsert=True, foreign_keys=True, aggregates=True)
    two_phase_support = "dataflow_mysql.twophase:MySQLTwoPhase"  # prepared transactions (distributed/)
    compiler_class = MySQLFilterCompiler
    driver_class = MySQLDriver
    explicit_null_order = False  # NULLs sort first ascending, last descending, natively

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)
        self.encoders = dict(ENCODERS)
        self.decoders = dict(DECODERS)
        # what the server is (learnt by the driver when the first pool connects)
        self.text_collation = TEXT_COLLATIONS[0]
        self.lower_collation: str | None = None
        self.server_version = ""
        self.is_mariadb = True
        self.packet_limit = 4 * 1024 * 1024 - 4096
        self.consecutive_ids = True
        self.id_step = 1
        self._unique_cache: dict[str, dict[str, tuple[str, ...]]] = {}
        self._key_lengths: dict[str, int] = {}
        self._key_names: dict[tuple[str, str], tuple[str, ...]] = {}

    @property
    def pool_size(self) -> int:
        return self.driver.pool_size

    # --- dialect and types ------------------------------------------------------------------------------

    def make_dialect(self):
        return mysql.aiomysql.dialect(paramstyle="format")

    def column_type(self, field) -> Any:
        kind = field.kind
        length = self._key_lengths.get(field.name)
        if kind == "str":
            if length:
                return mysql.VARCHAR(length, charset="utf8mb4", collation=self.text_collation)
            return mysql.LONGTEXT(charset="utf8mb4", collation=self.text_collation)
        if kind == "bytes":
            return mysql.VARBINARY(length * 4) if length else mysql.LONGBLOB()
        factory = {
            "int": sa.BigInteger, "float": mysql.DOUBLE, "bool": sa.Boolean, "date": sa.Date, "json": sa.JSON,
            "datetime": lambda: mysql.DATETIME(fsp=6),
            "decimal": lambda: mysql.VARCHAR(DECIMAL_TEXT, charset="ascii", collation="ascii_bin"),
        }.get(kind)
        if factory is None:
            raise SchemaError(f"field {field.name!r}: type {kind!r} is not supported by the MySQL backend")
        return factory()

    def table(self, model: ModelSpec) -> sa.Table:
        found = self.tables.get(model.name)
        if found is not None:
            return found
        self._key_lengths = key_lengths(model)
        try:
            table = super().table(model)
        finally:
            self._key_lengths = {}
        options = table.dialect_options["mysql"]
        options["engine"] = "InnoDB"
        options["charset"] = "utf8mb4"
        options["collate"] = self.text_collation
        self._key_names[(model.table, "PRIMARY")] = (model.primary_key,)
        for index in model.indexes:
            self._key_names[(model.table, index.name)] = index.fields
        return table

    def ddl(self, model: ModelSpec) -> list[str]:
        """One ``CREATE TABLE IF NOT EXISTS`` with its indexes inline: idempotent and atomic, on MySQL too
        (MySQL 8 has no ``CREATE INDEX IF NOT EXISTS``)."""
        table = self.table(model)
        text = str(CreateTable(table, if_not_exists=True).compile(dialect=self.dialect)).strip()
        quote = self.dialect.identifier_preparer.quote_identifier
        keys = []
        for index in sorted(model.indexes, key=lambda i: i.name):
            cols = ", ".join(quote(c) for c in index.fields)
            keys.append(f"\t{'UNIQUE KEY' if index.unique else 'KEY'} {quote(index.name)} ({cols})")
        if keys:
            cut = text.rindex("\n)")
            text = text[:cut] + ", \n" + ", \n".join(keys) + text[cut:]
        return [text]

    def columns_of_key(self, key: str) -> str:
        """The columns of unique key ``key`` (its name as MySQL reports it), for error messages."""
        for (table, name), cols in self._key_names.items():
            if key in (name, f"{table}.{name}"):
                return ", ".join(cols)
        return key

    # --- schema ---------------------------------------------------------------------------------------------

    async def existing_tables(self) -> set[str]:
        rows = await self.fetch("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()", ())
        return {r[0] for r in rows}

    async def run_reflection(self, fn):
        """SQLAlchemy's aiomysql dialect on a dedicated connection, the inspector run via ``run_sync``."""
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        kwargs = dict(self.driver.connect_kwargs)
        engine = create_async_engine("mysql+aiomysql://", poolclass=NullPool,
                                     async_creator=lambda: aiomysql.connect(**kwargs))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        except DataFlowError:
            raise
        except Exception as exc:
            orig = getattr(exc, "orig", None) or exc
            raise self.session.translate(orig, "reflection") from self.session.cause(orig)
        finally:
            await engine.dispose()

    async def discover(self, tables: list[str] | None = None) -> dict:
        """Reflection, plus MariaDB's JSON columns (``LONGTEXT`` with a ``JSON_VALID`` check) reported as json."""
        found = await super().discover(tables)
        if found:
            rows = await self.fetch(
                "SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                "WHERE CONSTRAINT_SCHEMA = DATABASE() AND CHECK_CLAUSE LIKE 'json\\_valid(%%'", ())
            for table, clause in rows:
                match = re.fullmatch(r"json_valid\(`([^`]+)`\)", clause.strip(), re.I)
                if match and table in found:
                    for col in found[table]["columns"]:
                        if col["name"] == match[1] and col["type"] == "str":
                            col["type"] = "json"
        return found

    @asynccontextmanager
    async def migration_lock(self) -> AsyncIterator[Any]:
        """A named server lock (``GET_LOCK``) on a connection of its own: processes starting together
        migrate one at a time.

        MySQL commits each DDL statement on its own, so schema changes run outside any transaction and a
        failed migration can be partly applied; every step is idempotent and the next start completes it.
        """
        name = f"dataflow_migrate:{self.url.database}"[:64]
        outside = self.bind(None)  # DDL would commit a caller's open transaction: run it on other connections
        try:
            held = await self.session.begin()  # a connection of its own, holding nothing but the named lock
            try:
                (got,) = (await self.session.fetch("SELECT GET_LOCK(%s, %s)", (name, 120), on=held))[0]
                if got != 1:
                    raise SchemaError(f"could not take the DataFlow migration lock {name!r} within 120 s; "
                                      "another process may be migrating this database")
                try:
                    yield held
                finally:
                    if self.driver.is_open(held.conn):
                        await self.session.fetch("SELECT RELEASE_LOCK(%s)", (name,), on=held)
            finally:
                if held.active:
                    await held.rollback()
        except SchemaError:
            raise
        except DatabaseError as exc:
            raise SchemaError(f"schema change failed: {exc.message}", orig=getattr(exc, "orig", None)) from exc
        finally:
            self.unbind(outside)

    async def change_column_type(self, model, field) -> None:
        quote = self.dialect.identifier_preparer.quote
        coltype = self.sql_type(field).compile(dialect=self.dialect)
        null = "NULL" if field.nullable or field.managed else "NOT NULL"
        await self.execute(f"ALTER TABLE {quote(model.table)} MODIFY COLUMN {quote(field.name)} {coltype} {null}", ())

    async def require_column(self, model, field) -> None:
        """MariaDB/MySQL restate the whole column to make it NOT NULL."""
        await self.change_column_type(model, field)

    async def drop_tables(self, models: Sequence[ModelSpec]) -> None:
        """Drop the tables of ``models`` (test clean-up)."""
        quote = self.dialect.identifier_preparer.quote_identifier
        for model in models:
            await self.execute(f"DROP TABLE IF EXISTS {quote(model.table)}", ())
            self._unique_cache.pop(model.table, None)


def key_lengths(model: ModelSpec) -> dict[str, int]:
    """VARCHAR lengths (characters) for text and bytes fields that are part of the key or an index.

    InnoDB keys hold at most 3072 bytes (4 per utf8mb4 character): the text columns of one index
    share what its other columns leave, up to 768 characters each.
    """
    fixed = {"int": 8, "float": 8, "bool": 1, "date": 3, "datetime": 8, "decimal": DECIMAL_TEXT + 2}
    sets = ([(model.primary_key,)] if model.primary_key else []) + [i.fields for i in model.indexes]
    lengths: dict[str, int] = {}
    for cols in sets:
        sized = [c for c in cols if model.fields[c].kind in ("str", "bytes")]
        if not sized:
            continue
        rest = MAX_KEY_BYTES - sum(fixed.get(model.fields[c].kind, 0) for c in cols if c not in sized)
        each = max(1, min(MAX_INDEXED_CHARS, rest // (4 * len(sized))))
        for c in sized:
            lengths[c] = min(lengths.get(c, MAX_INDEXED_CHARS), each)
    return lengths


__all__ = ["INIT_COMMAND", "MySQLBackend", "encode_decimal"]  # INIT_COMMAND: the benchmark's raw session
