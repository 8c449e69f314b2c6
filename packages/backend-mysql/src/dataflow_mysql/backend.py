"""MySQLBackend: aiomysql only, SQLAlchemy's mysql dialect for DDL and statements.

* One bounded aiomysql pool per DataFlow per event loop, created lazily; connect errors are
  bounded by ``connect_timeout`` and never show the password.
* Sessions run strict (``STRICT_ALL_TABLES``), in UTC, with ``utf8mb4`` and ``CLIENT_FOUND_ROWS``
  (an UPDATE reports the rows it matched, as on every other backend).
* Results equal the other backends' to the type: text columns use the server's binary NO PAD
  collation (``utf8mb4_nopad_bin`` on MariaDB, ``utf8mb4_0900_bin`` on MySQL 8), booleans come back
  as ``bool``, ``DATETIME(6)`` holds UTC and comes back aware, decimals are stored as exact text
  (scale kept: ``Decimal("1.10")`` comes back as ``Decimal("1.10")``) and compared as
  ``DECIMAL(65,30)``.
* Bulk loads are multi-row INSERTs sized to ``max_allowed_packet``, in one transaction; errors
  name the record, never its values.
* Upserts are ``INSERT … ON DUPLICATE KEY UPDATE`` after checking the conflict target against the
  table's real unique indexes; created vs updated comes from a locking pre-read in the same
  transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import gc
import json
import re
import ssl as ssl_module
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from dataflow.backend import Capabilities, UpsertOutcome
from dataflow.errors import (
    BackendDependencyError,
    ConfigurationError,
    ConnectionFailedError,
    ConstraintError,
    DatabaseError,
    DataFlowError,
    DuplicateKeyError,
    FieldTypeError,
    SchemaError,
    TransactionConflictError,
    UpsertConflictTargetError,
)
from dataflow.model import ModelSpec
from dataflow.pools import LoopPools
from dataflow.sql import SQLBackend
from dataflow.transactions import SQLTransactionHandle
from dataflow.urls import mask_secrets
from sqlalchemy.dialects import mysql
from sqlalchemy.schema import CreateTable

from .compiler import MySQLFilterCompiler

try:
    import aiomysql
    import pymysql
    from pymysql.constants import CLIENT, SERVER_STATUS
    from pymysql.converters import escape_float, escape_string
except ImportError as exc:  # pragma: no cover - aiomysql is a hard dependency
    raise BackendDependencyError(
        f"mysql backend cannot import {exc.name!r}; pip install -U kailash-dataflow-mysql"
    ) from exc

UTC = dt.timezone.utc
TRUE_WORDS = {"1", "true", "yes", "on"}
SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO"
INIT_COMMAND = (f"SET SESSION sql_mode='{SQL_MODE}', time_zone='+00:00', sql_notes=0, max_sort_length=32768, "
                "sort_buffer_size=GREATEST(@@global.sort_buffer_size, 4194304)")
#: binary, NO PAD collations in order of preference: code-point order, case- and trailing-space-sensitive
TEXT_COLLATIONS = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin")
FALLBACK_COLLATION = "utf8mb4_bin"
#: collations whose LOWER() has the newest Unicode case tables (uca1400: Unicode 14, as Python 3.11)
LOWER_COLLATIONS = ("utf8mb4_uca1400_as_cs", "utf8mb4_0900_as_cs", "utf8mb4_unicode_520_ci")
MAX_KEY_BYTES = 3072  # InnoDB's index key limit (DYNAMIC row format)
MAX_INDEXED_CHARS = 768
DECIMAL_TEXT = 100  # characters of a stored decimal
DECIMAL_INT_DIGITS, DECIMAL_FRAC_DIGITS = 35, 30  # what DECIMAL(65,30) compares exactly
PACKET_CAP = 16 * 1024 * 1024
KEY_CHUNK = 5000
#: server errors after which a connection must not be reused
BROKEN = {2006, 2013, 2014, 2027, 2055}
CONNECTION_ERRORS = {1044, 1045, 1049, 1698, 2002, 2003, 2005, 2006, 2013, 2026, 2055}
ISOLATION = {"read_uncommitted": "READ UNCOMMITTED", "read_committed": "READ COMMITTED",
             "repeatable_read": "REPEATABLE READ", "serializable": "SERIALIZABLE"}
URL_OPTIONS = ("charset", "connect_timeout", "unix_socket", "ssl", "ssl_mode", "ssl_ca", "ssl_cert", "ssl_key",
               "program_name", "application_name", "pool_recycle")


# --- values ---------------------------------------------------------------------------------------------------


def _encode_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _decode_json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    return json.loads(value) if isinstance(value, str) else value


def _encode_datetime(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def _decode_datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def encode_decimal(value: decimal.Decimal) -> str:
    """Exact fixed-point text: scale kept (``1.10``), no exponent (``1E+3`` → ``1000``).

    Refuses values that ``DECIMAL(65,30)`` comparisons could not tell apart exactly.
    """
    text = format(value, "f")
    if value.is_zero():
        return text if len(text) <= DECIMAL_TEXT else "0"
    exponent = value.normalize().as_tuple().exponent
    fraction = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if value.adjusted() >= DECIMAL_INT_DIGITS or fraction > DECIMAL_FRAC_DIGITS or len(text) > DECIMAL_TEXT:
        raise FieldTypeError(
            f"decimal {value} is outside what the MySQL backend compares exactly: at most "
            f"{DECIMAL_INT_DIGITS} digits before the point and {DECIMAL_FRAC_DIGITS} after it"
        )
    return text


def _decode_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("ascii")
    return decimal.Decimal(value)


def _decode_bytes(value: Any) -> bytes:
    return value if type(value) is bytes else bytes(value)


ENCODERS = {"json": _encode_json, "datetime": _encode_datetime, "decimal": encode_decimal}
DECODERS = {"json": _decode_json, "datetime": _decode_datetime, "decimal": _decode_decimal, "bool": bool,
            "bytes": _decode_bytes}


def escape(conn: Any, value: Any) -> str:
    """A value as an SQL literal. Bytes go as hex (``X'…'``): aiomysql's own bytes escaping needs a helper
    that PyMySQL ≥ 1.1 no longer has."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex() + "'"
    return conn.escape(value)


