"""MySQL's and MariaDB's driver calls, on aiomysql: connecting, pools, statements, transactions.

* Bounded aiomysql pools, created lazily (core decides which event loop gets one: ``dataflow.pools``);
  connect errors are bounded by ``connect_timeout`` and never show the password.
* Sessions run strict (``STRICT_ALL_TABLES``), in UTC, with ``utf8mb4`` and ``CLIENT_FOUND_ROWS`` (an
  UPDATE reports the rows it matched, as on every other backend).
* The first pool learns the server: its text collations, packet size, how AUTO_INCREMENT hands out ids.
* A connection that an error may have left mid-protocol is closed, never reused.
"""

from __future__ import annotations

import asyncio
import gc
import ssl as ssl_module
from collections.abc import Sequence
from typing import Any

from dataflow.errors import ConfigurationError, ConnectionFailedError, DataFlowError
from dataflow.sql import SQLDriver

from . import cancel, errors
from .client import CLIENT, aiomysql, pymysql
from .codec import Cursor

TRUE_WORDS = {"1", "true", "yes", "on"}
SQL_MODE = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO"
INIT_COMMAND = (f"SET SESSION sql_mode='{SQL_MODE}', time_zone='+00:00', sql_notes=0, max_sort_length=32768, "
                "sort_buffer_size=GREATEST(@@global.sort_buffer_size, 4194304)")
#: binary, NO PAD collations in order of preference: code-point order, case- and trailing-space-sensitive
TEXT_COLLATIONS = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin")
FALLBACK_COLLATION = "utf8mb4_bin"
#: collations whose LOWER() has the newest Unicode case tables (uca1400: Unicode 14, as Python 3.11)
LOWER_COLLATIONS = ("utf8mb4_uca1400_as_cs", "utf8mb4_0900_as_cs", "utf8mb4_unicode_520_ci")
PACKET_CAP = 16 * 1024 * 1024
ISOLATION = {"read_uncommitted": "READ UNCOMMITTED", "read_committed": "READ COMMITTED",
             "repeatable_read": "REPEATABLE READ", "serializable": "SERIALIZABLE"}
URL_OPTIONS = ("charset", "connect_timeout", "unix_socket", "ssl", "ssl_mode", "ssl_ca", "ssl_cert", "ssl_key",
               "program_name", "application_name", "pool_recycle")


