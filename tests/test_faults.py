"""The fault suite (issue 13, docs/reliability.md): servers killed and paused by the tests, on PostgreSQL and
MariaDB. Each case asserts a clear DataFlow error, no partial rows, and that the same DataFlow recovers.

The servers are this module's own (they are killed): never the session-wide ones of tests/conftest.py.
A kill happens at a chosen statement, deterministically: a handler on the ``echo`` log (``dataflow.sql``,
written before a statement is sent) kills the server when the statement it waits for is about to run.
"""

from __future__ import annotations

import logging

import pytest
from dataflow import DataFlow, DataFlowError
from dataflow.errors import ConnectionFailedError, QueryTimeoutError
from dataflow.transactions import TransactionError
from dataflow_testing import MariaDBServer, PostgresServer
from kailash.workflow.builder import WorkflowBuilder

KINDS = ["postgres", "mysql"]
PAUSE_SAFETY = 30.0
"""A paused server is resumed after this many seconds whatever happens, so a broken timeout fails, never hangs."""


@pytest.fixture(scope="module")
def servers():
    started: dict = {}
    yield started
    for server in started.values():
        try:
            server.resume()
        except Exception:
            pass
        server.stop(timeout=5)


@pytest.fixture(params=KINDS)
def server(request, servers):
    kind = request.param
    if kind not in servers:
        if kind == "postgres":
            server = PostgresServer(vector=False).start()
        else:
            server = MariaDBServer().start()
        servers[kind] = server
    server = servers[kind]
    server.kind = kind
    return server


_count = iter(range(10**6))


@pytest.fixture
def db(server):
    """A DataFlow on a new database of the module's server, with one model (``Item``) created and made durable."""
    name = f"f{next(_count)}"
    if server.kind == "postgres":
        url = server.create_database(name)
    else:
        server.sql(f"CREATE DATABASE {name}")
        url = server.url_for(name)
    db = DataFlow(url, connect_timeout=3, query_timeout=1, echo=True, namespace=f"faults{name}")

    @db.model
    class Item:
        name: str

    db.express_sync.create("Item", {"name": "before"})
    durable(server)
    db.server = server
    yield db
    db.close()


def durable(server) -> None:
    """Make what is committed survive a kill -9 (the test PostgreSQL runs with synchronous_commit=off)."""
    if server.kind == "postgres":
        server.psql("CHECKPOINT")


def names(db) -> list[str]:
    return sorted(r["name"] for r in db.express_sync.list("Item", limit=100000))


class KillAt(logging.Handler):
    """Kill the server just before the ``nth`` logged statement that ``wanted`` accepts is sent."""

    def __init__(self, server, wanted, nth: int = 1) -> None:
        super().__init__(logging.INFO)
        self.server, self.wanted, self.left, self.fired = server, wanted, nth, False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.fired and self.wanted(record.getMessage()):
            self.left -= 1
            if self.left == 0:
                self.fired = True
                self.server.kill()


class killed_at:  # noqa: N801 - a context manager named for what it does
    def __init__(self, server, wanted, nth: int = 1) -> None:
        self.handler = KillAt(server, wanted, nth)
        self.log = logging.getLogger("dataflow.sql")

    def __enter__(self) -> KillAt:
        self.level = self.log.level
        self.log.setLevel(logging.INFO)
        self.log.addHandler(self.handler)
        return self.handler

    def __exit__(self, *exc: object) -> None:
        self.log.removeHandler(self.handler)
        self.log.setLevel(self.level)


def writes_items(sql: str) -> bool:
    head = sql.lstrip().upper()
    return head.startswith(("INSERT", "COPY")) and "ITEMS" in head


# --- kill -9 ---------------------------------------------------------------------------------------------------------


def test_kill_with_an_idle_pool_then_the_first_operation_succeeds(db):
    """Restart recovery: the pooled connections died with the server; none is used, nothing is re-sent."""
    db.express_sync.create("Item", {"name": "second"})
    durable(db.server)
    db.server.restart()
    assert names(db) == ["before", "second"]  # the first operation after the restart
    db.express_sync.create("Item", {"name": "after"})
    assert names(db) == ["after", "before", "second"]


