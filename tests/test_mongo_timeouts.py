"""Query timeouts on MongoDB (docs/reliability.md): a paused server (SecantusDB, SIGSTOP) and a per-call limit.

A ``query_timeout()`` scope and a node's ``timeout`` parameter reach pymongo as its client-side operation timeout
(``pymongo.timeout``): an operation against a paused server fails with QueryTimeoutError (DF-505) naming the
operation and the limit within about that limit, although the DataFlow's own ``query_timeout`` is far longer;
nothing is half-written, and the same DataFlow works once the server answers again. The server is this module's
own (it is paused), never the session-wide one.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from dataflow import DataFlow
from dataflow.errors import QueryTimeoutError
from dataflow.timeouts import query_timeout
from dataflow.transactions import TransactionError
from dataflow_testing import MongoServer
from kailash.workflow.builder import WorkflowBuilder

LIMIT = 0.5
SLACK = 2.0
"""A timed-out call must fail within LIMIT + SLACK seconds (a loaded 2-core machine), far below the default."""

_count = iter(range(10**6))


@pytest.fixture(scope="module")
def server():
    with MongoServer() as server:
        yield server


@pytest.fixture
def db(server):
    name = f"mt{next(_count)}"
    db = DataFlow(server.database_url(name), connect_timeout=3, query_timeout=20, namespace=name)

    @db.model
    class Item:
        name: str

    db.express_sync.create("Item", {"name": "before"})
    db.server = server
    yield db
    db.close()


def names(db) -> list[str]:
    with query_timeout(10):
        return sorted(r["name"] for r in db.express_sync.list("Item", limit=100000))


class timed:  # noqa: N801 - a context manager named for what it measures
    def __enter__(self) -> timed:
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.monotonic() - self.started


def assert_timed_out(error: BaseException, operation: str, took: timed) -> None:
    assert isinstance(error, QueryTimeoutError), repr(error)
    assert error.code == "DF-505" and error.retryable
    assert f"the {operation} got no answer within its timeout of {LIMIT:g} s" in str(error), str(error)
    assert took.seconds < LIMIT + SLACK, took.seconds


def test_a_scoped_limit_reaches_pymongo_and_the_instance_recovers(db):
    records = [{"name": f"bulk{i}"} for i in range(200)]
    with db.server.paused():
        for call, operation in [(lambda: db.express_sync.list("Item"), "find"),
                                (lambda: db.express_sync.count("Item"), "count"),
                                (lambda: db.express_sync.create("Item", {"name": "stuck"}), "insert"),
                                (lambda: db.express_sync.bulk_create("Item", records), "insert")]:
            with timed() as took, pytest.raises(QueryTimeoutError) as info, query_timeout(LIMIT):
                call()
            assert_timed_out(info.value, operation, took)
    after = names(db)  # the same instance, once the server answers again
    bulk = sorted(r["name"] for r in records)
    assert after in (["before"], ["before", "stuck"], sorted(["before", *bulk]), sorted(["before", "stuck", *bulk]))
    db.express_sync.create("Item", {"name": "after"})
    assert "after" in names(db)


@pytest.mark.parametrize("runtime", ["LocalRuntime", "AsyncLocalRuntime"])
def test_a_node_timeout_parameter_reaches_pymongo(db, runtime):
    workflow = WorkflowBuilder()
    workflow.add_node(f"{db.namespace}.ItemCreateNode", "make", {"name": "node", "timeout": LIMIT})

    def run():
        return db.run(workflow) if runtime == "LocalRuntime" else asyncio.run(db.run_async(workflow))

    run()  # works (and the runtime has imported what it needs before the clock starts)
    with db.server.paused(), timed() as took, pytest.raises(QueryTimeoutError) as info:
        run()
    assert_timed_out(info.value, "insert", took)
    stuck = names(db).count("node")
    assert stuck in (1, 2)  # whether the timed-out insert took effect is unknown, but it is whole
    run()  # the same workflow once the server answers
    assert names(db).count("node") == stuck + 1


def test_a_timeout_inside_a_transaction_rolls_it_back_without_waiting_for_the_server(db):
    assert db.backend.server_transactions  # SecantusDB advertises a replica set: real transactions
    with timed() as took, pytest.raises(QueryTimeoutError) as info:
        with db.transaction_sync():
            db.express_sync.create("Item", {"name": "in-tx"})
            with db.server.paused(), query_timeout(LIMIT):
                db.express_sync.create("Item", {"name": "stuck"})
    assert_timed_out(info.value, "insert", took)  # the rollback did not wait for the paused server
    assert names(db) == ["before"]
    with db.transaction_sync():  # transactions work again
        db.express_sync.create("Item", {"name": "after"})
    assert names(db) == ["after", "before"]


def test_later_use_of_a_timed_out_transaction_is_refused(db):
    with pytest.raises(TransactionError, match="rolled back"):
        with db.transaction_sync():
            db.express_sync.create("Item", {"name": "in-tx"})
            with db.server.paused(), query_timeout(LIMIT), pytest.raises(QueryTimeoutError):
                db.express_sync.create("Item", {"name": "stuck"})
            db.express_sync.create("Item", {"name": "later"})
    assert names(db) == ["before"]


def test_waiting_for_a_pooled_connection_counts_against_the_limit(server):
    """pool_size=1: while one operation holds the only connection, another waits at most its own limit for it."""
    db = DataFlow(server.database_url(f"mt{next(_count)}"), connect_timeout=3, query_timeout=20, pool_size=1,
                  namespace=f"mtpool{next(_count)}")

    @db.model
    class Item:
        name: str

    async def contend() -> tuple[BaseException | None, float]:
        await db.express.create("Item", {"name": "before"})

        async def holder() -> None:
            with query_timeout(10):
                await db.express.list("Item")

        with server.paused():
            task = asyncio.create_task(holder())
            await asyncio.sleep(0.3)  # the holder has the connection and waits for the paused server
            started = time.monotonic()
            try:
                with query_timeout(LIMIT):
                    await db.express.count("Item")
                error = None
            except QueryTimeoutError as exc:
                error = exc
            seconds = time.monotonic() - started
        await task  # the server answers again: the holder gets its rows
        assert await db.express.count("Item") == 1
        return error, seconds

    try:
        error, seconds = asyncio.run(contend())
    finally:
        db.close()
    assert isinstance(error, QueryTimeoutError), error
    assert "no free connection" in str(error) and "pool_size=1" in str(error), str(error)
    assert seconds < LIMIT + SLACK
