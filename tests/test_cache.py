"""The result cache (dataflow.cache, issue 16): off by default; keys split by database, tenant, model and
query; every write path invalidates, inside transactions only at commit; Redis failures fall back to the
database. The four-process staleness check is tests/test_cache_staleness.py."""

from __future__ import annotations

import socket
import threading

import pytest
import redis
from dataflow import DataFlow
from dataflow.cache import CacheConfig
from dataflow.cache.keys import Uncacheable, canonical, database_ids
from dataflow.errors import ConfigurationError, ValidationError
from dataflow.urls import parse_url
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


def make(url: str, cache, **options) -> DataFlow:
    db = DataFlow(url, cache=cache, **options)

    @db.model
    class User:
        name: str
        age: int = 0

    @db.model
    class UserAudit:
        note: str

    return db


@pytest.fixture(params=["memory", "redis"])
def db(request, tmp_path):
    cache = "memory" if request.param == "memory" else request.getfixturevalue("redis_url")
    db = make(f"sqlite:///{tmp_path / 'c.db'}", cache)
    db.express_sync.bulk_create("User", [{"name": f"u{i}", "age": i} for i in range(5)])
    yield db
    db.close()


def hits(db) -> int:
    return db.cache.stats().get("hit", 0)


def ages(db, **kw) -> list[int]:
    return [r["age"] for r in db.express_sync.list("User", order_by=["id"], **kw)]


# --- configuration --------------------------------------------------------------------------------------------------


def test_off_by_default_and_the_switches_are_accepted(tmp_path):
    db = make(f"sqlite:///{tmp_path / 'a.db'}", None)
    assert not db.cache.enabled
    db.express_sync.create("User", {"name": "a"})
    assert db.express_sync.list("User", enable_cache=True, cache_ttl=5)[0]["name"] == "a"
    wf = WorkflowBuilder()
    wf.add_node("UserListNode", "l", {"enable_cache": True, "cache_ttl": 10})
    with LocalRuntime() as rt:
        assert rt.execute(wf.build())[0]["l"]["count"] == 1
    assert db.cache.stats() == {}
    db.cache.invalidate_model("User")  # a no-op, not an error
    db.close()


def test_bad_settings_are_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with pytest.raises(ConfigurationError, match="memory' or a redis://"):
        DataFlow(url, cache="memcached://x")
    with pytest.raises(ConfigurationError, match="unknown cache setting"):
        DataFlow(url, cache={"store": "memory", "size": 3})
    with pytest.raises(ConfigurationError) as info:
        DataFlow(url, cache="redis://:hunter2@127.0.0.1:1/0", cache_enabled="yes")
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(CacheConfig("redis://:hunter2@127.0.0.1:1/0"))
    db = make(url, "memory")
    with pytest.raises(ValidationError, match="cache_ttl must be seconds"):
        db.express_sync.list("User", cache_ttl=-1)
    with pytest.raises(ValidationError, match="enable_cache must be True or False"):
        db.express_sync.count("User", enable_cache="yes")
    db.close()


# --- hits and misses --------------------------------------------------------------------------------------------------


def test_reads_hit_and_results_are_private_copies(db):
    e = db.express_sync
    first = e.list("User", order_by=["id"])
    first[0]["name"] = "changed by the caller"
    again = e.list("User", order_by=["id"])
    assert again[0]["name"] == "u0" and hits(db) == 1
    assert e.read("User", 1)["name"] == "u0" and e.read("User", 1)["name"] == "u0"
    assert e.count("User", {"age": {"$gte": 2}}) == 3 == e.count("User", {"age": {"$gte": 2}})
    assert hits(db) == 3
    e.list("User", order_by=["id"], enable_cache=False)
    e.list("User", order_by=["id"], cache_ttl=0)
    assert hits(db) == 3


def test_default_off_config_caches_only_calls_that_ask(tmp_path):
    db = make(f"sqlite:///{tmp_path / 'o.db'}", CacheConfig("memory", default_on=False))
    db.express_sync.create("User", {"name": "a"})
    db.express_sync.list("User")
    db.express_sync.list("User")
    assert hits(db) == 0
    db.express_sync.list("User", enable_cache=True)
    db.express_sync.list("User", enable_cache=True)
    assert hits(db) == 1
    db.close()