class _Cursor(aiomysql.Cursor):
    """aiomysql's cursor with :func:`escape` for parameters."""

    def _escape_args(self, args: Any, conn: Any) -> Any:
        if isinstance(args, (tuple, list)):
            return tuple(escape(conn, arg) for arg in args)
        if isinstance(args, dict):
            return {key: escape(conn, val) for key, val in args.items()}
        return escape(conn, args)


def _escape_column(conn: Any, col: tuple) -> list[str]:
    """SQL literals for one column: a repeated object (a shared timestamp) is escaped once, and a column of
    one type goes through that type's escaper without per-value dispatch."""
    first = col[0]
    if all(v is first for v in col):
        return [escape(conn, first)] * len(col)
    kinds = set(map(type, col))
    nulls = type(None) in kinds
    kinds.discard(type(None))
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    if kind is str and not conn.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:
        one = _quote_str
    elif kind is int:
        one = int.__repr__
    elif kind is float:
        one = escape_float
    elif kind is bool:
        one = _BOOL_LITERALS.__getitem__
    else:
        return [escape(conn, v) for v in col]
    if nulls:
        return ["NULL" if v is None else one(v) for v in col]
    return list(map(one, col))


def _quote_str(value: str) -> str:
    return "'" + escape_string(value) + "'"


_BOOL_LITERALS = {True: "1", False: "0"}


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _norm(kinds: Sequence[str], values: Sequence[Any]) -> tuple:
    """A key (encoded or as read from the server) as compared for uniqueness.

    Encoded and stored values are the same text, numbers and naive UTC datetimes; ``True`` and
    ``1`` are one key, as in a BOOL column; decimals compare by value.
    """
    out = []
    for kind, value in zip(kinds, values, strict=True):
        if value is not None and kind == "decimal":
            value = _decode_decimal(value)
        elif isinstance(value, (bytearray, memoryview)):
            value = bytes(value)
        out.append(value)
    return tuple(out)


