"""A runtime per call reuses DataFlow's connections (issue 14): once a loop has closed young, short-lived
event loops share the pool on DataFlow's I/O thread; a loop that proves long-lived gets a pool of its own;
the count stays bounded."""

import asyncio

import pytest
from dataflow import DataFlow
from dataflow.pools import MAX_LOOP_POOLS, PROMOTE_AFTER
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


@pytest.fixture(params=["postgres", "mysql"])
def server_url(request):
    return request.getfixturevalue(f"url_{request.param}")


@pytest.fixture
def db(server_url):
    db = DataFlow(server_url, pool_size=3)

    @db.model
    class Ticket:
        title: str
        rank: int = 0

    db.express_sync.bulk_create("Ticket", [{"title": f"t{i}", "rank": i} for i in range(10)])
    made = []
    create = db.backend.session.pools._create

    async def counting_create():
        made.append(asyncio.get_running_loop())
        return await create()

    db.backend.session.pools._create = counting_create
    db.pools_made = made
    yield db
    db.close()


def listing():
    workflow = WorkflowBuilder()
    workflow.add_node("TicketListNode", "list", {"filter": {"rank": {"$gte": 5}}, "order_by": ["rank"]})
    return workflow.build()


def short_lived_loops_seen(db):
    """Two asyncio.run calls: the first loop gets a pool and closes young, which the second one notices."""
    for _ in range(2):
        assert asyncio.run(db.express.count("Ticket")) == 10
    assert db.backend.session.pools.short_lived


def test_a_runtime_per_call_reuses_connections(db):
    workflow = listing()
    for _ in range(20):
        with LocalRuntime() as runtime:
            results, _ = runtime.execute(workflow)
        assert [r["rank"] for r in results["list"]["records"]] == [5, 6, 7, 8, 9]

    async def once():
        return await AsyncLocalRuntime().execute_workflow_async(workflow, inputs={})

    for _ in range(20):
        results, _ = asyncio.run(once())
        assert len(results["list"]["records"]) == 5
    io_loop = db.backend.io.loop
    assert db.backend.session.pools.short_lived
    assert len(db.pools_made) == 2 and db.pools_made[1] is io_loop  # the first runtime's loop, then the I/O pool
    stats = db.backend.pool_stats()
    assert stats["pools"] == 2 and 2 <= stats["size"] <= 6 and stats["in_use"] == 0  # the fixture's loop and I/O

    async def long_lived():
        for _ in range(PROMOTE_AFTER + 5):
            assert await db.express.count("Ticket") == 10
        return asyncio.get_running_loop()

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(long_lived()) is db.pools_made[-1]  # it proved long-lived: its own pool
    finally:
        loop.close()


def test_loop_pools_are_bounded(db):
    async def work():
        for _ in range(5):
            assert await db.express.count("Ticket") == 10

    loops = [asyncio.new_event_loop() for _ in range(MAX_LOOP_POOLS + 1)]
    try:
        for loop in loops:
            loop.run_until_complete(work())
        # the fixture's own loop holds one of the MAX_LOOP_POOLS; loops beyond the bound use the I/O pool
        assert db.pools_made[: MAX_LOOP_POOLS - 1] == loops[: MAX_LOOP_POOLS - 1]
        assert db.backend.pool_stats()["pools"] == 1 + MAX_LOOP_POOLS
    finally:
        for loop in loops:
            loop.close()


def test_a_transaction_begun_on_a_short_lived_loop_stays_on_its_connection(db):
    short_lived_loops_seen(db)
    made = len(db.pools_made)

    async def transfer(fail: bool):
        async with db.transaction():
            await db.express.create("Ticket", {"title": "a", "rank": 100})
            await db.express.create("Ticket", {"title": "b", "rank": 101})
            if fail:
                raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        asyncio.run(transfer(fail=True))
    asyncio.run(transfer(fail=False))
    assert db.express_sync.count("Ticket", {"rank": {"$gte": 100}}) == 2
    assert len(db.pools_made) == made  # both ran on the I/O pool
