# Over 400 lines: one backend's specifics, one file: split by topic when it grows again.
"""MongoDB-specific behaviour on a real server: URLs, connections, storage layout, ids, indexes, transactions."""

import asyncio
import datetime as dt
import time
from decimal import Decimal
from typing import Any

import pymongo
import pytest
from bson import Decimal128
from dataflow import DataFlow
from dataflow.errors import (
    ConfigurationError,
    ConnectionFailedError,
    DuplicateKeyError,
    FieldTypeError,
    SchemaError,
    ValidationError,
)
from dataflow.query import evaluate, parse_filter
from dataflow.transactions import TransactionError

UTC = dt.timezone.utc


def member_model(db):
    @db.model
    class Member:
        email: str | None = None
        name: str = ""
        score: float = 0.0
        __dataflow__ = {"indexes": [{"name": "ux_member_email", "fields": ["email"], "unique": True}]}

    return Member


@pytest.fixture
def open_db(fresh_database):
    """``open_db(**options)`` → a DataFlow on a fresh database, closed after the test whatever happens."""
    made = []

    def make(url: str | None = None, **options):
        db = DataFlow(url or fresh_database, **options)
        made.append(db)
        return db

    yield make
    for db in made:
        db.close()


@pytest.fixture
def raw(mongo_server):
    client = pymongo.MongoClient(mongo_server.url)
    yield client
    client.close()


# --- URLs and connections -----------------------------------------------------------------------------------


def test_url_without_database_is_refused_at_construction():
    with pytest.raises(ConfigurationError, match="names no database"):
        DataFlow("mongodb://user:S3cret@127.0.0.1:27017/")
    with pytest.raises(ConfigurationError) as info:
        DataFlow("mongodb://user:S3cret@127.0.0.1:27017")
    assert "S3cret" not in str(info.value)


def test_srv_url_and_unsupported_driver():
    db = DataFlow("mongodb+srv://app:Pa$$w0rd@cluster0.example.net/shop?retryWrites=true&w=majority")
    try:
        assert db.backend.name == "mongo" and db.backend.database == "shop"
        assert db.backend.target == "mongodb+srv://cluster0.example.net/shop"
        assert db.backend._uri() == "mongodb+srv://cluster0.example.net/shop?retryWrites=true&w=majority"
        assert "Pa$$w0rd" not in repr(db) and "Pa$$w0rd" not in db.backend._uri()
    finally:
        db.close()
    with pytest.raises(ConfigurationError, match="mongodb\\+motor"):
        DataFlow("mongodb+motor://127.0.0.1/app")
    with pytest.raises(ConfigurationError, match="invalid MongoDB database name"):
        DataFlow("mongodb://127.0.0.1/bad.name")


def test_multi_host_url_is_kept():
    db = DataFlow("mongodb://a.example:27017,b.example:27018/app?replicaSet=rs0")
    try:
        assert db.backend._uri() == "mongodb://a.example:27017,b.example:27018/app?replicaSet=rs0"
    finally:
        db.close()


def test_connection_failure_is_clear_bounded_and_masked():
    db = DataFlow("mongodb://admin:Sup3r#Secret@127.0.0.1:1/app", connect_timeout=2)
    member_model(db)
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as info:
        db.express_sync.count("Member")
    assert time.monotonic() - started < 8
    assert "cannot connect" in str(info.value) and "Sup3r" not in str(info.value)
    db.close()


def test_one_client_per_event_loop(fresh_database, open_db):
    db = open_db()
    member_model(db)

    async def count() -> int:
        return await db.express.count("Member")

    db.express_sync.count("Member")
    asyncio.run(count())
    asyncio.run(count())
    clients = {id(conn.client) for conn in db.backend._conns.values()}
    assert len(clients) >= 1
    assert db.express_sync.count("Member") == 0  # the thread's loop keeps its client
    db.close()
    assert not db.backend._conns


# --- storage layout -----------------------------------------------------------------------------------------------


