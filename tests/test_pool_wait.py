"""Waiting for a pooled connection counts against the query timeout (docs/reliability.md).

Every connection of a pool is held by an open transaction; a statement outside them (another task of the same
event loop: pools belong to a loop) then waits at most its own limit for a connection and fails with
QueryTimeoutError (DF-505) naming the pool size and how to raise it, or gets one when a transaction ends in time.
MariaDB's pool has two connections: its migration lock holds one while the schema is read on another.
"""

from __future__ import annotations

import asyncio
import contextvars
import time

import pytest
from dataflow import DataFlow
from dataflow.errors import QueryTimeoutError
from dataflow.timeouts import query_timeout

LIMIT = 0.5
SLACK = 2.0
"""A call that waited for the pool must fail within LIMIT + SLACK seconds, far below the DataFlow's own limit."""
SIZES = {"postgres": 1, "mysql": 2}
SAFETY = 15.0


@pytest.fixture(params=sorted(SIZES))
def db(request):
    url = request.getfixturevalue(f"url_{request.param}")
    db = DataFlow(url, pool_size=SIZES[request.param], query_timeout=20, namespace=f"pw{request.param}")

    @db.model
    class Item:
        name: str

    db.express_sync.create("Item", {"name": "before"})
    db.size = SIZES[request.param]
    yield db
    db.close()


def unbound(coro):
    """A task outside the caller's transaction (an empty context: another request of an async server)."""
    return contextvars.Context().run(asyncio.create_task, coro)


async def contend(db, limit: float, release_after: float | None = None) -> tuple[object, float, int]:
    """Every connection of the pool held by a transaction; then ``count`` within ``limit`` seconds, while the
    transactions end after ``release_after`` seconds (None: only after the count). Its result or error, the seconds
    it took, and the count afterwards."""
    release, holding = asyncio.Event(), []

    async def hold() -> None:
        async with db.transaction():
            await db.express.create("Item", {"name": "in-tx"})
            holding.append(1)
            await release.wait()

    async def count() -> int:
        with query_timeout(limit):
            return await db.express.count("Item")

    holders = [unbound(hold()) for _ in range(db.size)]
    for _ in range(1000):
        if len(holding) == db.size:
            break
        await asyncio.sleep(0.01)
    session = db.backend.session
    pool = session.pools.here(asyncio.get_running_loop())  # this loop's pool: every connection in use
    assert len(holding) == db.size and session.driver.pool_stats(pool)["in_use"] == db.size
    if release_after is not None:
        asyncio.get_running_loop().call_later(release_after, release.set)
    started = time.monotonic()
    try:
        outcome: object = await asyncio.wait_for(unbound(count()), SAFETY)
    except QueryTimeoutError as exc:
        outcome = exc
    except asyncio.TimeoutError:
        outcome = f"still waiting for a connection after {SAFETY} s"  # an unbounded wait fails, never hangs
    seconds = time.monotonic() - started
    release.set()
    await asyncio.gather(*holders)
    return outcome, seconds, await db.express.count("Item")


def test_an_exhausted_pool_fails_within_the_limit_and_recovers(db):
    error, seconds, after = asyncio.run(contend(db, LIMIT))
    assert isinstance(error, QueryTimeoutError), repr(error)
    assert error.code == "DF-505" and error.retryable
    text = str(error)
    assert f"no pooled connection within its timeout of {LIMIT:g} s" in text, text
    assert f"pool_size={db.size}" in text and "DataFlow(url, pool_size=N)" in text, text
    assert error.details["pool_size"] == db.size
    assert seconds < LIMIT + SLACK, seconds
    assert after == 1 + db.size  # released: the transactions committed, and the next call got a connection


def test_a_waiting_statement_gets_a_connection_released_in_time(db):
    count, seconds, _ = asyncio.run(contend(db, 10, release_after=0.3))
    assert count == 1 + db.size, count  # it ran after the commits
    assert 0.2 < seconds < 5, seconds