@pytest.mark.parametrize("return_ids", [False, True])
def test_kill_mid_bulk_create(db, return_ids):
    records = [{"name": f"bulk{i:05d}"} for i in range(5000)]
    with killed_at(db.server, writes_items) as kill, pytest.raises(DataFlowError) as info:
        db.express_sync.bulk_create("Item", records, return_ids=return_ids)
    assert kill.fired
    assert isinstance(info.value, ConnectionFailedError), info.value
    assert info.value.code == "DF-501"
    db.server.restart()
    assert names(db) == ["before"]  # none of the bulk: it was one transaction
    db.express_sync.bulk_create("Item", records[:10], return_ids=return_ids)  # the same instance goes on
    assert len(names(db)) == 11


def test_kill_mid_transaction(db):
    """A db.transaction() whose server dies after its first write: nothing of it is committed."""
    with killed_at(db.server, writes_items, nth=2), pytest.raises(ConnectionFailedError):
        with db.transaction_sync():
            db.express_sync.create("Item", {"name": "in-tx-1"})
            db.express_sync.create("Item", {"name": "in-tx-2"})
    db.server.restart()
    assert names(db) == ["before"]
    with db.transaction_sync():
        db.express_sync.create("Item", {"name": "after"})
    assert names(db) == ["after", "before"]


def test_kill_mid_workflow_transaction(db):
    ns = db.namespace
    workflow = WorkflowBuilder()
    steps = [("tx", "TransactionScopeNode", {}), ("a", f"{ns}.ItemCreateNode", {"name": "wf-a"}),
             ("b", f"{ns}.ItemCreateNode", {"name": "wf-b"}), ("commit", "TransactionCommitNode", {})]
    for node_id, node, params in steps:
        workflow.add_node(node, node_id, params)
    for (first, *_), (second, *_) in zip(steps, steps[1:]):
        workflow.add_connection(first, "status" if first == "tx" else "result", second, "_after")
    with killed_at(db.server, writes_items, nth=2), pytest.raises(DataFlowError) as info:
        db.run(workflow)
    assert isinstance(info.value, (ConnectionFailedError, TransactionError)), info.value
    db.server.restart()
    assert names(db) == ["before"]
    db.run(workflow)  # the same DataFlow, the same workflow, after the restart
    assert names(db) == ["before", "wf-a", "wf-b"]


# --- SIGSTOP: a server that stops answering ------------------------------------------------------------------------


def test_a_paused_server_gives_query_timeout_and_the_instance_recovers(db):
    records = [{"name": f"p{i}"} for i in range(100)]
    with db.server.paused(PAUSE_SAFETY):
        with pytest.raises(QueryTimeoutError) as info:
            db.express_sync.list("Item")
        assert info.value.code == "DF-505" and info.value.retryable
        assert "timeout of 1 s" in str(info.value)
        with pytest.raises((QueryTimeoutError, ConnectionFailedError)) as info:
            db.express_sync.bulk_create("Item", records)
        assert info.value.retryable if isinstance(info.value, QueryTimeoutError) else info.value.code == "DF-501"
    after = names(db)  # the same instance, once the server answers again
    assert after in (["before"], sorted(["before", *(r["name"] for r in records)]))  # all or nothing
    db.express_sync.create("Item", {"name": "after"})
    assert "after" in names(db)


def test_a_paused_server_inside_a_transaction_rolls_it_back(db):
    with pytest.raises(QueryTimeoutError):
        with db.transaction_sync():
            db.express_sync.create("Item", {"name": "in-tx"})
            with db.server.paused(PAUSE_SAFETY):
                db.express_sync.create("Item", {"name": "stuck"})
    assert names(db) == ["before"]


def test_a_paused_mongodb_gives_query_timeout_and_the_instance_recovers():
    """MongoDB (SecantusDB, a MongoDB-wire test server; it picks a new port at each start, so no restart case):
    ``query_timeout`` bounds each operation as pymongo's client-side timeout (see also tests/test_mongo_timeouts.py)."""
    from dataflow_testing import MongoServer

    with MongoServer() as server:
        db = DataFlow(server.database_url("faults"), connect_timeout=3, query_timeout=1)

        @db.model
        class Item:
            name: str

        db.express_sync.create("Item", {"name": "before"})
        try:
            with server.paused(PAUSE_SAFETY):
                with pytest.raises(QueryTimeoutError) as info:
                    db.express_sync.list("Item")
                assert info.value.code == "DF-505" and "timeout of 1 s" in str(info.value)
                with pytest.raises(QueryTimeoutError):
                    db.express_sync.create("Item", {"name": "stuck"})
            db.express_sync.create("Item", {"name": "after"})
            assert "after" in names(db) and "before" in names(db)
        finally:
            db.close()