def test_documents_as_stored(fresh_database, raw, open_db):
    db = open_db()

    @db.model
    class Item:
        name: str
        at: dt.datetime | None = None
        day: dt.date | None = None
        price: Decimal | None = None
        blob: bytes | None = None
        meta: dict | None = None
        note: str | None = None

    row = db.express_sync.create("Item", {"name": "x", "at": dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
                                          "day": dt.date(2024, 2, 29), "price": Decimal("1.10"), "blob": b"\x00\xff",
                                          "meta": {"k": [1, {"z": None}]}})
    doc = raw[db.backend.database]["items"].find_one({"_id": row["id"]})
    assert doc["_id"] == 1 and "id" not in doc
    assert doc["at"] == "2024-01-02T03:04:05.000006+00:00"
    assert doc["day"] == "2024-02-29"
    assert doc["price"] == Decimal128("1.10")
    assert doc["blob"] == "00ff"
    assert doc["meta"] == {"k": [1, {"z": None}]}
    assert "note" not in doc, "null fields are left out"
    assert db.express_sync.read("Item", 1) == row
    db.express_sync.update("Item", 1, {"price": None})
    assert "price" not in raw[db.backend.database]["items"].find_one({"_id": 1})
    db.close()


def test_int_ids_come_from_an_atomic_counter(fresh_database, raw, open_db):
    db = open_db()
    member_model(db)
    x = db.express_sync
    assert [x.create("Member", {"name": f"m{i}"})["id"] for i in range(3)] == [1, 2, 3]
    assert x.create("Member", {"id": 100, "name": "given"})["id"] == 100
    assert x.create("Member", {"name": "after"})["id"] == 101
    out = x.bulk_create("Member", [{"name": f"b{i}"} for i in range(3)], return_ids=True)
    assert out["ids"] == [102, 103, 104]
    assert raw[db.backend.database]["dataflow_counters"].find_one({"_id": "members"})["seq"] == 104
    db.close()


def test_counter_starts_past_existing_documents(fresh_database, raw, open_db):
    raw_db = raw[fresh_database.rsplit("/", 1)[1]]
    raw_db["members"].insert_many([{"_id": 7, "name": "old"}, {"_id": "not-a-number", "name": "odd"}])
    db = open_db()
    member_model(db)
    assert db.express_sync.create("Member", {"name": "new"})["id"] == 8
    db.close()


def test_concurrent_creates_get_distinct_ids(fresh_database, open_db):
    db = open_db()
    member_model(db)

    async def main() -> list[int]:
        rows = await asyncio.gather(*(db.express.create("Member", {"name": f"c{i}"}) for i in range(30)))
        return [r["id"] for r in rows]

    ids = asyncio.run(main())
    assert sorted(ids) == list(range(1, 31))
    db.close()


# --- indexes and schema -------------------------------------------------------------------------------------------


def test_unique_index_ignores_nulls_like_sql(fresh_database, raw, open_db):
    db = open_db()
    member_model(db)
    x = db.express_sync
    x.create("Member", {"name": "a"})
    x.create("Member", {"name": "b"})  # two records without email: allowed, as in SQL
    x.create("Member", {"email": "e@x", "name": "c"})
    with pytest.raises(DuplicateKeyError) as info:
        x.create("Member", {"email": "e@x", "name": "d"})
    assert "email" in str(info.value) and "e@x" not in str(info.value), "values never appear in errors"
    indexes = raw[db.backend.database]["members"].index_information()
    assert indexes["ux_member_email"]["unique"] is True
    assert "partialFilterExpression" in indexes["ux_member_email"]
    db.close()


def test_existing_schema_mode_checks_collections(fresh_database, open_db):
    db = open_db(existing_schema_mode=True)
    member_model(db)
    with pytest.raises(SchemaError, match="members"):
        db.express_sync.count("Member")
    db.close()
    creator = DataFlow(fresh_database)
    member_model(creator)
    creator.create_tables()
    creator.close()
    db = open_db(existing_schema_mode=True)
    member_model(db)
    assert db.express_sync.count("Member") == 0
    db.close()


def test_conflicting_index_is_a_schema_error(fresh_database, raw, open_db):
    raw[fresh_database.rsplit("/", 1)[1]]["members"].create_index([("name", 1)], name="ux_member_email")
    db = open_db()
    member_model(db)
    with pytest.raises(SchemaError, match="ux_member_email"):
        db.express_sync.count("Member")
    db.close()


# --- values MongoDB cannot hold ----------------------------------------------------------------------------------


def test_values_beyond_bson_are_refused_and_nothing_is_written(fresh_database, open_db):
    db = open_db()

    @db.model
    class Box:
        amount: Decimal | None = None
        meta: dict | None = None

    x = db.express_sync
    with pytest.raises(FieldTypeError, match="34 significant digits"):
        x.create("Box", {"amount": Decimal("1." + "1" * 40)})
    with pytest.raises(FieldTypeError, match="64-bit"):
        x.create("Box", {"meta": {"big": 2**70}})
    with pytest.raises(ValidationError):
        x.bulk_create("Box", [{"meta": {"ok": 1}}, {"meta": {"big": 2**64}}])
    assert x.count("Box") == 0
    db.close()


