"""SQLite's driver calls, on the standard library's sqlite3.

SQLite runs in-process and its calls finish in microseconds, so they are made directly instead of hopping
to a worker thread per statement (which is what aiosqlite does, at ~50 µs a hop): coroutines here never
suspend. Core shares the one connection between threads and transactions
(:class:`dataflow.sql.shared.SharedConnection`); this module opens it and runs statements on it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from dataflow.errors import ConnectionFailedError, DatabaseError, DataFlowError
from dataflow.sql import SQLDriver
from dataflow.timeouts import timed_out

from . import errors, functions

#: SQLite's default SQLITE_MAX_VARIABLE_NUMBER (999 before 3.32)
PARAM_LIMIT = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999
#: virtual machine instructions between two looks at a statement's deadline (~1 ms of work)
PROGRESS_STEPS = 10000


class SQLiteDriver(SQLDriver):
    """One sqlite3 connection per DataFlow (``create_pool`` opens it; core shares it).

    A statement's timeout is SQLite's interrupt: a progress handler, called every :data:`PROGRESS_STEPS`
    instructions, stops the statement once its deadline passed (one statement runs at a time: core holds the
    connection's lock), and :func:`~dataflow.timeouts.timed_out` is raised. Nothing of it was written.
    """

    param_limit = PARAM_LIMIT
    deadline: float | None = None

    def _past_deadline(self) -> int:
        deadline = self.deadline
        return 1 if deadline is not None and time.monotonic() > deadline else 0

    def _bounded(self, run: Any, timeout: float, sql: str) -> Any:
        self.deadline = time.monotonic() + timeout
        try:
            return run()
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted" and self._past_deadline():
                raise timed_out("sqlite", timeout, sql) from None
            raise
        finally:
            self.deadline = None

    @property
    def path(self) -> str:
        return self.url.database or ":memory:"

    async def create_pool(self) -> sqlite3.Connection:
        path = self.path
        uri = path.startswith("file:")
        if not uri and path != ":memory:":
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                raise ConnectionFailedError(
                    f"cannot open SQLite database {path!r}: directory {parent!r} does not exist"
                )
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, uri=uri)
        except sqlite3.Error as exc:
            raise ConnectionFailedError(f"cannot open SQLite database {path!r}: {exc}", orig=exc) from exc
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA case_sensitive_like=ON")
        if path != ":memory:" and "mode=memory" not in path and "mode=ro" not in path:  # read-only: no WAL switch
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        functions.install(conn)
        conn.set_progress_handler(self._past_deadline, PROGRESS_STEPS)
        if conn.execute("SELECT 'A' LIKE 'a'").fetchone()[0]:
            raise DatabaseError("this SQLite build ignores PRAGMA case_sensitive_like; $like would be case-insensitive")
        await self.backend.session.connection_opened(conn)
        return conn

    async def close_pool(self, pool: sqlite3.Connection) -> None:
        pool.close()

    def terminate_pool(self, pool: sqlite3.Connection) -> None:
        pool.close()

    async def acquire(self, pool: sqlite3.Connection) -> sqlite3.Connection:
        return pool

    async def release(self, pool: sqlite3.Connection, conn: sqlite3.Connection) -> None:
        pass

    def pool_stats(self, pool: sqlite3.Connection) -> dict[str, int]:
        busy = int(pool.in_transaction)
        return {"size": 1, "in_use": busy, "idle": 1 - busy}

    # --- statements -----------------------------------------------------------------------------------------

    async def fetch(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any], timeout: float | None) -> list:
        if timeout is None:
            return conn.execute(sql, params).fetchall()
        return self._bounded(lambda: conn.execute(sql, params).fetchall(), timeout, sql)

    async def execute(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any], timeout: float | None) -> int:
        if timeout is None:
            return conn.execute(sql, params).rowcount
        return self._bounded(lambda: conn.execute(sql, params).rowcount, timeout, sql)

    async def execute_many(self, conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]],
                           timeout: float | None) -> int:
        if timeout is None:
            return conn.executemany(sql, rows).rowcount
        return self._bounded(lambda: conn.executemany(sql, rows), timeout, sql).rowcount

    # --- transactions: serializable whatever isolation level is asked for ------------------------------------

    async def begin(self, conn: sqlite3.Connection, isolation_level: str | None) -> None:
        conn.execute("BEGIN IMMEDIATE")

    async def commit(self, conn: sqlite3.Connection, state: None) -> None:
        if conn.in_transaction:
            conn.execute("COMMIT")

    async def rollback(self, conn: sqlite3.Connection, state: None) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def error(self, exc: BaseException, sql: str) -> DataFlowError:
        return errors.translate(exc, sql)