class MySQLBackend(SQLBackend):
    name = "mysql"
    schemes = ("mysql", "mariadb")
    capabilities = Capabilities(returning=False, native_upsert=True)
    compiler_class = MySQLFilterCompiler
    explicit_null_order = False  # NULLs sort first ascending, last descending, natively

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)
        if url.driver not in (None, "aiomysql", "pymysql"):
            raise ConfigurationError(
                f"the mysql backend talks to the server through aiomysql; write mysql://… or mysql+aiomysql://…, "
                f"not {url.scheme}+{url.driver}://…"
            )
        if not url.database:
            raise ConfigurationError(
                f"the MySQL URL {url.masked()} names no database; write mysql://user:password@host:3306/database"
            )
        self.encoders = dict(ENCODERS)
        self.decoders = dict(DECODERS)
        self.pool_size = int(options.get("pool_size") or 10)
        self.connect_timeout = float(options.get("connect_timeout") or url.query.get("connect_timeout") or 10)
        self.text_collation = TEXT_COLLATIONS[0]
        self.lower_collation: str | None = None
        self.server_version = ""
        self.is_mariadb = True
        self.packet_limit = 4 * 1024 * 1024 - 4096
        self.consecutive_ids = True
        self.id_step = 1
        self._detected = False
        self._connect_kwargs_cache: dict | None = None
        self._pools = LoopPools(self._create_pool, _close_pool, _terminate, "MySQL")
        self._prepared: weakref.WeakSet[Any] = weakref.WeakSet()
        self._unique_cache: dict[str, dict[str, tuple[str, ...]]] = {}
        self._key_lengths: dict[str, int] = {}
        self._key_names: dict[tuple[str, str], tuple[str, ...]] = {}
        self._connect_kwargs()  # validate URL options now, not at first use

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
        self._key_lengths = _key_lengths(model)
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

    # --- connections -------------------------------------------------------------------------------------

    def _connect_kwargs(self) -> dict:
        if self._connect_kwargs_cache is not None:
            return dict(self._connect_kwargs_cache)
        url = self.url
        query = dict(url.query)
        unknown = sorted(set(query) - set(URL_OPTIONS))
        if unknown:
            raise ConfigurationError(f"unknown MySQL URL option(s) {unknown}; valid: {', '.join(URL_OPTIONS)}")
        charset = query.get("charset", "utf8mb4").lower()
        if charset != "utf8mb4":
            raise ConfigurationError(
                f"charset={charset} is not supported: the MySQL backend always uses utf8mb4 so that every "
                "character (emoji included) round-trips"
            )
        kwargs: dict[str, Any] = {
            "host": url.host or "localhost", "port": url.port or 3306, "user": url.username or "root",
            "password": url.password or "", "db": url.database, "charset": "utf8mb4", "autocommit": True,
            "connect_timeout": self.connect_timeout, "client_flag": CLIENT.FOUND_ROWS, "init_command": INIT_COMMAND,
            "local_infile": False, "cursorclass": _Cursor,
        }
        if "unix_socket" in query:
            kwargs["unix_socket"] = query["unix_socket"]
        name = query.get("program_name") or query.get("application_name")
        if name:
            kwargs["program_name"] = name
        context = _ssl_context(query)
        if context is not None:
            kwargs["ssl"] = context
        self.pool_recycle = int(query.get("pool_recycle", 3600))
        self._connect_kwargs_cache = kwargs
        return dict(kwargs)

    async def _pool(self) -> Any:
        return await self._pools.get()

    async def _create_pool(self) -> Any:
        kwargs = self._connect_kwargs()
        try:
            pool = await asyncio.wait_for(
                aiomysql.create_pool(minsize=1, maxsize=self.pool_size, pool_recycle=self.pool_recycle, **kwargs),
                timeout=self.connect_timeout + 1,
            )
        except asyncio.TimeoutError:
            gc.collect()  # close the abandoned half-open connection while its event loop still runs
            raise ConnectionFailedError(
                f"MySQL at {self.url.masked()} did not answer within {self.connect_timeout:g} s"
            ) from None
        except Exception as exc:
            raise ConnectionFailedError(
                f"cannot connect to MySQL at {self.url.masked()}: {self._describe(exc)}"
            ) from None
        if not self._detected:
            try:
                await self._detect(pool)
            except BaseException:
                pool.close()
                await pool.wait_closed()
                raise
        return pool

    async def _detect(self, pool: Any) -> None:
        """Learn the server: collation to use, packet size, how AUTO_INCREMENT hands out ids."""
        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute(
                "SELECT VERSION(), @@max_allowed_packet, @@auto_increment_increment, "
                "COALESCE(@@innodb_autoinc_lock_mode, 1)", ()
            )
            version, packet, step, lock_mode = (await cur.fetchall())[0]
            available = set()
            for name in TEXT_COLLATIONS + LOWER_COLLATIONS:  # information_schema misses MariaDB's uca1400 names
                try:
                    await cur.execute(f"SELECT _utf8mb4'a' COLLATE {name}", ())
                    await cur.fetchall()
                    available.add(name)
                except pymysql.err.MySQLError:
                    pass
        self.server_version = str(version)
        self.is_mariadb = "mariadb" in self.server_version.lower()
        self.text_collation = next((c for c in TEXT_COLLATIONS if c in available), FALLBACK_COLLATION)
        self.lower_collation = next((c for c in LOWER_COLLATIONS if c in available), None)
        self.packet_limit = max(64 * 1024, min(int(packet), PACKET_CAP) - 4096)
        self.id_step = int(step or 1)
        self.consecutive_ids = int(lock_mode) in (0, 1)  # "interleaved" (2) may leave gaps in a multi-row INSERT
        self._detected = True

    def _describe(self, exc: BaseException) -> str:
        code = _code(exc)
        text = _message(exc)
        hints = {
            1045: "wrong user name or password",
            1044: "the user may not use this database",
            1049: "the database does not exist; create it first (CREATE DATABASE …)",
        }
        hint = f" ({hints[code]})" if code in hints else ""
        label = f"MySQL error {code}: " if code else f"{type(exc).__name__}: "
        return mask_secrets(f"{label}{text}{hint}", self.url).strip()

    async def open(self) -> None:
        await self._pool()

    def _announce_closing(self) -> None:
        """dataflow_connection_closing for every connection a plugin was told about."""
        for conn in list(self._prepared):
            if not getattr(conn, "closed", False):
                self.host.connection_closing(conn, self)
        self._prepared.clear()

    async def close(self) -> None:
        self._announce_closing()
        await self._pools.close()

    def close_sync(self) -> None:
        self._announce_closing()
        self._pools.close_sync()

    async def _checkout(self) -> tuple[Any, Any]:
        """``(pool, connection)``: a pooled connection, prepared by plugins the first time it is used."""
        pool = await self._pool()
        try:
            conn = await pool.acquire()
        except Exception as exc:
            raise ConnectionFailedError(
                f"cannot connect to MySQL at {self.url.masked()}: {self._describe(exc)}"
            ) from None
        if conn not in self._prepared:
            try:
                await self.host.connection_opened(conn, self)
            except BaseException:
                pool.release(conn)
                raise
            self._prepared.add(conn)
        return pool, conn

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[Any]:
        """A pooled connection for one statement; closed instead of reused if it may be broken."""
        pool, conn = await self._checkout()
        try:
            yield conn
        except BaseException as exc:
            if _breaks(exc):
                _drop(conn)
            raise
        finally:
            pool.release(conn)

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        pinned = self.bound_handle()
        if pinned is not None:
            pinned.check_active()
            async with pinned.lock:  # nodes of one level may share a transaction concurrently
                yield pinned.conn
            return
        async with self._acquire() as conn:
            yield conn

    # --- transactions --------------------------------------------------------------------------------------------

    async def begin(self, isolation_level: str | None = None) -> MySQLTransaction:
        pool, conn = await self._checkout()
        try:
            if isolation_level:
                async with conn.cursor() as cur:
                    await cur.execute(f"SET TRANSACTION ISOLATION LEVEL {ISOLATION[isolation_level]}", ())
            await conn.begin()
        except BaseException as exc:
            if _breaks(exc):
                _drop(conn)
            pool.release(conn)
            if isinstance(exc, Exception):
                raise self._translate(exc, "BEGIN") from _cause(exc)
            raise
        return MySQLTransaction(self, pool, conn, isolation_level)


    async def _run(self, tx: MySQLTransaction, statement: bytes | str) -> Any:
        """One statement on a transaction's connection (under its lock); the cursor's ``lastrowid``."""
        tx.check_active()
        async with tx.lock, tx.conn.cursor() as cur:
            await cur.execute(statement)
            return cur.lastrowid

    # --- driver ----------------------------------------------------------------------------------------------

    def _translate(self, exc: BaseException, sql: str) -> DataFlowError:
        custom = self.host.hook.dataflow_translate_error(error=exc, backend=self)
        if custom is not None:
            return custom
        if isinstance(exc, DataFlowError):
            return exc
        if isinstance(exc, pymysql.err.ProgrammingError) and "can not be used with MySQL" in str(exc):
            return FieldTypeError(_unstorable(exc))
        code = _code(exc)
        safe = _sanitized(exc)
        text = mask_secrets(_message(safe), self.url)
        if code in (1062, 1586):
            key = _duplicate_key_name(_message(exc))
            cols = self._columns_of_key(key)
            return DuplicateKeyError(
                f"duplicate key: a row with the same {cols} already exists (key {key})", orig=safe, columns=cols
            )
        if isinstance(exc, pymysql.err.IntegrityError) or code in (1048, 1364, 3819, 4025):
            return ConstraintError(f"constraint violated: {text}", orig=safe)
        if code in CONNECTION_ERRORS or isinstance(exc, (OSError, pymysql.err.InterfaceError)):
            return ConnectionFailedError(f"MySQL connection failed ({self.url.masked()}): {self._describe(safe)}", orig=safe)
        if code == 1412:
            return DatabaseError(
                f"MySQL error 1412: {text}: the table was created after this transaction began, and MySQL cannot use "
                "it in the same transaction; declare the model before db.transaction() (its table is created then)",
                orig=safe, sql=sql)
        if code in (1205, 1213):
            return TransactionConflictError(f"MySQL error {code}: {text} (the transaction was rolled back; retry it)",
                                            orig=safe, sql=sql)
        label = f"MySQL error {code}: " if code else f"{type(exc).__name__}: "
        return DatabaseError(f"{label}{text}", orig=safe, sql=sql)

    def _columns_of_key(self, key: str) -> str:
        for (table, name), cols in self._key_names.items():
            if key in (name, f"{table}.{name}"):
                return ", ".join(cols)
        return key

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        try:
            async with self._conn() as conn, conn.cursor() as cur:
                await cur.execute(sql, tuple(params))
                return list(await cur.fetchall())
        except Exception as exc:
            raise self._translate(exc, sql) from _cause(exc)

    async def execute(self, sql: str, params: Sequence[Any]) -> int:
        try:
            async with self._conn() as conn, conn.cursor() as cur:
                return await cur.execute(sql, tuple(params))
        except Exception as exc:
            raise self._translate(exc, sql) from _cause(exc)

    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            async with self._conn() as conn, conn.cursor() as cur:
                cur.max_stmt_length = self.packet_limit
                await cur.executemany(sql, [tuple(r) for r in rows])
        except Exception as exc:
            raise self._translate(exc, sql) from _cause(exc)

    async def existing_tables(self) -> set[str]:
        rows = await self.fetch("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()", ())
        return {r[0] for r in rows}

    async def run_reflection(self, fn):
        """SQLAlchemy's aiomysql dialect on a dedicated connection, the inspector run via ``run_sync``."""
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        kwargs = self._connect_kwargs()
        engine = create_async_engine("mysql+aiomysql://", poolclass=NullPool,
                                     async_creator=lambda: aiomysql.connect(**kwargs))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        except DataFlowError:
            raise
        except Exception as exc:
            raise self._translate(getattr(exc, "orig", None) or exc, "reflection") from _cause(exc)
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
            async with self._acquire() as conn:
                async with conn.cursor() as cur:
                    await cur.execute("SELECT GET_LOCK(%s, %s)", (name, 120))
                    (got,) = (await cur.fetchall())[0]
                if got != 1:
                    raise SchemaError(f"could not take the DataFlow migration lock {name!r} within 120 s; "
                                      "another process may be migrating this database")
                try:
                    yield conn
                finally:
                    if not conn.closed:
                        async with conn.cursor() as cur:
                            await cur.execute("SELECT RELEASE_LOCK(%s)", (name,))
        except SchemaError:
            raise
        except DatabaseError as exc:
            raise SchemaError(f"schema change failed: {exc.message}", orig=getattr(exc, "orig", None)) from exc
        except pymysql.err.MySQLError as exc:
            error = self._translate(exc, "DDL")
            raise SchemaError(f"schema change failed: {error.message}", orig=getattr(error, "orig", None)) from _cause(exc)
        finally:
            self.unbind(outside)

    async def change_column_type(self, model, field) -> None:
        quote = self.dialect.identifier_preparer.quote
        coltype = self.sql_type(field).compile(dialect=self.dialect)
        null = "NULL" if field.nullable or field.managed else "NOT NULL"
        await self.execute(f"ALTER TABLE {quote(model.table)} MODIFY COLUMN {quote(field.name)} {coltype} {null}", ())

    async def drop_tables(self, models: Sequence[ModelSpec]) -> None:
        """Drop the tables of ``models`` (test clean-up)."""
        quote = self.dialect.identifier_preparer.quote_identifier
        for model in models:
            await self.execute(f"DROP TABLE IF EXISTS {quote(model.table)}", ())
            self._unique_cache.pop(model.table, None)

    # --- inserts --------------------------------------------------------------------------------------------------

    def _insert_head(self, model: ModelSpec, columns: Sequence[str]) -> str:
        quote = self.dialect.identifier_preparer.quote_identifier
        return f"INSERT INTO {quote(model.table)} ({', '.join(quote(c) for c in columns)}) VALUES "

    def _literal_rows(self, conn: Any, model: ModelSpec, encoded: list[list[Any]], offset: int = 0) -> list[bytes]:
        """Each row as ``(v1,v2,…)`` SQL literals in UTF-8, escaped column by column (one escaper per type)."""
        if not encoded:
            return []
        columns = [_escape_column(conn, col) for col in zip(*encoded)]
        try:
            return [("(" + text + ")").encode("utf-8") for text in map(",".join, zip(*columns))]
        except UnicodeEncodeError:
            for i, values in enumerate(encoded):
                if any(isinstance(v, str) and not _utf8_ok(v) for v in values):
                    raise FieldTypeError(
                        f"{model.name} record at index {offset + i}: text with an unpaired surrogate cannot be stored"
                    ) from None
            raise
        except pymysql.err.ProgrammingError:  # inf / nan: find the record
            for i, values in enumerate(encoded):
                try:
                    [escape(conn, v) for v in values]
                except pymysql.err.ProgrammingError as exc:
                    raise FieldTypeError(f"{model.name} record at index {offset + i}: {_unstorable(exc)}") from None
            raise

    def _batches(self, head: bytes, tail: bytes, literals: list[bytes]):
        """``(start, count, statement)`` multi-row statements no larger than the server's packet limit."""
        limit = self.packet_limit - len(head) - len(tail)
        start = 0
        while start < len(literals):
            size = len(literals[start])
            end = start + 1
            while end < len(literals) and size + 1 + len(literals[end]) <= limit:
                size += 1 + len(literals[end])
                end += 1
            yield start, end - start, head + b",".join(literals[start:end]) + tail
            start = end

    async def insert(self, model, rows, *, returning: bool):
        if not rows:
            return []
        columns = tuple(rows[0])
        encoded = self.encode_rows(model, rows, columns)
        return await self._insert_encoded(model, columns, encoded, returning)

    async def insert_columns(self, model, columns, values) -> None:
        if values and values[0]:
            await self._insert_encoded(model, tuple(columns), self.encode_columns(model, columns, values), False)

    async def _insert_encoded(self, model, columns, encoded, returning: bool) -> list[dict]:
        """Multi-row INSERTs no larger than ``max_allowed_packet``, all in one transaction."""
        head = self._insert_head(model, columns)
        template = head + "(" + ", ".join(["%s"] * len(columns)) + ")"
        pk = model.primary_key
        auto_ids = returning and pk not in columns
        async with self.unit() as tx:
            literals = self._literal_rows(tx.conn, model, encoded)
            ids: list[Any] = []
            if auto_ids and not self.consecutive_ids:  # ids of a multi-row INSERT may have gaps: one row each
                batches = ((i, 1, head.encode() + lit) for i, lit in enumerate(literals))
            else:
                batches = self._batches(head.encode(), b"", literals)
            for start, count, statement in batches:
                self.host.observe_query(template, encoded[start : start + count], self)
                try:
                    first = await self._run(tx, statement)
                except Exception as exc:
                    raise await self._insert_error(exc, model, columns, encoded, start, count, template) from _cause(exc)
                if auto_ids:
                    ids.extend(first + i * self.id_step for i in range(count))
            if not returning:
                return []
            if not auto_ids:
                at = columns.index(pk)
                ids = [values[at] for values in encoded]
            return await self._rows_by_encoded_keys(model, (pk,), [(k,) for k in ids])

    async def _insert_error(self, exc, model, columns, encoded, start, count, sql) -> DataFlowError:
        error = self._translate(exc, sql)
        index = None
        if isinstance(error, DuplicateKeyError):
            key = _duplicate_key_name(_message(exc))
            cols = self._key_names.get((model.table, key)) or self._key_names.get((model.table, key.rsplit(".", 1)[-1]))
            if cols:
                index = await self._locate_duplicate(model, columns, encoded, cols, start, count)
        else:
            match = re.search(r" at row (\d+)", _message(exc))
            if match and count >= 1:
                index = start + int(match[1]) - 1
            elif count == 1:
                index = start
        if index is not None:
            error.message = f"{model.name} record at index {index}: {error.message}"
            error.args = (error.message,)
        elif count > 1:
            error.message = f"{model.name} records at index {start}..{start + count - 1}: {error.message}"
            error.args = (error.message,)
        return error

    async def _locate_duplicate(self, model, columns, encoded, key_cols, start, count) -> int | None:
        """The first record of the failed batch that repeats an earlier record's key or an existing row's."""
        if any(c not in columns for c in key_cols):
            return None
        where = [columns.index(c) for c in key_cols]
        kinds = [model.fields[c].kind for c in key_cols]
        seen: set = set()
        within = None
        for i, values in enumerate(encoded[: start + count]):
            key = _norm(kinds, [values[j] for j in where])
            if None in key:
                continue
            if key in seen and i >= start:
                within = i
                break
            seen.add(key)
        batch = [tuple(encoded[i][j] for j in where) for i in range(start, start + count)]
        existing = await self._existing_encoded(model, key_cols, [k for k in batch if None not in k])
        clash = next((start + n for n, k in enumerate(batch) if _norm(kinds, k) in existing), None)
        found = [i for i in (within, clash) if i is not None]
        return min(found) if found else None

    async def _existing_encoded(self, model, cols: Sequence[str], keys: list[tuple], lock: bool = False) -> set[tuple]:
        """Which of ``keys`` (encoded values of ``cols``) exist, normalised for comparison."""
        table = self.table(model)
        columns = [table.c[c] for c in cols]
        kinds = [model.fields[c].kind for c in cols]
        found: set[tuple] = set()
        unique = list(dict.fromkeys(keys))
        for begin in range(0, len(unique), KEY_CHUNK):
            stmt = sa.select(*columns).where(_keys_in(columns, unique[begin : begin + KEY_CHUNK]))
            if lock:
                stmt = stmt.with_for_update()
            sql, params = self.compile(stmt)
            for record in await self.fetch(sql, params):
                found.add(_norm(kinds, record))
        return found

    async def _rows_by_encoded_keys(self, model, cols: Sequence[str], encoded: list[tuple]) -> list[dict]:
        """Rows whose ``cols`` equal each of ``encoded`` (driver values), in that order."""
        table = self.table(model)
        columns = [table.c[c] for c in cols]
        kinds = [model.fields[c].kind for c in cols]
        positions = [list(table.c.keys()).index(c) for c in cols]
        by_key: dict[tuple, dict] = {}
        unique = list(dict.fromkeys(encoded))
        for begin in range(0, len(unique), KEY_CHUNK):
            sql, params = self.compile(sa.select(*table.c).where(_keys_in(columns, unique[begin : begin + KEY_CHUNK])))
            for record in await self.fetch(sql, params):
                by_key[_norm(kinds, [record[p] for p in positions])] = self.decode(model, record)
        out = []
        for key in encoded:
            row = by_key.get(_norm(kinds, key))
            if row is None:
                raise DatabaseError(f"{model.name}: a row written in this transaction could not be read back")
            out.append(row)
        return out

    async def _read_back_last(self, model: ModelSpec, row: dict) -> list[dict]:  # pragma: no cover - insert() is overridden
        raise NotImplementedError

    # --- upsert -------------------------------------------------------------------------------------------------

    async def unique_indexes(self, model: ModelSpec, refresh: bool = False) -> dict[str, tuple[str, ...]]:
        """The table's real unique indexes (whole-column only): ``{name: columns}``."""
        cached = self._unique_cache.get(model.table)
        if cached is not None and not refresh:
            return cached
        rows = await self.fetch(
            "SELECT INDEX_NAME, COLUMN_NAME, SUB_PART FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (model.table,),
        )
        indexes: dict[str, list[str]] = {}
        partial: set[str] = set()
        for name, column, sub_part in rows:
            indexes.setdefault(name, []).append(column)
            if sub_part is not None:
                partial.add(name)  # a prefix index is unique on the prefix only: not a conflict target
        result = {name: tuple(cols) for name, cols in indexes.items() if name not in partial}
        self._unique_cache[model.table] = result
        return result

    async def _verify_target(self, model: ModelSpec, conflict_on: Sequence[str]) -> dict[str, tuple[str, ...]]:
        target = set(conflict_on)
        indexes = await self.unique_indexes(model)
        if not any(set(cols) == target for cols in indexes.values()):
            indexes = await self.unique_indexes(model, refresh=True)
        if not any(set(cols) == target for cols in indexes.values()):
            have = "; ".join(f"{name} {list(cols)}" for name, cols in indexes.items()) or "none"
            raise UpsertConflictTargetError(
                f"upsert conflict_on={list(conflict_on)} on model {model.name!r}: table {model.table!r} has no unique "
                f"index on exactly these columns (unique indexes in the database: {have}). ON DUPLICATE KEY UPDATE "
                "would match on another key or insert a duplicate, so nothing was written. Create the unique index "
                "(new tables get the model's declared indexes)"
            )
        return indexes

    async def upsert(self, model, rows, updates, conflict_on, *, returning: bool) -> UpsertOutcome:
        if not rows:
            return UpsertOutcome([], [])
        indexes = await self._verify_target(model, conflict_on)
        columns = tuple(rows[0])
        if any(tuple(r) != columns for r in rows):
            return await super().upsert(model, rows, updates, conflict_on, returning=returning)
        encoded = [self.encode_row(model, r, columns) for r in rows]
        target_at = [columns.index(c) for c in conflict_on]
        keys = [tuple(values[j] for j in target_at) for values in encoded]
        kinds = [model.fields[c].kind for c in conflict_on]
        async with self.unit() as tx:
            if await self._other_keys_may_clash(model, columns, encoded, indexes, conflict_on):
                # ON DUPLICATE KEY would fire on that other key: the portable path raises DuplicateKeyError instead
                return await super().upsert(model, rows, updates, conflict_on, returning=returning)
            existing = await self._existing_encoded(model, conflict_on, keys, lock=True)
            created: list[bool] = []
            seen = set(existing)
            for key in keys:
                norm = _norm(kinds, key)
                created.append(norm not in seen)
                seen.add(norm)
            literals = self._literal_rows(tx.conn, model, encoded)
            for start, count, update_cols, from_row in _runs(rows, updates):
                explicit = None if from_row else [
                    [self.encode_value(model.fields[c].kind, updates[i][c]) for c in update_cols]
                    for i in range(start, start + count)
                ]
                await self._upsert_run(tx, model, columns, conflict_on, literals, encoded, start, count, update_cols,
                                       explicit)
            out_rows = await self._rows_by_encoded_keys(model, conflict_on, keys) if returning else []
        return UpsertOutcome(out_rows, created)

    async def _other_keys_may_clash(self, model, columns, encoded, indexes, conflict_on) -> bool:
        """Whether a row could hit another unique key than the target (ON DUPLICATE KEY would then update
        the row holding that key): two rows share such a key with different targets, or a stored row holds
        one of the rows' keys under another target key."""
        target = tuple(conflict_on)
        target_at = [columns.index(c) for c in target]
        target_kinds = [model.fields[c].kind for c in target]
        for cols in indexes.values():
            if set(cols) == set(target) or any(c not in columns for c in cols):
                continue  # the target itself, or a key the rows leave to AUTO_INCREMENT
            where = [columns.index(c) for c in cols]
            kinds = [model.fields[c].kind for c in cols]
            owner: dict[tuple, tuple] = {}
            for values in encoded:
                key = _norm(kinds, [values[j] for j in where])
                if None in key:
                    continue
                mine = _norm(target_kinds, [values[j] for j in target_at])
                if owner.setdefault(key, mine) != mine:
                    return True
            if not owner:
                continue
            table = self.table(model)
            both = [table.c[c] for c in (*cols, *target)]
            keys = [tuple(values[j] for j in where) for values in encoded]
            keys = list(dict.fromkeys(k for k in keys if None not in k))
            for begin in range(0, len(keys), KEY_CHUNK):
                part = keys[begin : begin + KEY_CHUNK]
                if len(cols) == 1:
                    cond = table.c[cols[0]].in_([_lit(k[0]) for k in part])
                else:
                    cond = sa.tuple_(*(table.c[c] for c in cols)).in_([sa.tuple_(*(_lit(v) for v in k)) for k in part])
                sql, params = self.compile(sa.select(*both).where(cond))
                for record in await self.fetch(sql, params):
                    key = _norm(kinds, record[: len(cols)])
                    if owner.get(key, None) != _norm(target_kinds, record[len(cols) :]):
                        return True
        return False

    def _inserted(self, quoted_column: str) -> str:
        return f"VALUES({quoted_column})" if self.is_mariadb else f"_new.{quoted_column}"

    async def _upsert_run(self, tx, model, columns, conflict_on, literals, encoded, start, count, update_cols,
                          explicit) -> None:
        """Rows ``start…start+count`` sharing update columns: multi-row when the updates take the inserted
        values (``VALUES(col)``), one statement per row when they are ``explicit`` values."""
        quote = self.dialect.identifier_preparer.quote_identifier
        head = self._insert_head(model, columns).encode()
        if explicit is None:
            alias = "" if self.is_mariadb else " AS _new"  # MySQL 8 deprecates VALUES(col) for a row alias
            if update_cols:
                assign = ", ".join(f"{quote(c)} = {self._inserted(quote(c))}" for c in update_cols)
            else:
                assign = f"{quote(conflict_on[0])} = {quote(conflict_on[0])}"  # leave the existing row as it is
            tail = f"{alias} ON DUPLICATE KEY UPDATE {assign}".encode()
            statements = [(start + s, n, sql) for s, n, sql in self._batches(head, tail, literals[start : start + count])]
        else:
            statements = []
            for i, values in zip(range(start, start + count), explicit, strict=True):
                assign = ", ".join(f"{quote(c)} = {escape(tx.conn, v)}" for c, v in zip(update_cols, values, strict=True))
                statements.append((i, 1, head + literals[i] + f" ON DUPLICATE KEY UPDATE {assign}".encode()))
        template = self._insert_head(model, columns) + "(" + ", ".join(["%s"] * len(columns)) + ") ON DUPLICATE KEY UPDATE …"
        for first, n, statement in statements:
            self.host.observe_query(template, encoded[first : first + n], self)
            try:
                await self._run(tx, statement)
            except Exception as exc:
                raise await self._insert_error(exc, model, columns, encoded, first, n, template) from _cause(exc)