def test_decimal_operands_longer_than_decimal128_compare_exactly(fresh_database, open_db):
    db = open_db()

    @db.model
    class Box:
        amount: Decimal | None = None

    values = [Decimal("1.000000000000000000000000000000001"), Decimal("1.000000000000000000000000000000002"),
              Decimal("1"), Decimal("2"), None]
    rows = [db.express_sync.create("Box", {"amount": v}) for v in values]
    spec = db.get_model("Box")
    operand = "1.0000000000000000000000000000000015"  # 35 digits: between the first two
    for op in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin"):
        flt = {"amount": {op: [operand, None] if op in ("$in", "$nin") else operand}}
        expr = parse_filter(flt, spec)
        expected = [r["id"] for r in rows if evaluate(expr, r)]
        assert [r["id"] for r in db.express_sync.list("Box", flt)] == expected, flt
    db.close()


# --- transactions -------------------------------------------------------------------------------------------------


def test_transaction_commits_and_rolls_back(fresh_database, open_db):
    db = open_db()
    member_model(db)

    async def main() -> None:
        with pytest.raises(RuntimeError):
            async with db.transaction():
                await db.express.create("Member", {"name": "gone"})
                assert await db.express.count("Member") == 1, "reads inside see the write"
                raise RuntimeError("roll back")
        assert await db.express.count("Member") == 0
        async with db.transaction(isolation_level="repeatable_read"):
            await db.express.bulk_create("Member", [{"name": "a"}, {"name": "b"}])
            await db.express.create("Member", {"name": "c"})
        assert await db.express.count("Member") == 3

    asyncio.run(main())
    with pytest.raises(RuntimeError), db.transaction_sync():
        db.express_sync.create("Member", {"name": "sync-gone"})
        raise RuntimeError("roll back")
    with db.transaction_sync():
        db.express_sync.create("Member", {"name": "sync-kept"})
    assert [r["name"] for r in db.express_sync.list("Member")] == ["a", "b", "c", "sync-kept"]
    db.close()


def test_no_savepoints_a_failed_inner_block_ends_the_whole_transaction(fresh_database, open_db):
    db = open_db()
    member_model(db)

    async def main() -> None:
        with pytest.raises(TransactionError, match="rolled back") as info:
            async with db.transaction():
                await db.express.create("Member", {"name": "outer"})
                with pytest.raises(DuplicateKeyError):
                    async with db.transaction():  # nested: a savepoint elsewhere
                        await db.express.create("Member", {"email": "x@x", "name": "inner"})
                        await db.express.create("Member", {"email": "x@x", "name": "duplicate"})
                with pytest.raises(TransactionError):
                    await db.express.create("Member", {"name": "after"})
        assert "commit" in str(info.value)
        assert await db.express.count("Member") == 0, "nothing of the transaction was kept"
        with pytest.raises(TransactionError, match="snapshot isolation"):
            async with db.transaction(isolation_level="serializable"):
                pass

    asyncio.run(main())
    db.close()


def _chain(*steps):
    """A workflow whose nodes run in the given order (each connected to the previous one)."""
    from kailash.workflow.builder import WorkflowBuilder

    wf = WorkflowBuilder()
    previous = None
    for node_id, node_type, params in steps:
        wf.add_node(node_type, node_id, params)
        if previous is not None:
            wf.add_connection(previous, "result" if previous != "tx" else "status", node_id, "_after")
        previous = node_id
    return wf.build()


def _run(runtime: str, workflow) -> dict:
    from kailash.runtime import AsyncLocalRuntime, LocalRuntime

    if runtime == "local":
        with LocalRuntime() as rt:
            return rt.execute(workflow)[0]
    async def main() -> dict:
        async with AsyncLocalRuntime() as rt:
            return (await rt.execute_workflow_async(workflow, inputs={}))[0]

    return asyncio.run(main())