WRITES = {
    "create": lambda e: e.create("User", {"name": "new", "age": 100}),
    "update": lambda e: e.update("User", 1, {"age": 100}),
    "delete": lambda e: e.delete("User", 1),
    "upsert": lambda e: e.upsert("User", {"id": 2, "name": "u1", "age": 100}),
    "bulk_create": lambda e: e.bulk_create("User", [{"name": "x", "age": 100}]),
    "bulk_update": lambda e: e.bulk_update("User", filter={"age": {"$lt": 2}}, fields={"age": 100}),
    "bulk_delete": lambda e: e.bulk_delete("User", filter={"age": 0}),
    "bulk_upsert": lambda e: e.bulk_upsert("User", [{"id": 3, "name": "u2", "age": 100}]),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_every_write_invalidates(db, write):
    before = ages(db)
    assert ages(db) == before and db.express_sync.count("User") == db.express_sync.count("User")
    WRITES[write](db.express_sync)
    after = ages(db)
    assert after != before
    assert after == ages(db, enable_cache=False)


def test_node_writes_invalidate_node_reads(db):
    def run(node, params, node_id="n"):
        wf = WorkflowBuilder()
        wf.add_node(node, node_id, params)
        with LocalRuntime() as rt:
            return rt.execute(wf.build())[0][node_id]

    assert run("UserReadNode", {"id": 2})["age"] == 1
    assert run("UserReadNode", {"id": 2, "cache_ttl": 30})["age"] == 1
    run("UserBulkUpdateNode", {"filter": {"id": 2}, "fields": {"age": 7}})
    assert run("UserReadNode", {"id": 2})["age"] == 7
    assert run("UserListNode", {"filter": {"age": 7}})["count"] == 1
    run("UserUpsertNode", {"where": {"id": 2}, "update": {"age": 8}, "create": {"name": "z"}})
    assert run("UserListNode", {"filter": {"age": 7}})["count"] == 0
    assert run("UserCountNode", {"filter": {"age": 8}})["count"] == 1


def test_transactions_invalidate_at_commit_never_on_rollback(db):
    e = db.express_sync
    assert ages(db)[0] == 0
    with pytest.raises(RuntimeError):
        with db.transaction_sync():
            e.update("User", 1, {"age": 50})
            assert ages(db)[0] == 50  # inside: the transaction's own view, never the cache
            raise RuntimeError
    invalidations = db.cache.stats().get("invalidate", 0)
    before = hits(db)
    assert ages(db)[0] == 0 and hits(db) == before + 1, "a rollback must not invalidate (nor be visible)"
    assert db.cache.stats().get("invalidate", 0) == invalidations
    with db.transaction_sync():
        e.update("User", 1, {"age": 60})
        with pytest.raises(RuntimeError):
            with db.transaction_sync():  # a savepoint rolled back: its write is forgotten
                e.update("User", 2, {"age": 61})
                raise RuntimeError
        assert db.cache.stats().get("invalidate", 0) == invalidations, "nothing before commit"
    assert ages(db)[:2] == [60, 1]


def test_workflow_transaction_rollback_and_commit(db):
    def chain(*steps):
        wf = WorkflowBuilder()
        previous = None
        for node_id, node_type, params in steps:
            wf.add_node(node_type, node_id, params)
            if previous is not None:
                wf.add_connection(previous, "result" if previous != "tx" else "status", node_id, "_after")
            previous = node_id
        return wf.build()

    assert ages(db)[0] == 0
    with LocalRuntime() as rt:
        rt.execute(chain(("tx", "TransactionScopeNode", {}), ("u", "UserUpdateNode", {"id": 1, "age": 70}),
                         ("rb", "TransactionRollbackNode", {"reason": "test"})))
    assert ages(db)[0] == 0
    with LocalRuntime() as rt:
        rt.execute(chain(("tx", "TransactionScopeNode", {}), ("u", "UserUpdateNode", {"id": 1, "age": 71}),
                         ("c", "TransactionCommitNode", {})))
    assert ages(db)[0] == 71


def test_invalidate_model_touches_only_that_model(db):
    e = db.express_sync
    e.create("UserAudit", {"note": "n"})
    e.list("UserAudit")
    e.list("User")
    db.cache.invalidate_model("User")
    before = hits(db)
    e.list("UserAudit")
    assert hits(db) == before + 1, "UserAudit's entry survives invalidate_model('User')"
    e.list("User")
    assert hits(db) == before + 1, "User's entry is gone"


def test_migrations_invalidate(db):
    db.express_sync.list("User")
    db.migrate(apply=True)
    before = hits(db)
    db.express_sync.list("User")
    assert hits(db) == before


# --- keys -------------------------------------------------------------------------------------------------------------


def test_tenants_never_share_results(tmp_path, redis_url):
    db = DataFlow(f"sqlite:///{tmp_path / 't.db'}", cache=redis_url, multi_tenant=True)

    @db.model
    class Note:
        body: str

    for tenant in ("a", "b"):
        with db.tenant(tenant):
            db.express_sync.create("Note", {"body": f"of {tenant}"})
    for _ in range(2):
        for tenant in ("a", "b"):
            with db.tenant(tenant):
                assert [n["body"] for n in db.express_sync.list("Note")] == [f"of {tenant}"]
                assert db.express_sync.read("Note", 1 if tenant == "a" else 2)["body"] == f"of {tenant}"
                assert db.express_sync.read("Note", 2 if tenant == "a" else 1) is None
    assert hits(db) == 4  # list and read of its own row; "not found" raises, and errors are not cached
    db.close()


def test_databases_never_share_results_but_share_versions(tmp_path, redis_url):
    one = make(f"sqlite:///{tmp_path / '1.db'}", redis_url)
    two = make(f"sqlite:///{tmp_path / '2.db'}", redis_url, namespace="two")
    same = make(f"sqlite:///{tmp_path / '1.db'}", redis_url, namespace="other")  # another instance, same file
    try:
        one.express_sync.create("User", {"name": "in one"})
        two.express_sync.create("User", {"name": "in two"})
        assert [u["name"] for u in one.express_sync.list("User")] == ["in one"]
        assert [u["name"] for u in two.express_sync.list("User")] == ["in two"]
        assert [u["name"] for u in same.express_sync.list("User")] == ["in one"]
        same.express_sync.update("User", 1, {"name": "renamed"})
        assert [u["name"] for u in one.express_sync.list("User")] == ["renamed"], "one bump serves every instance"
    finally:
        for db in (one, two, same):
            db.close()


def test_keys_are_typed_and_hold_no_secrets():
    assert len({repr(canonical(v)) for v in (1, 1.0, True, "1", [1], (1,), {"a": 1})}) == 7
    with pytest.raises(Uncacheable):
        canonical({"a": object()})
    coarse, fine = database_ids(parse_url("postgresql://app:s3cret@DB.example:5432/shop?sslpassword=x2&opt=1"), None)
    assert "s3cret" not in coarse + fine and "x2" not in fine
    assert coarse == "postgresql://db.example:5432/shop" and "app" in fine and "opt" in fine
    assert database_ids(parse_url(":memory:"), None) != database_ids(parse_url(":memory:"), None)


def test_redis_keys_are_opaque_and_a_lost_version_never_revives_old_entries(tmp_path, redis_url):
    db = make(f"sqlite:///{tmp_path / 'k.db'}", redis_url)
    client = redis.Redis.from_url(redis_url)
    try:
        db.express_sync.create("User", {"name": "old"})
        db.express_sync.list("User")
        keys = [k.decode() for k in client.keys("*")]
        assert all("k.db" not in k and "old" not in k for k in keys), keys
        version_key = next(k for k in keys if ":ver:" in k)
        client.delete(version_key)  # evicted, say; the entry under the old version is still there
        db.express_sync.list("User")
        assert hits(db) == 0
    finally:
        client.close()
        db.close()


# --- failing open -----------------------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Silent:
    """A TCP server that accepts and never answers: a Redis that is too slow."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(50)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.mark.parametrize("server", ["down", "silent"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_redis_down_or_silent_means_database_reads(request, backend, server):
    silent = Silent() if server == "silent" else None
    port = silent.port if silent else closed_port()
    config = CacheConfig(f"redis://127.0.0.1:{port}/0", timeout=0.05, retry_after=0.01)
    db = make(request.getfixturevalue(f"url_{backend}"), config)
    try:
        e = db.express_sync
        e.create("User", {"name": "a", "age": 1})
        for age in (2, 3):
            assert e.read("User", 1)["age"] == age - 1
            e.update("User", 1, {"age": age})
            assert [u["age"] for u in e.list("User")] == [age]
        stats = db.cache.stats()
        kind = "error_timeout" if silent else "error_connection"
        assert stats.get(kind, 0) >= 1 and stats.get("hit", 0) == 0, stats
        assert db.metrics()["cache"] == db.cache.stats()
    finally:
        db.close()
        if silent:
            silent.close()


def test_postgres_with_redis_across_instances(url_postgres, redis_url):
    one, two = make(url_postgres, redis_url), make(url_postgres, redis_url, namespace="two")
    try:
        one.express_sync.create("User", {"name": "a"})
        assert two.express_sync.read("User", 1)["name"] == "a"
        assert two.express_sync.read("User", 1)["name"] == "a"
        one.express_sync.update("User", 1, {"name": "b"})
        assert two.express_sync.read("User", 1)["name"] == "b"
        assert hits(two) == 1
    finally:
        one.close()
        two.close()


def test_a_failed_commit_still_invalidates_but_publishes_nothing():
    """A COMMIT that fails may have reached the server: cache bumps run anyway, other callbacks do not."""
    import asyncio

    from dataflow.cache.core import _Bump
    from dataflow.transactions import TransactionHandle

    class Lost(TransactionHandle):
        async def _commit(self) -> None:
            raise ConnectionError("connection lost during COMMIT")

    class Cache:
        bumped: list = []

        async def _bump(self, keys):
            self.bumped.append(keys)

    handle, cache, published = Lost(), Cache(), []
    handle.after_commit(lambda: published.append("event"))
    handle.after_commit(_Bump(cache, ["dataflow:ver:x:users"]))
    with pytest.raises(ConnectionError):
        asyncio.run(handle.commit())
    assert cache.bumped == [["dataflow:ver:x:users"]] and published == []
