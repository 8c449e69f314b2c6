"""Domain events: ``dataflow.{Model}.{action}`` on ``db.event_bus``, after commit, once per call.

Run on SQLite and PostgreSQL (two transaction implementations); the payloads, the
after-commit timing and the rollbacks must be the same on both.
"""

from __future__ import annotations

import pytest
from dataflow import DataFlow, DuplicateKeyError
from dataflow.events import EventBus
from kailash.events import DomainEvent
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


@pytest.fixture(params=["sqlite", "postgres"])
def db(request):
    url = request.getfixturevalue(f"url_{request.param}")
    with DataFlow(url, namespace="ev") as db:

        @db.model
        class Account:
            name: str
            balance: int = 0
            __dataflow__ = {"indexes": [{"fields": ["name"], "unique": True}]}

        @db.model
        class Memo:
            text: str
            __dataflow__ = {"multi_tenant": True}

        yield db


def record(db: DataFlow, pattern: str = "dataflow.*") -> list[DomainEvent]:
    seen: list[DomainEvent] = []
    db.event_bus.subscribe(pattern, seen.append)
    return seen


def test_no_bus_until_someone_asks(db):
    db.express_sync.create("Account", {"name": "a"})
    assert db._event_bus is None, "writes must not build an event bus nobody asked for"


def test_each_write_action_publishes_one_event_with_keys(db):
    seen = record(db)
    x = db.express_sync
    created = x.create("Account", {"name": "a"})
    x.update("Account", created["id"], {"balance": 5})
    x.upsert("Account", {"name": "b", "balance": 1}, conflict_on=["name"])
    bulk = x.bulk_create("Account", [{"name": "c"}, {"name": "d"}], return_ids=True)
    x.bulk_update("Account", filter={"name": {"$in": ["c", "d"]}}, fields={"balance": 9})
    x.bulk_upsert("Account", [{"id": created["id"], "name": "a", "balance": 7}])
    x.bulk_delete("Account", bulk["ids"])
    x.delete("Account", created["id"])
    x.list("Account")  # reads publish nothing
    assert [e.event_type for e in seen] == [f"dataflow.Account.{a}" for a in (
        "create", "update", "upsert", "bulk_create", "bulk_update", "bulk_upsert", "bulk_delete", "delete")]
    by_action = {e.payload["action"]: e.payload for e in seen}
    assert by_action["create"] == {"model": "Account", "action": "create", "tenant_id": None, "id": created["id"]}
    assert by_action["update"]["id"] == created["id"]
    assert by_action["upsert"]["created"] is True and isinstance(by_action["upsert"]["id"], int)
    assert by_action["bulk_create"] == {"model": "Account", "action": "bulk_create", "tenant_id": None, "count": 2,
                                        "ids": bulk["ids"]}
    assert by_action["bulk_update"]["count"] == 2 and by_action["bulk_update"]["filter"] == {
        "name": {"$in": ["c", "d"]}
    }
    assert "ids" not in by_action["bulk_update"], "a filter-based bulk call names no keys it would have to query for"
    assert by_action["bulk_upsert"]["ids"] == [created["id"]]
    assert by_action["bulk_delete"] == {"model": "Account", "action": "bulk_delete", "tenant_id": None, "count": 2,
                                        "ids": bulk["ids"]}
    assert by_action["delete"]["id"] == created["id"]


def test_a_failed_write_publishes_nothing(db):
    seen = record(db)
    db.express_sync.create("Account", {"name": "a"})
    with pytest.raises(DuplicateKeyError):
        db.express_sync.create("Account", {"name": "a"})
    with pytest.raises(DuplicateKeyError):
        db.express_sync.bulk_create("Account", [{"name": "z"}, {"name": "a"}])
    assert [e.payload["action"] for e in seen] == ["create"]


def test_events_wait_for_the_commit_and_vanish_on_rollback(db):
    seen = record(db)
    with db.transaction_sync():
        db.express_sync.create("Account", {"name": "kept"})
        assert seen == [], "published before the commit"
    assert [e.payload["action"] for e in seen] == ["create"]
    with pytest.raises(RuntimeError), db.transaction_sync():
        db.express_sync.create("Account", {"name": "lost"})
        db.express_sync.bulk_create("Account", [{"name": "lost2"}])
        raise RuntimeError("roll back")
    assert len(seen) == 1 and db.express_sync.count("Account") == 1


def test_a_rollback_to_an_earlier_savepoint_drops_only_later_events(db):
    seen = record(db)

    async def scenario():
        async with db.transaction():
            await db.express.create("Account", {"name": "outer"})
            try:
                async with db.transaction():  # a savepoint
                    await db.express.create("Account", {"name": "inner"})
                    raise RuntimeError("undo the savepoint")
            except RuntimeError:
                pass
            assert seen == []

    db._runner.run(scenario())
    assert [e.payload["id"] for e in seen] == [db.express_sync.find_one("Account", {"name": "outer"})["id"]]


def test_a_workflow_transaction_publishes_at_its_commit(db):
    seen = record(db)
    workflow = WorkflowBuilder()
    workflow.add_node("TransactionScopeNode", "tx", {})
    workflow.add_node("ev.AccountCreateNode", "create", {"name": "wf"})
    workflow.add_node("TransactionCommitNode", "commit", {})
    workflow.add_connection("tx", "status", "create", "_after")
    workflow.add_connection("create", "result", "commit", "_after")
    with LocalRuntime() as runtime:
        runtime.execute(workflow.build())
    assert [(e.event_type, e.payload["id"]) for e in seen] == [
        ("dataflow.Account.create", db.express_sync.find_one("Account", {"name": "wf"})["id"])]


def test_events_carry_the_tenant(db):
    seen = record(db, "dataflow.Memo.*")
    with db.tenant("acme"):
        db.express_sync.create("Memo", {"text": "hi"})
        db.express_sync.bulk_create("Memo", [{"text": "a"}, {"text": "b"}])
    assert [(e.payload["action"], e.payload["tenant_id"]) for e in seen] == [
        ("create", "acme"),
        ("bulk_create", "acme"),
    ]


def test_exact_and_pattern_subscriptions_and_unsubscribe(db):
    exact, everything = [], []
    sub = db.event_bus.subscribe("dataflow.Account.create", exact.append)
    db.event_bus.subscribe("*", everything.append)
    db.express_sync.create("Account", {"name": "a"})
    db.event_bus.unsubscribe(sub)
    db.express_sync.create("Account", {"name": "b"})
    assert len(exact) == 1 and len(everything) == 2
    with pytest.raises(KeyError):
        db.event_bus.unsubscribe(sub)


def test_a_failing_handler_neither_fails_the_write_nor_starves_the_others(db, caplog):
    seen = []

    def broken(event):
        raise ValueError("handler bug")

    db.event_bus.subscribe("dataflow.Account.create", broken)
    db.event_bus.subscribe("dataflow.Account.create", seen.append)
    row = db.express_sync.create("Account", {"name": "a"})
    assert row["name"] == "a" and len(seen) == 1
    assert "a handler of dataflow.Account.create failed" in caplog.text


def test_the_bus_follows_the_contract_nexus_subscribes_through():
    bus = EventBus()
    got = []
    sub = bus.subscribe("dataflow.User.create", got.append)
    assert isinstance(sub, str) and bus.wants("dataflow.User.create") and not bus.wants("dataflow.User.delete")
    bus.publish(DomainEvent(event_type="dataflow.User.create", payload={"id": 1}))
    assert got[0].payload == {"id": 1}
    with pytest.raises(ValueError):
        bus.subscribe("", got.append)