class MySQLTransaction(SQLTransactionHandle):
    """A transaction on one pooled connection, given back to the pool when it ends."""

    def __init__(self, backend: MySQLBackend, pool: Any, conn: Any, isolation_level: str | None) -> None:
        super().__init__(isolation_level)
        self.backend, self.pool, self.conn = backend, pool, conn
        self.lock = asyncio.Lock()

    async def _finish(self, action: str) -> None:
        self.check_active()
        self.active = False
        try:
            async with self.lock:
                await (self.conn.commit() if action == "COMMIT" else self.conn.rollback())
        except BaseException as exc:
            _drop(self.conn)  # the server rolls back what a lost connection left open
            if isinstance(exc, Exception):
                raise self.backend._translate(exc, action) from _cause(exc)
            raise
        finally:
            self.pool.release(self.conn)

    async def _commit(self) -> None:
        await self._finish("COMMIT")

    async def _rollback(self) -> None:
        await self._finish("ROLLBACK")

    async def _run(self, sql: str) -> None:
        self.check_active()
        try:
            async with self.lock, self.conn.cursor() as cur:
                await cur.execute(sql)
        except Exception as exc:
            raise self.backend._translate(exc, sql) from _cause(exc)



# --- helpers -------------------------------------------------------------------------------------------------