@pytest.mark.parametrize("runtime", ["local", "async"])
def test_workflow_transaction_nodes_cover_model_and_document_nodes(fresh_database, raw, runtime, open_db):
    db = open_db(namespace="txn")
    member_model(db)
    db.create_tables()
    name = db.backend.database
    steps = [("tx", "TransactionScopeNode", {"dataflow": "txn"}),
             ("m", "txn.MemberCreateNode", {"name": "in-tx"}),
             ("d", "DocumentInsertNode", {"database": "txn", "collection": "audit", "document": {"what": "x"}})]
    _run(runtime, _chain(*steps, ("rb", "TransactionRollbackNode", {"dataflow": "txn"})))
    assert db.express_sync.count("Member") == 0 and raw[name]["audit"].count_documents({}) == 0
    out = _run(runtime, _chain(*steps, ("ok", "TransactionCommitNode", {"dataflow": "txn"})))
    assert out["ok"]["status"] == "committed"
    assert db.express_sync.count("Member") == 1 and raw[name]["audit"].count_documents({}) == 1
    with pytest.raises(Exception) as info:  # a failing document node rolls the whole scope back
        _run(runtime, _chain(*steps, ("bad", "DocumentInsertNode", {"database": "txn", "collection": "audit",
                                                                     "document": {"_id": out["d"]["inserted_id"]}}),
                             ("ok", "TransactionCommitNode", {"dataflow": "txn"})))
    assert "duplicate key" in str(info.value)
    assert db.express_sync.count("Member") == 1 and raw[name]["audit"].count_documents({}) == 1
    db.close()


def test_bulk_update_is_all_or_nothing(fresh_database, open_db):
    db = open_db()
    member_model(db)
    x = db.express_sync
    for i in range(4):
        x.create("Member", {"email": f"{i}@x", "name": f"m{i}", "score": float(i)})
    with pytest.raises(DuplicateKeyError):
        x.bulk_update("Member", filter={"score": {"$gte": 1}}, fields={"email": "same@x"})
    assert [r["email"] for r in x.list("Member")] == ["0@x", "1@x", "2@x", "3@x"]
    db.close()


def test_drop_tables_removes_collections_and_counters(fresh_database, raw, open_db):
    db = open_db()
    member_model(db)
    db.express_sync.create("Member", {"name": "x"})
    db._runner.run(db.backend.drop_tables(list(db.models.values())))
    names = raw[db.backend.database].list_collection_names()
    assert "members" not in names
    assert raw[db.backend.database]["dataflow_counters"].find_one({"_id": "members"}) is None
    db.close()


# --- a server without transactions (standalone, like a bare mongod) ----------------------------------------------


@pytest.fixture(scope="module")
def standalone():
    from dataflow_testing import MongoServer

    with MongoServer(standalone=True) as server:
        yield server


def test_without_transactions_writes_still_work_and_say_so(standalone, open_db):
    from dataflow.conformance.harness import dataflow_error
    from kailash.runtime import LocalRuntime
    from kailash.workflow.builder import WorkflowBuilder

    db = open_db(standalone.database_url("solo"))
    member_model(db)
    with pytest.warns(RuntimeWarning, match="not a replica set"):
        out = db.express_sync.bulk_create("Member", [{"name": f"m{i}"} for i in range(3)])
    assert out["inserted"] == 3 and db.backend.server_transactions is False
    with pytest.raises(DuplicateKeyError, match="records 0-1 were written before it"):
        db.express_sync.bulk_create("Member", [{"name": "x", "email": "a@x"}, {"name": "y", "email": "b@x"},
                                               {"name": "z", "email": "a@x"}])

    def bulk(params: dict) -> Any:
        wf = WorkflowBuilder()
        wf.add_node("BulkDocumentInsertNode", "b", {"database": db, "collection": "docs", **params})
        with LocalRuntime() as rt:
            return rt.execute(wf.build())[0]["b"]

    assert bulk({"documents": [{"_id": 1}]})["atomic"] is False
    with pytest.raises(Exception) as info:
        bulk({"documents": [{"_id": 2}], "atomic": True})
    assert "atomic=True needs transactions" in str(dataflow_error(info.value))
    with pytest.raises(Exception) as info:
        bulk({"documents": [{"_id": 3}, {"_id": 1}, {"_id": 4}]})
    error = dataflow_error(info.value)
    assert isinstance(error, DuplicateKeyError) and error.details["written"] == [0]
    assert "documents at indexes 0 were written" in str(error) and "2 were not attempted" in str(error)
    db.close()


def test_counter_collection_name_is_reserved(fresh_database, open_db):
    from dataflow.errors import ModelError

    db = open_db()
    with pytest.raises(ModelError, match="reserved"):

        @db.model
        class Counter:
            __tablename__ = "dataflow_counters"
            n: int

    db.close()


def test_echo_logs_each_query(fresh_database, caplog, open_db):
    db = open_db(echo=True)
    member_model(db)
    with caplog.at_level("INFO", logger="dataflow.sql"):
        db.express_sync.list("Member", {"name": "x"})
    assert any("mongo find members" in r.getMessage() and "'name': 'x'" in r.getMessage() for r in caplog.records)
    db.close()
