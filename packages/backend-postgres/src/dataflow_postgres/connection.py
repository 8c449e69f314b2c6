"""PostgreSQL's driver calls, on asyncpg: connecting, pools, statements, transactions.

* Bounded asyncpg pools, created lazily (core decides which event loop gets one: ``dataflow.pools``).
* ``?prepared_statements=false`` (or ``pgbouncer=true``) disables asyncpg's statement cache for pgbouncer
  in transaction pooling mode.
* Connections go back to the pool without asyncpg's ``RESET ALL`` (a round trip per operation): DataFlow
  leaves no session state except the settings it tracks itself (``DataFlowConnection.dataflow_settings``).
* Under row-level security a transaction begins with the tenant set locally in the same message, and the
  tenant is set again before a statement when the bound tenant changed (:mod:`.rls`).
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Sequence
from typing import Any

from dataflow.errors import ConnectionFailedError, DataFlowError
from dataflow.sql import SQLDriver

from . import cancel, errors, rls
from .client import asyncpg

TRUE_WORDS = {"1", "true", "yes", "on"}
ISOLATION = {"read_uncommitted": "READ UNCOMMITTED", "read_committed": "READ COMMITTED",
             "repeatable_read": "REPEATABLE READ", "serializable": "SERIALIZABLE"}

# once promoted, pg_last_wal_replay_lsn() stays where replay stopped: later writes of the primary never count
REPLICA_STATUS = """SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8,
       CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status IS NULL OR status = 'streaming')
            THEN 'Infinity'
            WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0)
       END::float8,
       pg_is_in_recovery()"""
"""A standby without a streaming WAL receiver (the primary lost, the receiver killed) lags by an unknown amount:
infinity. Roles without pg_read_all_stats see the receiver's row with a null status, which counts as streaming."""


class DataFlowConnection(asyncpg.Connection):
    """asyncpg's connection, remembering the session settings :meth:`PostgresBackend.fetch_with_settings`
    made on it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dataflow_settings: dict[str, str] = {}


async def _keep_session(conn: Any) -> None:
    """Pool release without ``RESET ALL``. asyncpg has already rolled back an open transaction; a connection
    hook's own settings persist, as a hook means them to."""


class TransactionState:
    """What a transaction remembers: the tenant last set in it (row-level security)."""

    __slots__ = ("tenant",)

    def __init__(self, tenant: str | None) -> None:
        self.tenant = tenant


