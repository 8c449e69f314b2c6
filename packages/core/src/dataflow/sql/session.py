"""The statement path of SQL backends: which connection a statement runs on, and the transaction handle.

Every statement of every SQL backend goes through :class:`SQLSession` (``backend.session``):

* it is observed and its errors translated once (:class:`dataflow.session.StatementPath`);
* inside a transaction it runs on the transaction's connection, under the transaction's lock, on the
  event loop that connection belongs to (nodes of one workflow level may share a transaction);
* otherwise it takes a pooled connection from the running loop's pool, or, for a loop that has not proved
  long-lived, from the I/O loop's pool, running there (:mod:`dataflow.pools`); waiting for it counts against the
  statement's timeout; a connection the driver says may be broken is discarded, never reused;
* an in-process database (``blocking``) has one connection, shared by every thread
  (:class:`~dataflow.sql.shared.SharedConnection`).

:class:`SQLTransaction` is the one transaction handle of SQL backends, built on the driver's
``begin``/``commit``/``rollback`` and standard savepoint statements.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import QueryTimeoutError
from ..pools import LoopPools
from ..replicas import READING
from ..runner import run_on
from ..session import StatementPath
from ..timeouts import effective
from ..transactions import SQLTransactionHandle, TransactionError
from .liveness import acquired, bounded, idle_socket_closed, left
from .shared import SharedConnection

if TYPE_CHECKING:
    from ..replicas import ReadRouter
    from .backend import SQLBackend
    from .driver import SQLDriver


class SQLSession(StatementPath):
    """Statements and transactions of one SQL backend, on its driver."""

    def __init__(self, backend: SQLBackend, driver: SQLDriver) -> None:
        super().__init__(backend, driver.error, driver.cause)
        self.driver = driver
        self.blocking = backend.blocking
        self.io = backend.io
        self.pools = LoopPools(driver.create_pool, driver.close_pool, driver.terminate_pool, backend.name, backend.io)
        self.shared = SharedConnection(self) if backend.blocking else None
        self.implicit_transactions = False
        """Run each statement outside a transaction in one of its own (PostgreSQL under row-level security)."""
        self._bound = backend._bound.get
        self.opened: weakref.WeakSet[Any] = weakref.WeakSet()
        """Connections plugins were told about (``dataflow_connection_opened``); told again before they close."""
        self._held: list[Any] = []
        self.router: ReadRouter | None = None
        """Where reads outside transactions go when the DataFlow has read replicas (:mod:`dataflow.replicas`)."""
        self.stale_retries = int(getattr(driver, "pool_size", 10) or 10) + 1
        """Dead idle connections replaced in one acquire: the whole pool, after a server restart."""

    # --- statements ---------------------------------------------------------------------------------------------

    def fetch(self, sql: str, params: Sequence[Any], *, timeout: float | None = None, on: Any = None) -> Any:
        """(awaitable) Every row of a query, as tuples. ``on``: a transaction to run on, else the bound one."""
        if self.shared is not None:
            return self._inline(self.driver.fetch, sql, params, params, on, timeout)
        return self.run(sql, params, self._dispatch, self.driver.fetch, sql, params, on, timeout=timeout)

    def execute(self, sql: str, params: Sequence[Any], *, timeout: float | None = None, on: Any = None) -> Any:
        """(awaitable) Run a statement; the affected row count."""
        if self.shared is not None:
            return self._inline(self.driver.execute, sql, params, params, on, timeout)
        return self.run(sql, params, self._dispatch, self.driver.execute, sql, params, on, timeout=timeout)

    def execute_many(self, sql: str, rows: Sequence[Sequence[Any]], *, timeout: float | None = None,
                     on: Any = None) -> Any:
        """(awaitable) One statement for many parameter rows."""
        if self.shared is not None:
            return self._inline(self.driver.execute_many, sql, rows, rows, on, timeout)
        return self.run(sql, rows, self._dispatch, self.driver.execute_many, sql, rows, on, timeout=timeout)

    def call(self, sql: str, shown: Any, fn: Any, arg: Any, *, timeout: float | None = None, on: Any = None) -> Any:
        """(awaitable) A driver-specific call ``fn(conn, sql, arg, timeout)`` as one statement (COPY, literal
        batches): observed as ``sql`` with ``shown``, on the connection a statement would use."""
        if self.shared is not None:
            return self._inline(fn, sql, shown, arg, on, timeout)
        return self.run(sql, shown, self._dispatch, fn, sql, arg, on, timeout=timeout)

    async def _inline(self, fn: Any, sql: str, shown: Any, arg: Any, pinned: Any, timeout: float | None) -> Any:
        """The path of an in-process database in one frame: its calls take microseconds and never suspend (the
        driver bounds a statement's time itself: a coroutine that never suspends cannot be interrupted)."""
        if timeout is None:
            timeout = effective(self.timeout)
        if self.watching:
            self.observe(sql, shown)
        started = time.perf_counter() if self.listeners else None
        try:
            if pinned is None:
                pinned = self._bound()
            if pinned is None:
                shared = self.shared
                if shared.owner is not None:
                    await shared.wait_turn()
                conn = shared.conn
                with shared.lock:
                    result = await fn(conn if conn is not None else shared.get(), sql, arg, timeout)
            else:
                result = await self._dispatch(fn, sql, arg, pinned, timeout)
        except Exception as exc:
            error = self.failure(exc, sql, started)
            raise error from error.__cause__
        return result if started is None else self.done(sql, started, result)

    async def _dispatch(self, fn: Any, sql: str, arg: Any, pinned: Any, timeout: float | None) -> Any:
        if pinned is None:
            pinned = self._bound()
        if pinned is not None:
            pinned.check_active()
            home = pinned.loop
            if home is not None and home is not asyncio.get_running_loop():
                return await run_on(_running(home), self._pinned(pinned, fn, sql, arg, timeout))
            return await self._pinned(pinned, fn, sql, arg, timeout)
        router = self.router
        if router is None:
            return await self._primary(fn, sql, arg, timeout)
        if READING.get():
            return await router.read(fn, sql, arg, timeout)
        try:
            return await self._primary(fn, sql, arg, timeout)
        finally:
            if _writes(sql):
                router.wrote()

    async def _primary(self, fn: Any, sql: str, arg: Any, timeout: float | None) -> Any:
        """A statement outside any bound transaction, on a pooled connection to the primary."""
        if self.implicit_transactions:
            async with self.backend.transaction():
                return await self._dispatch(fn, sql, arg, None, timeout)
        loop = asyncio.get_running_loop()
        pool = self.pools.here(loop)
        if pool is None:
            pool = await self.pools.local(loop)
            if pool is None:
                return await self.io.call(self._on_io(fn, sql, arg, timeout))
        return await self._pooled(pool, fn, sql, arg, timeout)

    async def _on_io(self, fn: Any, sql: str, arg: Any, timeout: float | None) -> Any:
        pool = await self.pools.local(asyncio.get_running_loop())
        return await self._pooled(pool, fn, sql, arg, timeout)

    async def _pooled(self, pool: Any, fn: Any, sql: str, arg: Any, timeout: float | None) -> Any:
        driver = self.driver
        started = time.monotonic()
        conn = await self.acquire(pool, timeout, sql)
        rest = left(timeout, started)  # waiting for the connection counted against the limit
        try:
            return await bounded(driver, conn, fn(conn, sql, arg, rest), rest, sql, timeout)
        except BaseException as exc:
            if driver.is_disconnect(exc):
                driver.discard(conn)
            raise
        finally:
            await driver.release(pool, conn)

    async def _pinned(self, pinned: Any, fn: Any, sql: str, arg: Any, timeout: float | None) -> Any:
        async with pinned.lock:  # nodes of one workflow level may share a transaction concurrently
            if pinned.broken is not None:
                raise pinned.broken
            if self.router is not None and _writes(sql):
                pinned.wrote = True
            if self.blocking:
                return await fn(pinned.conn, sql, arg, timeout)
            try:
                if self.driver.configures_pinned:
                    await bounded(self.driver, pinned.conn, self.driver.on_pinned(pinned), timeout, sql)
                return await bounded(self.driver, pinned.conn, fn(pinned.conn, sql, arg, timeout), timeout, sql)
            except QueryTimeoutError as exc:
                pinned.broken = TransactionError(
                    f"this transaction was rolled back: a statement in it timed out ({exc.message})")
                raise

    async def acquire(self, pool: Any, timeout: float | None = None, sql: str = "") -> Any:
        """A connection from ``pool``: the one place pooled connections are taken, and checked. An idle connection
        the server closed meanwhile (a restart) is discarded before anything is sent on it, and another taken.
        Waits at most ``timeout`` seconds (the statement ``sql``'s limit): QueryTimeoutError naming the pool size."""
        return await acquired(self.driver, pool, self._acquire(pool), timeout, sql)

    async def _acquire(self, pool: Any) -> Any:
        driver = self.driver
        for _ in range(self.stale_retries):
            conn = await driver.acquire(pool)
            sock = driver.socket_of(conn)
            if sock is None or not idle_socket_closed(sock):
                return conn
            driver.discard(conn)
            await driver.release(pool, conn)
        return await driver.acquire(pool)

    # --- transactions --------------------------------------------------------------------------------------------

    async def begin(self, isolation_level: str | None = None, *, timeout: float | None = None,
                    start: Any = None, handle: type[SQLTransaction] | None = None) -> SQLTransaction:
        """A transaction on a connection of its own (not bound: ``Backend.transaction()`` binds).

        ``start(conn, isolation_level)`` replaces the driver's ``begin`` and ``handle`` the handle class (the
        branches of a distributed transaction, :mod:`dataflow.distributed`)."""
        what = f"BEGIN ISOLATION LEVEL {isolation_level.replace('_', ' ').upper()}" if isolation_level else "BEGIN"
        if start is None and handle is None:
            return await self.run(what, (), self._begin_somewhere, isolation_level, timeout=timeout)
        return await self.run(what, (), lambda t: self._begin_somewhere(isolation_level, t, start, handle),
                              timeout=timeout)

    async def _begin_somewhere(self, isolation_level: str | None, timeout: float | None, start: Any = None,
                               handle: Any = None) -> SQLTransaction:
        if self.shared is not None:
            return await self.shared.begin(isolation_level)
        loop = asyncio.get_running_loop()
        pool = self.pools.here(loop)
        if pool is None:
            pool = await self.pools.local(loop)
        if pool is None:
            return await self.io.call(self._begin_somewhere(isolation_level, timeout, start, handle))
        driver = self.driver
        started = time.monotonic()
        conn = await self.acquire(pool, timeout, "BEGIN")
        try:
            state = await bounded(driver, conn, (start or driver.begin)(conn, isolation_level), left(timeout, started),
                                  "BEGIN", timeout)
        except BaseException as exc:
            if driver.is_disconnect(exc):
                driver.discard(conn)
            await driver.release(pool, conn)
            raise
        return (handle or SQLTransaction)(self, pool, conn, state, isolation_level, loop)

    async def end(self, tx: SQLTransaction, how: Any, timeout: float | None) -> None:
        """Commit or roll back ``tx`` on its loop, then give its connection back (discarded if that failed)."""
        if tx.loop is not None and tx.loop is not asyncio.get_running_loop():
            return await run_on(_running(tx.loop), self.end(tx, how, timeout))
        if self.shared is not None:
            return await self.shared.end(tx, how)
        try:
            async with tx.lock:
                if tx.broken is not None:  # its connection was discarded: the server rolled the transaction back
                    if how == self.driver.commit:
                        raise tx.broken
                    return
                await bounded(self.driver, tx.conn, how(tx.conn, tx.state), timeout, "COMMIT/ROLLBACK")
            if tx.wrote and self.router is not None:
                self.router.wrote()  # committed (or rolled back): reads after this must see it
        except BaseException:
            self.driver.discard(tx.conn)  # in an unknown state: the server rolls back what a closed connection left
            raise
        finally:
            await self.driver.release(tx.pool, tx.conn)

    # --- lifecycle -------------------------------------------------------------------------------------------------

    async def connection_opened(self, conn: Any) -> None:
        """Run plugins' ``dataflow_connection_opened`` on a new connection: awaiting what they return, or refusing
        an awaitable on a blocking backend, whose connections are synchronous
        (:class:`~dataflow.plugins.PluginHost`)."""
        if self.backend.blocking:
            self.host.connection_opened_sync(conn, self.backend)
        else:
            await self.host.connection_opened(conn, self.backend)
        try:
            self.opened.add(conn)
        except TypeError:  # not weak-referenceable (sqlite3): the one long-lived connection
            self._held.append(conn)

    def announce_closing(self) -> None:
        """``dataflow_connection_closing`` for every open connection plugins were told about."""
        for conn in [*self.opened, *self._held]:
            if self.driver.is_open(conn):
                self.host.connection_closing(conn, self.backend)
        self.opened, self._held = weakref.WeakSet(), []

    async def open(self) -> None:
        """Connect now (first use): the running loop's pool, or the I/O loop's."""
        if self.shared is not None:
            self.shared.get()
            return
        loop = asyncio.get_running_loop()
        if self.pools.here(loop) is None and await self.pools.local(loop) is None:
            await self.io.call(self._open_io())

    async def _open_io(self) -> None:
        await self.pools.local(asyncio.get_running_loop())

    async def close(self) -> None:
        self.announce_closing()
        if self.router is not None:
            await self.router.close()
        if self.shared is not None:
            self.shared.close()
        else:
            await self.pools.close()

    def close_sync(self) -> None:
        self.announce_closing()
        if self.router is not None:
            self.router.close_sync()
        if self.shared is not None:
            self.shared.close()
        else:
            self.pools.close_sync()

    def pool_stats(self) -> dict[str, int]:
        """Connections of every pool together: ``pools``, ``size``, ``in_use``, ``idle``."""
        pools = ([self.shared.conn] if self.shared.conn is not None else []) if self.shared else self.pools.pools()
        total = {"pools": len(pools), "size": 0, "in_use": 0, "idle": 0}
        for pool in pools:
            for key, value in self.driver.pool_stats(pool).items():
                total[key] = total.get(key, 0) + value
        return total


class SQLTransaction(SQLTransactionHandle):
    """A transaction on one pinned connection, given back to its pool when it ends.

    Statements bound to it run on ``conn`` under ``lock`` on ``loop`` (None for in-process databases);
    ``state`` is what the driver's ``begin`` returned.
    """

    def __init__(self, session: SQLSession, pool: Any, conn: Any, state: Any, isolation_level: str | None,
                 loop: asyncio.AbstractEventLoop | None) -> None:
        super().__init__(isolation_level)
        self.session, self.pool, self.conn, self.state, self.loop = session, pool, conn, state, loop
        self.lock: Any = asyncio.Lock()
        self.wrote = False
        """A statement that may write ran in it (counted at its end for read-your-writes on replicas)."""
        self.broken: TransactionError | None = None
        """Why the transaction can no longer run statements (one timed out and its connection was discarded)."""

    async def _commit(self) -> None:
        await self._end("COMMIT", self.session.driver.commit)

    async def _rollback(self) -> None:
        await self._end("ROLLBACK", self.session.driver.rollback)

    async def _end(self, what: str, how: Any) -> None:
        self.check_active()
        self.active = False
        await self.session.run(what, (), self.session.end, self, how)

    async def _run(self, sql: str) -> None:
        await self.session.execute(sql, (), on=self)

    async def rollback_to(self, name: str) -> None:
        await super().rollback_to(name)
        self.session.driver.rolled_back_to_savepoint(self.state)


def _writes(sql: str) -> bool:
    """Whether a statement may write (anything but a SELECT): read-your-writes counts these."""
    return sql[:6].upper() != "SELECT" and sql.lstrip()[:6].upper() != "SELECT"


def _running(loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
    """A transaction's loop, which must be running to reach its connection from another loop."""
    if not loop.is_running():
        raise TransactionError("this transaction's event loop is not running; use it from the code that began it")
    return loop
