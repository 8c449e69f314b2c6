"""Read replicas on a real PostgreSQL streaming standby (dataflow.replicas, dataflow_testing.PostgresStandby).

A primary of this module's own (its standby is stopped, restarted and cloned here) and a hot standby made
with ``pg_basebackup -R``. Where reads ran is read from the standby itself (``pg_stat_database``) and from
the router's counters (``db.metrics()["replicas"]``).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import pytest
from dataflow import DataFlow
from dataflow.errors import ConfigurationError, ValidationError
from dataflow.replicas import READING
from dataflow_testing import PostgresServer, PostgresStandby
from kailash.runtime.local import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


@pytest.fixture(scope="module")
def primary():
    with PostgresServer(vector=False) as server:
        # the test server commits with synchronous_commit=off: flush WAL often, so standbys see commits soon
        server.psql("ALTER SYSTEM SET wal_writer_delay = '10ms'")
        server.psql("SELECT pg_reload_conf()")
        yield server


@pytest.fixture(scope="module")
def standby(primary):
    with PostgresStandby(primary) as server:
        yield server


@pytest.fixture
def urls(primary, standby):
    """(primary URL, standby URL) of a new database, present on the standby."""
    name = f"r_{uuid.uuid4().hex[:10]}"
    url = primary.create_database(name)
    standby.wait_caught_up()
    yield url, standby.url_for(name)
    primary.drop_database(name)


def make_db(primary_url: str, replica_urls: list[str], **options) -> DataFlow:
    db = DataFlow(primary_url, read_urls=replica_urls, **options)

    @db.model
    class Item:
        name: str
        qty: int = 0

    return db


def replica_reads(db: DataFlow, index: int = 0) -> int:
    return db.metrics()["replicas"]["replicas"][index]["reads"]


def standby_commits(standby: PostgresStandby, database: str) -> int:
    return int(standby.psql(f"SELECT xact_commit FROM pg_stat_database WHERE datname = '{database}'").strip() or 0)


def test_reads_reach_the_standby(urls, standby):
    primary_url, standby_url = urls
    database = primary_url.rsplit("/", 1)[1]
    db = make_db(primary_url, [standby_url])
    try:
        ids = [db.express_sync.create("Item", {"name": f"n{i}", "qty": i})["id"] for i in range(5)]
        standby.wait_caught_up()
        before = standby_commits(standby, database)
        for _ in range(10):
            assert len(db.express_sync.list("Item")) == 5
            assert db.express_sync.count("Item", {"qty": {"$gte": 2}}) == 3
            assert db.express_sync.read("Item", ids[0])["name"] == "n0"
        assert replica_reads(db) == 30
        assert db.metrics()["replicas"]["replicas"][0]["pool"]["size"] >= 1
    finally:
        db.close()
    # the standby's own statistics saw the reads: its backends flush them when they exit, once db is closed
    deadline = time.monotonic() + 15
    while standby_commits(standby, database) - before < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert standby_commits(standby, database) - before >= 30


def test_read_your_writes(urls):
    primary_url, standby_url = urls
    db = make_db(primary_url, [standby_url])
    try:
        for i in range(15):  # every read right after the write that it must see
            row = db.express_sync.create("Item", {"name": f"w{i}"})
            assert db.express_sync.read("Item", row["id"]) is not None
            db.express_sync.update("Item", row["id"], {"qty": 100 + i})
            assert db.express_sync.read("Item", row["id"])["qty"] == 100 + i
            assert db.express_sync.count("Item") == i + 1
        stats = db.metrics()["replicas"]
        assert stats["replicas"][0]["reads"] > 0  # served by the standby once it had replayed the write
    finally:
        db.close()


def test_read_your_writes_while_the_standby_replays_nothing(urls, standby):
    primary_url, standby_url = urls
    db = make_db(primary_url, [standby_url], replica_wait=0.05)
    try:
        db.express_sync.create("Item", {"name": "old"})
        assert db.express_sync.count("Item") == 1
        served = replica_reads(db)
        standby.psql("SELECT pg_wal_replay_pause()")
        try:
            for i in range(5):  # the standby never has these rows: every read must come from the primary
                row = db.express_sync.create("Item", {"name": f"x{i}"})
                assert db.express_sync.read("Item", row["id"])["name"] == f"x{i}"
                assert db.express_sync.count("Item") == i + 2
            assert replica_reads(db) == served
            assert db.metrics()["replicas"]["fallbacks_to_primary"] >= 10
        finally:
            standby.psql("SELECT pg_wal_replay_resume()")
        standby.wait_caught_up()
        time.sleep(1.1)  # after a wait that ran out, the standby is skipped until its next status check is due
        assert db.express_sync.count("Item") == 6
        assert replica_reads(db) == served + 1
    finally:
        db.close()


def test_a_standby_lagging_past_the_bound_is_skipped(urls, standby):
    primary_url, standby_url = urls
    db = make_db(primary_url, [standby_url], replica_max_lag=0.3)
    writer = DataFlow(primary_url, namespace="writer")  # another instance: its writes are no write of db's

    @writer.model
    class Item:
        name: str
        qty: int = 0

    try:
        db.express_sync.create("Item", {"name": "old"})
        assert db.express_sync.count("Item") == 1
        served = replica_reads(db)
        standby.psql("SELECT pg_wal_replay_pause()")
        try:
            writer.express_sync.create("Item", {"name": "new"})  # received by the standby, not replayed
            time.sleep(1.2)  # past the bound and past the status check interval
            assert db.express_sync.count("Item") == 2  # the standby lags 1 s > 0.3 s: the primary answers
            assert replica_reads(db) == served
            assert db.metrics()["replicas"]["replicas"][0]["lag_seconds"] > 0.3
        finally:
            standby.psql("SELECT pg_wal_replay_resume()")
        standby.wait_caught_up()
        time.sleep(1.1)  # its status is due again: checked, caught up, used again
        assert db.express_sync.count("Item") == 2
        assert replica_reads(db) == served + 1
    finally:
        writer.close()
        db.close()


def _receiver_streaming(standby: PostgresStandby) -> bool:
    return standby.psql("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'").strip() == "1"


def set_conninfo(standby: PostgresStandby, conninfo: str) -> None:
    escaped = conninfo.replace("'", "''")
    standby.psql(f"ALTER SYSTEM SET primary_conninfo = '{escaped}'")
    standby.psql("SELECT pg_reload_conf()")


def _wait_receiver(standby: PostgresStandby, streaming: bool, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _receiver_streaming(standby) != streaming:
        assert time.monotonic() < deadline, f"the standby's WAL receiver did not become streaming={streaming}"
        time.sleep(0.05)


def test_a_standby_whose_wal_receiver_is_dead_is_skipped(urls, standby):
    """Receiver gone (the primary unreachable): everything received is replayed, so the lag by replay age is 0,
    yet the standby falls behind for ever; it is skipped until it streams again."""
    primary_url, standby_url = urls
    db = make_db(primary_url, [standby_url])
    writer = DataFlow(primary_url, namespace="writer")  # another instance: its writes are no write of db's

    @writer.model
    class Item:
        name: str
        qty: int = 0

    conninfo = standby.psql("SHOW primary_conninfo").strip()
    try:
        db.express_sync.create("Item", {"name": "old"})
        assert db.express_sync.count("Item") == 1
        served = replica_reads(db)
        assert served == 1
        # the receiver loses the primary (a wrong port: it cannot reconnect) while the primary moves on
        set_conninfo(standby, re.sub(r"\bport=\d+", "port=1", conninfo))
        _wait_receiver(standby, False)
        writer.express_sync.create("Item", {"name": "new"})
        time.sleep(1.1)  # past the status check interval
        for _ in range(3):
            assert db.express_sync.count("Item") == 2  # not the standby's 1: the primary answers
        assert replica_reads(db) == served
        assert db.metrics()["replicas"]["replicas"][0]["lag_seconds"] is None  # unknown, reported as such
    finally:
        set_conninfo(standby, conninfo)  # pg_basebackup -R wrote it with ALTER SYSTEM's file: set it back
        writer.close()
    try:
        _wait_receiver(standby, True)
        standby.wait_caught_up()
        time.sleep(1.1)  # its status is due again: streaming, caught up, used again
        assert db.express_sync.count("Item") == 2
        assert replica_reads(db) == served + 1
    finally:
        db.close()


def test_a_full_replica_pool_sends_the_read_to_the_primary_within_its_limit(urls):
    """Waiting for a replica's pooled connection is bounded (half the read's limit): a replica whose pool is full
    is busy, not down; the primary answers within the limit, and the replica serves again once a connection frees."""
    from dataflow.timeouts import query_timeout

    primary_url, standby_url = urls
    db = make_db(primary_url, [standby_url], pool_size=1)

    async def work():
        await db.express.create("Item", {"name": "a"})
        await db.express.count("Item")  # the replica's pool exists on this loop now
        router = (await db.backend_for("Item")).session.router
        replica = router.replicas[0]
        pool = replica.pools.here(asyncio.get_running_loop())
        held = await replica.driver.acquire(pool)  # the replica's only connection
        try:
            fallbacks = router.fallbacks
            start = time.monotonic()
            with query_timeout(1.0):
                assert await db.express.count("Item") == 1
            elapsed = time.monotonic() - start
            assert 0.4 < elapsed < 1.0, elapsed  # waited half the limit for the replica, then asked the primary
            assert replica.busy == 1 and router.fallbacks == fallbacks + 1 and replica.down_until < time.monotonic()
        finally:
            await replica.driver.release(pool, held)
        reads = replica.reads
        with query_timeout(1.0):
            assert await db.express.count("Item") == 1
        assert replica.reads == reads + 1
        await db.close_async()

    try:
        asyncio.run(asyncio.wait_for(work(), 30))  # an unbounded wait for the replica would hang here
        assert db.metrics()["replicas"]["replicas"][0]["busy"] == 1
    finally:
        db.close()


def test_transactions_and_use_primary_read_the_primary(urls):
    primary_url, standby_url = urls
    db = make_db(primary_url, [standby_url])
    try:
        db.express_sync.create("Item", {"name": "seed"})
        db.express_sync.list("Item")
        served = replica_reads(db)

        async def in_transaction():
            async with db.transaction():
                row = await db.express.create("Item", {"name": "uncommitted"})
                assert (await db.express.read("Item", row["id"]))["name"] == "uncommitted"
                assert await db.express.count("Item") == 2
                assert len(await db.express.list("Item")) == 2
                raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            asyncio.run(in_transaction())
        assert replica_reads(db) == served
        assert db.express_sync.count("Item", use_primary=True) == 1
        assert db.express_sync.list("Item", use_primary=True)[0]["name"] == "seed"
        workflow = WorkflowBuilder()
        workflow.add_node("ItemListNode", "items", {"use_primary": True})
        workflow.add_node("ItemCountNode", "count", {"use_primary": True})
        with LocalRuntime() as runtime:
            results, _ = runtime.execute(workflow.build())
        assert results["items"]["count"] == 1 and results["count"]["count"] == 1
        assert replica_reads(db) == served
        workflow = WorkflowBuilder()
        workflow.add_node("ItemListNode", "items", {})
        with LocalRuntime() as runtime:
            results, _ = runtime.execute(workflow.build())
        assert results["items"]["count"] == 1
        assert replica_reads(db) == served + 1  # a node without use_primary reads from the standby
        with pytest.raises(ValidationError, match="use_primary"):
            db.express_sync.count("Item", use_primary="yes")
    finally:
        db.close()


def test_a_stopped_standby_is_skipped_and_used_again_when_back(urls, standby):
    primary_url, standby_url = urls
    db = make_db(primary_url, [standby_url], replica_retry_after=0.2)
    try:
        db.express_sync.create("Item", {"name": "a"})
        assert db.express_sync.count("Item") == 1
        served = replica_reads(db)
        assert served == 1
        standby.stop_server()
        try:
            for _ in range(5):
                assert db.express_sync.count("Item") == 1  # answered by the primary
            stats = db.metrics()["replicas"]
            assert stats["replicas"][0]["failures"] >= 1 and stats["fallbacks_to_primary"] >= 5
        finally:
            standby.restart()
        db.express_sync.create("Item", {"name": "b"})
        deadline = time.monotonic() + 20
        while replica_reads(db) == served and time.monotonic() < deadline:
            assert db.express_sync.count("Item") == 2
            time.sleep(0.05)
        assert replica_reads(db) > served
    finally:
        db.close()


def test_a_promoted_standby_keeps_serving_reads(primary, urls):
    primary_url, _ = urls
    database = primary_url.rsplit("/", 1)[1]
    with PostgresStandby(primary) as spare:
        db = make_db(primary_url, [spare.url_for(database)], replica_wait=0.1)
        try:
            db.express_sync.create("Item", {"name": "before"})
            assert db.express_sync.count("Item") == 1
            assert replica_reads(db) == 1
            spare.promote()
            assert not spare.in_recovery()
            time.sleep(1.1)  # past the status check interval: the router learns of the promotion
            assert [r["name"] for r in db.express_sync.list("Item")] == ["before"]
            assert replica_reads(db) == 2 and db.metrics()["replicas"]["replicas"][0]["in_recovery"] is False
            row = db.express_sync.create("Item", {"name": "after"})  # on the primary only
            assert db.express_sync.read("Item", row["id"])["name"] == "after"  # read-your-writes: the primary
            assert db.express_sync.count("Item") == 2
        finally:
            db.close()
        # re-pointed: the promoted server is now the primary of a DataFlow of its own, reading from itself
        promoted = spare.url_for(database)
        db = make_db(promoted, [promoted])
        try:
            db.express_sync.create("Item", {"name": "on promoted"})
            assert db.express_sync.count("Item") == 2
        finally:
            db.close()


def test_tenancy_and_row_level_security_hold_on_the_standby(primary, standby):
    name = f"r_{uuid.uuid4().hex[:10]}"
    primary_url = primary.create_database(name, owner="dataflow_app")
    standby.wait_caught_up()
    db = make_db(primary_url, [standby.url_for(name, user="dataflow_app")], multi_tenant=True,
                 row_level_security=True)
    try:
        for tenant, count in (("acme", 3), ("globex", 2)):
            with db.tenant(tenant):
                for i in range(count):
                    db.express_sync.create("Item", {"name": f"{tenant}{i}"})
        with db.tenant("acme"):
            assert sorted(r["name"] for r in db.express_sync.list("Item")) == ["acme0", "acme1", "acme2"]
        with db.tenant("globex"):
            assert db.express_sync.count("Item") == 2
        assert replica_reads(db) == 2

        async def raw_count() -> int:  # no tenant filter in the SQL: only the policy on the standby limits it
            token = READING.set(True)
            try:
                rows = await db.backend.fetch('SELECT count(*) FROM items', ())
            finally:
                READING.reset(token)
            return rows[0][0]

        with db.tenant("globex"):
            assert db.run_sync(raw_count()) == 2
        assert replica_reads(db) == 3
    finally:
        db.close()
        primary.drop_database(name)


def test_read_replica_options_are_checked(tmp_path, urls):
    primary_url, standby_url = urls
    with pytest.raises(ConfigurationError, match="not both"):
        DataFlow(primary_url, read_urls=[standby_url], read_url=standby_url)
    with pytest.raises(ConfigurationError, match="read_policy"):
        DataFlow(primary_url, read_urls=[standby_url], read_policy="random")
    with pytest.raises(ConfigurationError, match="replica_wait"):
        DataFlow(primary_url, read_urls=[standby_url], replica_wait=-1)
    with pytest.raises(ConfigurationError, match="need read replicas"):
        DataFlow(primary_url, replica_max_lag=3)
    with pytest.raises(ConfigurationError, match="not a postgres URL"):
        DataFlow(primary_url, read_urls=[f"sqlite:///{tmp_path / 'x.db'}"])
    with pytest.raises(ConfigurationError, match="list of URLs"):
        DataFlow(primary_url, read_urls=standby_url)
    with pytest.raises(ConfigurationError, match="'sqlite' backend does not"):
        DataFlow(f"sqlite:///{tmp_path / 'a.db'}", read_url=f"sqlite:///{tmp_path / 'b.db'}")
    db = DataFlow(primary_url, read_url=standby_url, read_policy="least_lag")
    try:
        assert db.read_replicas is not None and db.read_replicas.policy == "least_lag"
        assert "secret" not in repr(db.metrics()["replicas"])
    finally:
        db.close()
