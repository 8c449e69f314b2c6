"""Guards around pooled connections: a liveness check before use, and time bounds on waiting for one and on each
statement.

* **Liveness** (:func:`idle_socket_closed`): an idle connection has nothing to read. When its socket is readable,
  the server closed it (EOF: a restart, ``kill -9``, an idle timeout) or said goodbye ("terminating connection"),
  and the event loop has not noticed yet. Such a connection is discarded before anything is sent on it and
  another one taken, so the first operation after a server restart succeeds. Nothing is ever re-sent: a
  statement that failed after it was sent fails (it may have run).
* **Time bound** (:func:`bounded`): a statement that gets no answer within its timeout is interrupted, the
  server asked to stop it (the driver's ``interrupt``), its connection discarded, and
  :class:`~dataflow.errors.QueryTimeoutError` raised (see :mod:`dataflow.timeouts`).
* **Waiting for a connection** (:func:`acquired`) counts against the same limit: a statement whose pool is exhausted
  (every connection held by transactions or running statements) gets QueryTimeoutError naming the pool size and
  how to raise it, and a statement that waited gets only the rest of its limit (:func:`left`).
"""

from __future__ import annotations

import asyncio
import select
import sys
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from ..errors import QueryTimeoutError
from ..timeouts import timed_out

if TYPE_CHECKING:
    from .driver import SQLDriver

_TIMEOUTS = (asyncio.TimeoutError, TimeoutError)
MIN_LEFT = 0.001
"""Seconds a statement gets when waiting for its connection used up its limit but not more (it then times out)."""


def idle_socket_closed(sock: Any) -> bool:
    """Whether an idle connection's socket (or file descriptor; -1: closed) is readable, or gone: then it is dead."""
    try:
        fd = sock if isinstance(sock, int) else sock.fileno()
        if fd < 0:
            return True
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLPRI)
            return bool(poller.poll(0))
        readable, _, _ = select.select([fd], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


async def bounded(driver: SQLDriver, conn: Any, call: Awaitable[Any], timeout: float | None, sql: str,
                  limit: float | None = None) -> Any:
    """``await call`` on ``conn`` within ``timeout`` seconds (None: no bound). On timeout the server is asked to
    stop the statement, ``conn`` is discarded (the caller still releases it) and QueryTimeoutError raised, naming
    ``limit`` (the statement's whole limit, of which ``timeout`` is what was left after waiting for ``conn``)."""
    if timeout is None:
        return await call
    try:
        return await _within(call, timeout)
    except _TIMEOUTS:
        stop_and_discard(driver, conn)
        raise timed_out(driver.backend.name, limit or timeout, sql) from None


async def acquired(driver: SQLDriver, pool: Any, call: Awaitable[Any], timeout: float | None, sql: str) -> Any:
    """``await call``, which takes a connection from ``pool``, within ``timeout`` seconds (None: no bound): else
    QueryTimeoutError saying the pool is exhausted (its size, and how to raise it) or slow to connect."""
    if timeout is None:
        return await call
    try:
        return await _within(call, timeout)
    except _TIMEOUTS:
        raise pool_timeout(driver, pool, timeout, sql) from None


def left(timeout: float | None, started: float) -> float | None:
    """What is left at this moment of a limit of ``timeout`` seconds that started at ``started`` (monotonic)."""
    return None if timeout is None else max(timeout - (time.monotonic() - started), MIN_LEFT)


def pool_timeout(driver: SQLDriver, pool: Any, timeout: float, sql: str) -> QueryTimeoutError:
    """The error of a statement that got no pooled connection within its limit."""
    name = driver.backend.name
    what = sql.split(None, 1)[0].upper() if sql.strip() else "statement"
    size = int(getattr(driver, "pool_size", 0) or 0)
    in_use = driver.pool_stats(pool).get("in_use", 0)
    if size and in_use >= size:
        return QueryTimeoutError(
            f"{name}: the {what} statement got no pooled connection within its timeout of {timeout:g} s: all {size} "
            f"connections of the pool are in use (pool_size={size}; open transactions and running statements each "
            "hold one). Raise pool_size (DataFlow(url, pool_size=N)), end transactions sooner, or raise "
            "query_timeout / timeout=", timeout=timeout, pool_size=size, in_use=in_use)
    return QueryTimeoutError(
        f"{name}: the {what} statement got no connection within its timeout of {timeout:g} s: opening a new one took "
        f"longer ({in_use} of {size or '?'} in use; the server is slow, paused or unreachable). Retry, or raise "
        "query_timeout / timeout=", timeout=timeout, pool_size=size, in_use=in_use)


async def _within(call: Awaitable[Any], timeout: float) -> Any:
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(timeout):
            return await call
    return await asyncio.wait_for(call, timeout)


def stop_and_discard(driver: SQLDriver, conn: Any) -> None:
    """A connection left mid-statement: ask the server to stop the statement (best effort, never waited for), then
    close the connection so that the pool never hands it out again."""
    try:
        driver.interrupt(conn)
    finally:
        driver.discard(conn)