def _lit(value: Any) -> Any:
    return sa.literal(value, type_=sa.types.NullType())


def _runs(rows: list[dict], updates: list[dict]):
    """``(start, count, update columns, from_row)`` for consecutive rows that can share one statement.

    ``from_row``: every update value is the inserted value (``VALUES(col)``); other rows need their own
    statement with explicit values.
    """
    runs: list[list] = []
    for i, (row, update) in enumerate(zip(rows, updates, strict=True)):
        cols = tuple(update)
        from_row = all(c in row and _same_value(row[c], update[c]) for c in cols)
        if from_row and runs and runs[-1][3] and runs[-1][2] == cols:
            runs[-1][1] += 1
        else:
            runs.append([i, 1, cols, from_row])
    return [tuple(r) for r in runs]


def _same_value(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _key_lengths(model: ModelSpec) -> dict[str, int]:
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


def _ssl_context(query: dict) -> ssl_module.SSLContext | None:
    mode = (query.get("ssl_mode") or "").lower()
    wants = query.get("ssl", "").lower() in TRUE_WORDS or mode in ("required", "verify_ca", "verify_identity")
    if mode in ("disabled", "disable") or not (wants or query.get("ssl_ca")):
        return None
    context = ssl_module.create_default_context(cafile=query.get("ssl_ca"))
    if query.get("ssl_cert"):
        context.load_cert_chain(query["ssl_cert"], query.get("ssl_key"))
    if mode == "required" or (not mode and not query.get("ssl_ca")):
        context.check_hostname = False
        context.verify_mode = ssl_module.CERT_NONE
    elif mode == "verify_ca":
        context.check_hostname = False
    return context


def _unstorable(exc: BaseException) -> str:
    """pymysql refuses inf and nan before sending anything: MySQL's DOUBLE cannot hold them."""
    what = str(exc).split(" ", 1)[0]
    return f"MySQL cannot store the float {what} (DOUBLE holds finite numbers only); nothing was written"


def _code(exc: BaseException) -> int:
    args = getattr(exc, "args", ())
    return args[0] if len(args) >= 1 and isinstance(args[0], int) else 0


def _message(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return str(args[1])
    return str(exc)


_VALUE_IN_MESSAGE = re.compile(r"^(?P<head>Duplicate entry |.*?\bvalue:? )'(?P<value>.*)'(?P<tail> for (?:key|column|function) .*)$", re.S)


def _sanitized(exc: BaseException) -> BaseException:
    """``exc`` without the row values MySQL puts in some messages ("Duplicate entry 'x' for key …")."""
    if not isinstance(exc, pymysql.err.MySQLError):
        return exc
    text = _message(exc)
    match = _VALUE_IN_MESSAGE.match(text)
    if match is None:
        return exc
    clean = type(exc)(_code(exc), f"{match['head']}*** {match['tail'].lstrip()}".replace("  ", " "))
    return clean


def _duplicate_key_name(text: str) -> str:
    marker = " for key '"
    at = text.rfind(marker)
    if at < 0:
        return "?"
    return text[at + len(marker) :].rstrip().rstrip("'")


def _breaks(exc: BaseException) -> bool:
    """Whether ``exc`` may leave the connection mid-protocol (then it must be closed, not reused)."""
    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit, OSError, pymysql.err.InterfaceError)):
        return True
    if isinstance(exc, DataFlowError):
        orig = getattr(exc, "orig", None)
        return orig is not None and _code(orig) in BROKEN
    return isinstance(exc, pymysql.err.MySQLError) and _code(exc) in BROKEN


