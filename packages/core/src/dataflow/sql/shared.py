"""The one connection of an in-process database (``blocking`` backends: SQLite), shared by every thread.

Its calls never suspend, so a statement holds a re-entrant thread lock while it runs, and ``:memory:`` is
one database for the whole DataFlow. An open transaction belongs to the context (task or thread) that
began it: statements from other contexts wait until it ends, up to ``busy_timeout`` seconds, instead of
joining it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import DatabaseError
from ..runner import drive_inline
from ..transactions import TransactionError

if TYPE_CHECKING:
    from .session import SQLSession, SQLTransaction


class SharedConnection:
    """The connection, its lock, and the transaction that owns it (if any)."""

    def __init__(self, session: SQLSession) -> None:
        self.session = session
        self.driver = session.driver
        self.conn: Any = None
        self.lock = threading.RLock()
        self._open_lock = threading.Lock()
        self._turn = threading.Condition(self.lock)
        self.owner: SQLTransaction | None = None
        self.busy_timeout = float(session.backend.options.get("connect_timeout") or 5)

    def get(self) -> Any:
        """The connection, opened at first use (the driver's ``create_pool`` must not suspend)."""
        conn = self.conn
        if conn is None:
            with self._open_lock:
                if self.conn is None:
                    self.conn = drive_inline(self.driver.create_pool())
                conn = self.conn
        return conn

    def _mine(self) -> bool:
        owner = self.owner
        return owner is None or owner is self.session._bound()

    async def wait_turn(self) -> None:
        """Until no transaction of another context holds the connection."""
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
                raise DatabaseError(f"{self.session.backend.name} database is busy: a transaction elsewhere stayed "
                                    f"open for {self.busy_timeout:g} s")
            owner = self.owner
            if in_loop:
                await asyncio.sleep(0.0005)
            elif owner is not None and owner.thread is threading.current_thread():
                raise TransactionError(
                    "a transaction opened elsewhere in this thread is still open on this database; "
                    "finish it first, or use the async API so the caller can wait")
            else:
                with self._turn:
                    self._turn.wait(0.01)

    async def begin(self, isolation_level: str | None) -> SQLTransaction:
        from .session import SQLTransaction

        tx = SQLTransaction(self.session, self, None, None, isolation_level, None)
        tx.lock = _HeldLock(self.lock)
        tx.thread = threading.current_thread()
        while True:
            await self.wait_turn()
            with self.lock:
                if self.owner is None:
                    tx.conn = self.get()
                    tx.state = await self.driver.begin(tx.conn, isolation_level)
                    self.owner = tx
                    return tx

    async def end(self, tx: SQLTransaction, how: Any) -> None:
        """Commit or roll back (``how``) the owning transaction; others may then go on."""
        with self.lock:
            try:
                await how(tx.conn, tx.state)
            finally:
                if self.owner is tx:
                    self.owner = None
                self._turn.notify_all()

    def close(self) -> None:
        with self.lock:
            conn, self.conn = self.conn, None
            if conn is not None:
                self.driver.terminate_pool(conn)


class _HeldLock:
    """The thread lock as a transaction's ``async with tx.lock`` (never suspends)."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock

    async def __aenter__(self) -> None:
        self._lock.acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self._lock.release()