class MySQLDriver(SQLDriver):
    #: the text protocol has no parameter limit: this bounds keys per statement, keeping statements far
    #: below max_allowed_packet
    param_limit = 5000

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        url = self.url
        if url.driver not in (None, "aiomysql", "pymysql"):
            raise ConfigurationError(
                f"the mysql backend talks to the server through aiomysql; write mysql://… or mysql+aiomysql://…, "
                f"not {url.scheme}+{url.driver}://…"
            )
        if not url.database:
            raise ConfigurationError(
                f"the MySQL URL {url.masked()} names no database; write mysql://user:password@host:3306/database"
            )
        options = backend.options
        self.pool_size = int(options.get("pool_size") or 10)
        self.connect_timeout = float(options.get("connect_timeout") or url.query.get("connect_timeout") or 10)
        self.pool_recycle = int(url.query.get("pool_recycle", 3600))
        self.connect_kwargs = connect_kwargs(url, self.connect_timeout)  # URL options are checked now, not at first use
        self.detected = False

    # --- connections -----------------------------------------------------------------------------------------

    async def create_pool(self) -> Any:
        try:
            pool = await asyncio.wait_for(
                aiomysql.create_pool(minsize=1, maxsize=self.pool_size, pool_recycle=self.pool_recycle,
                                     **self.connect_kwargs),
                timeout=self.connect_timeout + 1,
            )
        except asyncio.TimeoutError:
            gc.collect()  # close the abandoned half-open connection while its event loop still runs
            raise ConnectionFailedError(
                f"MySQL at {self.url.masked()} did not answer within {self.connect_timeout:g} s"
            ) from None
        except Exception as exc:
            raise ConnectionFailedError(
                f"cannot connect to MySQL at {self.url.masked()}: {errors.describe(exc, self.url)}"
            ) from None
        if not self.detected:
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
        server = self.backend
        server.server_version = str(version)
        server.is_mariadb = "mariadb" in server.server_version.lower()
        server.text_collation = next((c for c in TEXT_COLLATIONS if c in available), FALLBACK_COLLATION)
        server.lower_collation = next((c for c in LOWER_COLLATIONS if c in available), None)
        server.packet_limit = max(64 * 1024, min(int(packet), PACKET_CAP) - 4096)
        server.id_step = int(step or 1)
        server.consecutive_ids = int(lock_mode) in (0, 1)  # "interleaved" (2) may leave gaps in a multi-row INSERT
        self.detected = True

    async def close_pool(self, pool: Any) -> None:
        pool.close()
        await pool.wait_closed()

    def terminate_pool(self, pool: Any) -> None:
        """Close a pool that belongs to another (possibly closed) event loop, without awaiting."""
        pool.close()
        for conn in list(getattr(pool, "_free", ())) + list(getattr(pool, "_used", ())):
            self.discard(conn)

    async def acquire(self, pool: Any) -> Any:
        """A pooled connection, prepared by plugins the first time it is used (aiomysql has no init hook)."""
        try:
            conn = await pool.acquire()
        except Exception as exc:
            raise ConnectionFailedError(
                f"cannot connect to MySQL at {self.url.masked()}: {errors.describe(exc, self.url)}"
            ) from None
        session = self.backend.session
        if conn not in session.opened:
            try:
                await session.connection_opened(conn)
            except BaseException:
                pool.release(conn)
                raise
        return conn

    async def release(self, pool: Any, conn: Any) -> None:
        pool.release(conn)

    def is_disconnect(self, exc: BaseException) -> bool:
        return errors.breaks(exc)

    def discard(self, conn: Any) -> None:
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

    def socket_of(self, conn: Any) -> Any:
        writer = getattr(conn, "_writer", None)
        if writer is None or writer.transport.is_closing():
            return -1
        return writer.transport.get_extra_info("socket")

    def interrupt(self, conn: Any) -> None:
        """``KILL QUERY`` for the statement on ``conn``, in the background (:mod:`.cancel`)."""
        thread_id = cancel.thread_of(conn)
        if thread_id is not None:
            cancel.kill_query(self.connect_kwargs, thread_id, self.connect_timeout)

    def is_open(self, conn: Any) -> bool:
        return not getattr(conn, "closed", False)

    def pool_stats(self, pool: Any) -> dict[str, int]:
        return {"size": pool.size, "in_use": pool.size - pool.freesize, "idle": pool.freesize}

    # --- statements ------------------------------------------------------------------------------------------

    async def fetch(self, conn: Any, sql: str, params: Sequence[Any], timeout: float | None) -> list[tuple]:
        async with conn.cursor() as cur:
            await cur.execute(sql, tuple(params))
            return list(await cur.fetchall())

    async def execute(self, conn: Any, sql: str, params: Sequence[Any], timeout: float | None) -> int:
        async with conn.cursor() as cur:
            return await cur.execute(sql, tuple(params))

    async def execute_many(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]], timeout: float | None) -> None:
        async with conn.cursor() as cur:
            cur.max_stmt_length = self.backend.packet_limit
            await cur.executemany(sql, [tuple(r) for r in rows])

    async def execute_literal(self, conn: Any, sql: str, statement: bytes | str, timeout: float | None) -> int:
        """A statement with its values already written in (bulk batches); the cursor's ``lastrowid``."""
        async with conn.cursor() as cur:
            await cur.execute(statement)
            return cur.lastrowid

    # --- transactions ----------------------------------------------------------------------------------------

    async def begin(self, conn: Any, isolation_level: str | None) -> None:
        if isolation_level:
            async with conn.cursor() as cur:
                await cur.execute(f"SET TRANSACTION ISOLATION LEVEL {ISOLATION[isolation_level]}", ())
        await conn.begin()

    async def commit(self, conn: Any, state: None) -> None:
        await conn.commit()

    async def rollback(self, conn: Any, state: None) -> None:
        await conn.rollback()

    def error(self, exc: BaseException, sql: str) -> DataFlowError:
        return errors.translate(exc, sql, self.url, self.backend.columns_of_key)

    def cause(self, exc: BaseException) -> BaseException:
        return errors.sanitized(exc)


def connect_kwargs(url: Any, connect_timeout: float) -> dict:
    """aiomysql's connect arguments from the URL; unknown options and charsets other than utf8mb4 refused."""
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
        "connect_timeout": connect_timeout, "client_flag": CLIENT.FOUND_ROWS, "init_command": INIT_COMMAND,
        "local_infile": False, "cursorclass": Cursor,
    }
    if "unix_socket" in query:
        kwargs["unix_socket"] = query["unix_socket"]
    name = query.get("program_name") or query.get("application_name")
    if name:
        kwargs["program_name"] = name
    context = _ssl_context(query)
    if context is not None:
        kwargs["ssl"] = context
    return kwargs


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
