"""Stopping a statement that timed out: PostgreSQL's cancel request, sent on a connection of its own.

The request (``CancelRequest``: the backend's pid and secret key) is started in the background and never
waited for: the server may be paused, which is why the statement timed out. It is bounded by the connect
timeout; its outcome is logged at DEBUG only (the statement's connection is discarded either way).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

log = logging.getLogger("dataflow.postgres")
CANCEL_REQUEST_CODE = 80877102
_pending: set[asyncio.Task] = set()


def keys_of(conn: Any) -> tuple[int, int] | None:
    """The backend pid and cancel secret of an asyncpg connection (or pool proxy), or None."""
    try:
        protocol = conn._protocol
        return int(protocol.backend_pid), int(protocol.backend_secret)
    except Exception:  # detached proxy, closed connection: nothing to cancel
        return None


def send_cancel(host: str, port: int, keys: tuple[int, int], timeout: float) -> None:
    """Start the cancel request in the background on the running loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(_cancel(host, port, keys, timeout), name="dataflow-postgres-cancel")
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _cancel(host: str, port: int, keys: tuple[int, int], timeout: float) -> None:
    try:
        await asyncio.wait_for(_send(host, port, keys), timeout)
    except (Exception, asyncio.CancelledError) as exc:
        log.debug("PostgreSQL cancel request not delivered: %s", type(exc).__name__)


async def _send(host: str, port: int, keys: tuple[int, int]) -> None:
    if host.startswith("/"):
        reader, writer = await asyncio.open_unix_connection(f"{host}/.s.PGSQL.{port}")
    else:
        reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(struct.pack("!iiii", 16, CANCEL_REQUEST_CODE, *keys))
        await writer.drain()
        await reader.read()  # the server closes the connection once it has the request
    finally:
        writer.close()