class PostgresDriver(SQLDriver):
    param_limit = 32767  # the protocol's 16-bit parameter count

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)
        options, url = backend.options, self.url
        self.pool_size = int(options.get("pool_size") or 10)
        self.connect_timeout = float(options.get("connect_timeout") or url.query.get("connect_timeout") or 10)
        self.row_level_security = bool(options.get("row_level_security", False))
        self.configures_pinned = self.row_level_security
        self.connect_kwargs = connect_kwargs(url)
        self.unicode_collation: str | None = None

    # --- connections -----------------------------------------------------------------------------------------

    async def create_pool(self) -> Any:
        try:
            return await asyncio.wait_for(
                asyncpg.create_pool(min_size=1, max_size=self.pool_size, init=self._init_connection,
                                    reset=_keep_session, connection_class=DataFlowConnection,
                                    timeout=self.connect_timeout, command_timeout=None, **self.connect_kwargs),
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
                f"cannot connect to PostgreSQL at {self.url.masked()}: {errors.describe(exc, self.url)}"
            ) from None

    async def _init_connection(self, conn: Any) -> None:
        if conn.get_server_version().major >= 17:
            self.unicode_collation = "pg_c_utf8"
        await self.backend.session.connection_opened(conn)

    async def close_pool(self, pool: Any) -> None:
        await pool.close()

    def terminate_pool(self, pool: Any) -> None:
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

    async def acquire(self, pool: Any) -> Any:
        return await pool.acquire()

    async def release(self, pool: Any, conn: Any) -> None:
        await pool.release(conn)

    def is_disconnect(self, exc: BaseException) -> bool:
        return isinstance(exc, (OSError, asyncpg.ConnectionDoesNotExistError, asyncpg.PostgresConnectionError))

    def discard(self, conn: Any) -> None:
        try:
            conn.terminate()  # the pool replaces a closed connection at its next acquire
        except asyncpg.InterfaceError:
            pass  # the server closed it, and asyncpg already detached it from its pool

    def socket_of(self, conn: Any) -> Any:
        transport = getattr(conn, "_transport", None)
        return -1 if transport is None or transport.is_closing() else transport.get_extra_info("socket")

    def interrupt(self, conn: Any) -> None:
        """PostgreSQL's cancel request for the statement on ``conn``, in the background (:mod:`.cancel`)."""
        keys = cancel.keys_of(conn)
        if keys is not None:
            args = self.connect_kwargs
            cancel.send_cancel(args["host"], args["port"], keys, self.connect_timeout)

    def is_open(self, conn: Any) -> bool:
        return not conn.is_closed()

    def pool_stats(self, pool: Any) -> dict[str, int]:
        size, idle = pool.get_size(), pool.get_idle_size()
        return {"size": size, "in_use": size - idle, "idle": idle}

    # --- statements ------------------------------------------------------------------------------------------

    async def fetch(self, conn: Any, sql: str, params: Sequence[Any], timeout: float | None) -> list[tuple]:
        return [tuple(r) for r in await conn.fetch(sql, *params, timeout=timeout)]

    async def execute(self, conn: Any, sql: str, params: Sequence[Any], timeout: float | None) -> int:
        status = await conn.execute(sql, *params, timeout=timeout)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def execute_many(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]], timeout: float | None) -> None:
        await conn.executemany(sql, rows, timeout=timeout)

    async def copy(self, conn: Any, sql: str, arg: tuple, timeout: float | None) -> None:
        """Binary COPY of ``arg = (table, columns, records)``."""
        table, columns, records = arg
        await conn.copy_records_to_table(table, records=records, columns=columns, schema_name=None, timeout=timeout)

    async def fetch_with_session_settings(self, conn: Any, sql: str, arg: tuple, timeout: float | None) -> list[tuple]:
        """Make ``settings`` (``arg = (settings, params)``) session settings of ``conn`` where they differ from
        what it holds, in one implicit transaction, then fetch."""
        settings, params = arg
        held = conn.dataflow_settings
        changes = {n: v for n, v in settings.items() if held.get(n, "DEFAULT") != v}
        if changes:
            statement = "; ".join(f"SET {n} = {v}" for n, v in changes.items())
            self.backend.session.observe(statement, ())
            await conn.execute(statement, timeout=timeout)
            held.update(changes)
        return await self.fetch(conn, sql, params, timeout)

    # --- transactions ----------------------------------------------------------------------------------------

    async def begin(self, conn: Any, isolation_level: str | None) -> TransactionState:
        statement = f"BEGIN ISOLATION LEVEL {ISOLATION[isolation_level]}" if isolation_level else "BEGIN"
        state = TransactionState(None)
        if self.row_level_security:  # one message: BEGIN and the tenant, local to this transaction
            state.tenant = rls.current_tenant()
            statement += "; " + rls.set_tenant_sql(state.tenant)
        await conn.execute(statement)
        return state

    async def commit(self, conn: Any, state: TransactionState) -> None:
        await conn.execute("COMMIT")

    async def rollback(self, conn: Any, state: TransactionState) -> None:
        await conn.execute("ROLLBACK")

    async def on_pinned(self, tx: Any) -> None:
        """Set ``dataflow.tenant_id`` for the transaction to the bound tenant, when it is not already."""
        tenant = rls.current_tenant()
        if tenant != tx.state.tenant:
            await tx.conn.execute(rls.set_tenant_sql(tenant))
            tx.state.tenant = tenant

    def rolled_back_to_savepoint(self, state: TransactionState) -> None:
        state.tenant = None  # rolling back to a savepoint also undoes a set_config made after it

    def error(self, exc: BaseException, sql: str) -> DataFlowError:
        return errors.translate(exc, sql, self.url)

    # --- read replicas (dataflow.replicas) --------------------------------------------------------------------

    replicas = True

    def for_replica(self, url: Any) -> PostgresDriver:
        clone = copy.copy(self)
        clone.url = url
        clone.connect_kwargs = connect_kwargs(url)
        return clone

    async def write_position(self, conn: Any, sql: str, arg: Any, timeout: float | None) -> int:
        """The WAL insert position: past every commit record written so far, also under synchronous_commit=off
        (``pg_current_wal_lsn()``, the write position, may still be before it)."""
        return int(await conn.fetchval("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8", timeout=timeout))

    async def replica_status(self, conn: Any, timeout: float | None) -> tuple[int, float, bool]:
        """Replayed position and lag of a standby; a promoted one keeps the position where its replay stopped
        (-1 for a server that never was a standby) and reports no lag.

        Lag is the age of the last replayed transaction while received WAL waits for replay, else 0 (an idle
        primary sends nothing, which is no lag); infinite while no WAL receiver streams (it cannot know)."""
        row = await conn.fetchrow(REPLICA_STATUS, timeout=timeout)
        return int(row[0] if row[0] is not None else -1), float(row[1] or 0.0), bool(row[2])

    def replica_conflict(self, exc: BaseException) -> bool:
        return isinstance(exc, asyncpg.PostgresError) and getattr(exc, "sqlstate", None) == "40001" and \
            "recovery" in str(exc)


def connect_kwargs(url: Any) -> dict:
    """asyncpg's connect arguments from the URL (its query options become server settings)."""
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
