"""Stopping a statement that timed out: ``KILL QUERY <thread id>`` on a connection of its own.

Started in the background and never waited for (the server may be paused, which is why the statement timed
out), bounded by the connect timeout; its outcome is logged at DEBUG only: the statement's connection is
discarded either way, and closing it also ends the statement once the server notices.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from .client import aiomysql

log = logging.getLogger("dataflow.mysql")
_pending: set[asyncio.Task] = set()


def thread_of(conn: Any) -> int | None:
    """The server thread id of an aiomysql connection, or None."""
    try:
        return int(conn.thread_id())
    except Exception:
        return None


def kill_query(connect_kwargs: dict, thread_id: int, timeout: float) -> None:
    """Start ``KILL QUERY thread_id`` in the background on the running loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    task = loop.create_task(_kill(connect_kwargs, thread_id, timeout), name="dataflow-mysql-kill-query")
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _kill(connect_kwargs: dict, thread_id: int, timeout: float) -> None:
    try:
        await asyncio.wait_for(_send(connect_kwargs, thread_id), timeout)
    except (Exception, asyncio.CancelledError) as exc:
        log.debug("KILL QUERY not delivered: %s", type(exc).__name__)


async def _send(connect_kwargs: dict, thread_id: int) -> None:
    conn = await aiomysql.connect(**connect_kwargs)
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"KILL QUERY {int(thread_id)}")
    finally:
        conn.close()