def _cause(exc: BaseException) -> BaseException:
    return _sanitized(exc)


def _keys_in(columns: list, keys: list[tuple]) -> Any:
    """``col IN (…)`` for one key column, ``(a, b) IN ((…), …)`` for several; encoded values bound as literals."""
    if len(columns) == 1:
        return columns[0].in_([_lit(k[0]) for k in keys])
    return sa.tuple_(*columns).in_([sa.tuple_(*(_lit(v) for v in k)) for k in keys])


async def _close_pool(pool: Any) -> None:
    pool.close()
    await pool.wait_closed()


def _terminate(pool: Any) -> None:
    """Close a pool that belongs to another (possibly closed) event loop, without awaiting."""
    pool.close()
    for conn in list(getattr(pool, "_free", ())) + list(getattr(pool, "_used", ())):
        _drop(conn)


def _drop(conn: Any) -> None:
    """Close a connection's socket even when its event loop is closed (``transport.close()`` needs the loop)."""
    writer = getattr(conn, "_writer", None)
    if writer is None:
        return
    transport = writer.transport
    try:
        transport.close()
    except RuntimeError:  # the loop is closed: close the socket itself
        sock = getattr(transport, "_sock", None)
        if sock is not None:
            sock.close()
            transport._sock = None
    conn._writer = conn._reader = None


__all__ = ["MySQLBackend", "encode_decimal"]
