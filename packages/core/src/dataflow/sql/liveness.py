"""Two guards around pooled connections: a liveness check before use, and a time bound on each statement.

* **Liveness** (:func:`idle_socket_closed`): an idle connection has nothing to read. When its socket is readable,
  the server closed it (EOF: a restart, ``kill -9``, an idle timeout) or said goodbye ("terminating connection"),
  and the event loop has not noticed yet. Such a connection is discarded before anything is sent on it and
  another one taken, so the first operation after a server restart succeeds. Nothing is ever re-sent: a
  statement that failed after it was sent fails (it may have run).
* **Time bound** (:func:`bounded`): a statement that gets no answer within its timeout is interrupted, the
  server asked to stop it (the driver's ``interrupt``), its connection discarded, and
  :class:`~dataflow.errors.QueryTimeoutError` raised (see :mod:`dataflow.timeouts`).
"""

from __future__ import annotations

import asyncio
import select
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from ..timeouts import timed_out

if TYPE_CHECKING:
    from .driver import SQLDriver

_TIMEOUTS = (asyncio.TimeoutError, TimeoutError)


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


async def bounded(driver: SQLDriver, conn: Any, call: Awaitable[Any], timeout: float | None, sql: str) -> Any:
    """``await call`` on ``conn`` within ``timeout`` seconds (None: no bound). On timeout the server is asked to
    stop the statement, ``conn`` is discarded (the caller still releases it) and QueryTimeoutError raised."""
    if timeout is None:
        return await call
    try:
        if sys.version_info >= (3, 11):
            async with asyncio.timeout(timeout):
                return await call
        return await asyncio.wait_for(call, timeout)
    except _TIMEOUTS:
        stop_and_discard(driver, conn)
        raise timed_out(driver.backend.name, timeout, sql) from None


def stop_and_discard(driver: SQLDriver, conn: Any) -> None:
    """A connection left mid-statement: ask the server to stop the statement (best effort, never waited for), then
    close the connection so that the pool never hands it out again."""
    try:
        driver.interrupt(conn)
    finally:
        driver.discard(conn)
