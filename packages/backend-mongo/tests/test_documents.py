"""The eight document nodes under LocalRuntime and AsyncLocalRuntime, on a real MongoDB-wire server."""

import asyncio
import datetime as dt
import gc
import uuid
from decimal import Decimal

import dataflow_mongo
import pymongo
import pytest
from bson import Code, Decimal128, ObjectId
from dataflow import DataFlow
from dataflow.conformance.harness import dataflow_error
from dataflow.errors import DatabaseError, DataFlowError, DuplicateKeyError, FilterError, ValidationError
from dataflow.nodes.base import NodeFailure
from dataflow_mongo import targets
from kailash.nodes.base import NodeRegistry
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

UTC = dt.timezone.utc


def run(runtime: str, *nodes: tuple[str | type, str, dict], connections: tuple = ()) -> dict:
    wf = WorkflowBuilder()
    for node_type, node_id, params in nodes:
        wf.add_node(node_type, node_id, params)
    for connection in connections:
        wf.add_connection(*connection)
    built = wf.build()
    if runtime == "local":
        with LocalRuntime() as rt:
            return rt.execute(built)[0]

    async def main() -> dict:
        async with AsyncLocalRuntime() as rt:
            results, _ = await rt.execute_workflow_async(built, inputs={})
        return results

    return asyncio.run(main())


def fails(runtime: str, *nodes: tuple[str | type, str, dict]) -> DataFlowError:
    with pytest.raises(Exception) as info:
        run(runtime, *nodes)
    error = dataflow_error(info.value)
    assert error is not None, f"expected a DataFlow error, got {info.value!r}"
    return error


@pytest.fixture(params=["local", "async"])
def runtime(request) -> str:
    return request.param


@pytest.fixture
def mongo(fresh_database):
    """A live Mongo DataFlow; ``database`` is its database name (what nodes pass to pick it)."""
    db = DataFlow(fresh_database)
    yield db
    db.close()


@pytest.fixture
def raw(mongo_server, mongo):
    client = pymongo.MongoClient(mongo_server.url, tz_aware=True)
    yield client[mongo.backend.database]
    client.close()


def test_eight_nodes_are_registered(mongo):
    for name in dataflow_mongo.NODE_NAMES:
        cls = NodeRegistry.get(name)
        params = cls().get_parameters()
        assert "collection" in params and "database" in params
    find = NodeRegistry.get("DocumentFindNode")().get_parameters()
    assert {"filter", "projection", "sort", "limit", "skip"} <= set(find)
    index = NodeRegistry.get("CreateIndexNode")().get_parameters()
    assert {"keys", "unique", "sparse", "name", "expire_after_seconds"} <= set(index)


def test_insert_find_count(mongo, runtime):
    db = mongo.backend.database
    out = run(
        runtime,
        (
            "DocumentInsertNode",
            "a",
            {
                "database": db,
                "collection": "people",
                "document": {
                    "name": "Ann",
                    "age": 31,
                    "tags": ["x"],
                    "joined": dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
                },
            },
        ),
        (
            "DocumentInsertNode",
            "b",
            {
                "database": db,
                "collection": "people",
                "document": {"_id": "bob", "name": "Bob", "age": 25, "pay": Decimal("10.50")},
            },
        ),
    )
    assert isinstance(out["a"]["inserted_id"], ObjectId) and out["b"]["inserted_id"] == "bob"
    assert out["a"]["result"] == {"inserted_id": out["a"]["inserted_id"], "success": True}
    found = run(runtime,
                ("DocumentFindNode", "f", {"database": db, "collection": "people", "filter": {"age": {"$gte": 20}},
                                           "projection": {"name": 1, "pay": 1, "joined": 1}, "sort": ["-age"],
                                           "limit": 5}),
                ("DocumentFindNode", "page", {"database": db, "collection": "people", "sort": {"age": 1}, "skip": 1}),
                ("DocumentCountNode", "c", {"database": db, "collection": "people", "filter": {"tags": "x"}}))
    docs = found["f"]["documents"]
    assert [d["name"] for d in docs] == ["Ann", "Bob"] and found["f"]["count"] == 2
    assert docs[0]["joined"] == dt.datetime(2024, 1, 2, 3, 4, 5, 6000, tzinfo=UTC), "BSON dates: ms, aware UTC"
    assert docs[1]["pay"] == Decimal("10.50") and type(docs[1]["pay"]) is Decimal
    assert [d["name"] for d in found["page"]["documents"]] == ["Ann"]
    assert found["c"]["count"] == 1


def test_update_operators_upsert_multi_and_delete(mongo, raw, runtime):
    db = mongo.backend.database
    raw["stock"].insert_many([{"_id": i, "sku": f"s{i}", "qty": i, "tags": ["a"]} for i in range(4)])
    out = run(runtime,
              ("DocumentUpdateNode", "one", {"database": db, "collection": "stock", "filter": {"qty": {"$gte": 1}},
                                             "update": {"$inc": {"qty": 10}, "$push": {"tags": "first"}}}))
    out |= run(runtime,
              ("DocumentUpdateNode", "all", {"database": db, "collection": "stock", "filter": {}, "multi": True,
                                             "update": {"$addToSet": {"tags": {"$each": ["a", "b"]}},
                                                        "$set": {"seen": True}, "$unset": {"nothing": ""}}}))
    out |= run(runtime, ("DocumentUpdateNode", "up", {"database": db, "collection": "stock", "filter": {"sku": "new"},
                                            "update": {"$set": {"qty": 1}}, "upsert": True}))
    assert (out["one"]["matched_count"], out["one"]["modified_count"]) == (1, 1)
    assert out["all"]["matched_count"] == 4
    assert out["up"]["upserted_id"] is not None and out["up"]["matched_count"] == 0
    assert raw["stock"].find_one({"_id": 1}) == {"_id": 1, "sku": "s1", "qty": 11, "tags": ["a", "first", "b"],
                                                 "seen": True}
    out = run(runtime,
              ("DocumentUpdateNode", "pull", {"database": db, "collection": "stock", "filter": {"_id": 1},
                                              "update": {"$pull": {"tags": {"$in": ["first"]}}}}),
              ("DocumentDeleteNode", "del1", {"database": db, "collection": "stock", "filter": {"qty": {"$lt": 3}}}))
    assert out["pull"]["modified_count"] == 1 and out["del1"]["deleted_count"] == 1
    out = run(runtime, ("DocumentDeleteNode", "many", {"database": db, "collection": "stock",
                                                       "filter": {"seen": True}, "multi": True}))
    assert out["many"]["deleted_count"] >= 2
    assert raw["stock"].count_documents({"seen": True}) == 0


def test_aggregate(mongo, raw, runtime):
    db = mongo.backend.database
    raw["orders"].insert_many([{"cust": c, "total": Decimal128(v)} for c, v in
                               [("a", "1.10"), ("a", "2.20"), ("b", "5.00")]])
    raw["customers"].insert_many([{"_id": "a", "name": "Ann"}, {"_id": "b", "name": "Bob"}])
    out = run(runtime, ("MongoAggregateNode", "agg", {
        "database": db, "collection": "orders", "allow_disk_use": True,
        "pipeline": [{"$match": {"total": {"$gt": Decimal("1")}}},
                     {"$group": {"_id": "$cust", "sum": {"$sum": "$total"}, "n": {"$sum": 1}}},
                     {"$lookup": {"from": "customers", "localField": "_id", "foreignField": "_id", "as": "who"}},
                     {"$sort": {"_id": 1}}]}))
    docs = out["agg"]["documents"]
    assert [(d["_id"], d["sum"], d["n"], d["who"][0]["name"]) for d in docs] == [
        ("a", Decimal("3.30"), 2, "Ann"), ("b", Decimal("5.00"), 1, "Bob")]


def test_create_index_unique_sparse_ttl(mongo, raw, runtime):
    db = mongo.backend.database
    out = run(
        runtime,
        (
            "CreateIndexNode",
            "u",
            {"database": db, "collection": "users", "keys": "email", "unique": True, "name": "ux_email"},
        ),
        ("CreateIndexNode", "s", {"database": db, "collection": "users", "keys": [("nick", "asc")], "sparse": True}),
        ("CreateIndexNode", "c", {"database": db, "collection": "users", "keys": {"last": 1, "first": -1}}),
        (
            "CreateIndexNode",
            "t",
            {"database": db, "collection": "sessions", "keys": ["seen"], "expire_after_seconds": 3600},
        ),
    )
    assert out["u"]["index_name"] == "ux_email" and out["c"]["index_name"] == "last_1_first_-1"
    info = raw["users"].index_information()
    assert info["ux_email"]["unique"] is True and info["nick_1"]["sparse"] is True
    assert raw["sessions"].index_information()["seen_1"]["expireAfterSeconds"] == 3600
    run(runtime, ("DocumentInsertNode", "i", {"database": db, "collection": "users", "document": {"email": "a@x"}}))
    error = fails(runtime, ("DocumentInsertNode", "i", {"database": db, "collection": "users",
                                                         "document": {"email": "a@x"}}))
    assert isinstance(error, DuplicateKeyError) and "a@x" not in str(error)


def test_bulk_insert_is_all_or_nothing(mongo, raw, runtime):
    db = mongo.backend.database
    raw["items"].insert_one({"_id": 3})
    docs = [{"_id": 1}, {"_id": 2}, {"_id": 3}, {"_id": 4}]
    error = fails(runtime, ("BulkDocumentInsertNode", "b", {"database": db, "collection": "items", "documents": docs}))
    assert isinstance(error, DuplicateKeyError)
    assert "index 2" in str(error) and "nothing was written" in str(error)
    assert error.details["written"] == [] and error.details["atomic"] is True
    assert raw["items"].count_documents({}) == 1
    out = run(runtime, ("BulkDocumentInsertNode", "b", {"database": db, "collection": "items",
                                                        "documents": [{"n": i} for i in range(5)], "ordered": False}))
    assert out["b"]["inserted_count"] == 5 and out["b"]["atomic"] is True
    assert [d["n"] for d in raw["items"].find({"_id": {"$in": out["b"]["inserted_ids"]}}).sort("n")] == list(range(5))


@pytest.mark.parametrize("ordered,written", [(True, [0, 1]), (False, [0, 1, 3])], ids=["ordered", "unordered"])
def test_bulk_insert_without_transaction_says_what_was_written(mongo, raw, ordered, written):
    db = mongo.backend.database
    raw["items"].insert_one({"_id": 3})
    docs = [{"_id": 1}, {"_id": 2}, {"_id": 3}, {"_id": 4}]
    error = fails("local", ("BulkDocumentInsertNode", "b", {"database": db, "collection": "items", "documents": docs,
                                                            "ordered": ordered, "atomic": False}))
    assert isinstance(error, DuplicateKeyError)
    assert error.details["written"] == written and error.details["failed"] == [2]
    assert error.details["inserted_ids"] == [docs[i]["_id"] for i in written]
    assert sorted(d["_id"] for d in raw["items"].find()) == sorted({3, *[docs[i]["_id"] for i in written]})
    assert "were written" in str(error)


@pytest.mark.parametrize(
    "node,params,path",
    [
        ("DocumentFindNode", {"filter": {"$where": "this.a > 1"}}, "filter.$where"),
        (
            "DocumentCountNode",
            {"filter": {"$expr": {"$function": {"body": "function() {return true}", "args": [], "lang": "js"}}}},
            "filter.$expr.$function",
        ),
        (
            "MongoAggregateNode",
            {"pipeline": [{"$group": {"_id": None, "x": {"$accumulator": {}}}}]},
            "pipeline[0].$group.x.$accumulator",
        ),
        ("MongoAggregateNode", {"pipeline": [{"$match": {"$where": "1"}}]}, "pipeline[0].$match.$where"),
        ("DocumentUpdateNode", {"filter": {}, "update": {"$set": {"a": Code("function() {}")}}}, "update.$set.a"),
        (
            "DocumentUpdateNode",
            {"filter": {}, "update": [{"$set": {"a": {"$function": {}}}}]},
            "update[0].$set.a.$function",
        ),
    ],
    ids=["where", "function_in_expr", "accumulator", "where_in_match", "code_value", "function_in_pipeline_update"],
)
def test_server_side_javascript_is_refused(mongo, raw, runtime, node, params, path):
    raw["js"].insert_one({"a": 1})
    error = fails(runtime, (node, "n", {"database": mongo.backend.database, "collection": "js", **params}))
    assert isinstance(error, ValidationError) and "JavaScript" in str(error)
    assert error.details["path"] == path
    assert raw["js"].find_one({}, {"_id": 0}) == {"a": 1}


@pytest.mark.parametrize("node,params,path,says", [
    ("DocumentFindNode", {"filter": {"age": {"$gtt": 1}}}, "filter.age.$gtt", "$gte"),
    ("DocumentFindNode", {"filter": {"$or": [{"a": 1}, {"b": {"$in": 3}}]}}, "filter.$or[1].b.$in", "list"),
    ("DocumentFindNode", {"filter": {"$oops": []}}, "filter.$oops", "$and"),
    ("DocumentFindNode", {"filter": "name"}, "filter", "dict"),
    ("DocumentFindNode", {"sort": {"age": "sideways"}}, "sort[0].age", "asc"),
    ("DocumentFindNode", {"limit": -1}, "limit", "non-negative"),
    ("DocumentUpdateNode", {"filter": {}, "update": {"name": "x"}}, "update.name", "$set"),
    ("DocumentUpdateNode", {"filter": {}, "update": {"$sett": {"a": 1}}}, "update.$sett", "$set"),
    ("DocumentUpdateNode", {"filter": {}, "update": {"$inc": {"n": "1"}}}, "update.$inc.n", "number"),
    ("DocumentUpdateNode", {"filter": {}, "update": {"$push": {"t": {"$each": [1], "$bogus": 1}}}},
     "update.$push.t.$bogus", "$slice"),
    ("MongoAggregateNode", {"pipeline": [{"$match": {}}, {"$grop": {}}]}, "pipeline[1].$grop", "$group"),
    ("MongoAggregateNode", {"pipeline": [{"$match": {}, "$limit": 1}]}, "pipeline[0]", "exactly one key"),
    ("MongoAggregateNode", {"pipeline": [{"$facet": {"f": [{"$match": {"a": {"$bad": 1}}}]}}]},
     "pipeline[0].$facet.f[0].$match.a.$bad", "$eq"),
    ("CreateIndexNode", {"keys": {"a": 2}}, "keys[0].a", "2dsphere"),
    ("CreateIndexNode", {"keys": ["a", "b"], "expire_after_seconds": 5}, "keys", "one field"),
    ("DocumentInsertNode", {"document": {"$set": 1}}, "document.$set", "top-level"),
    ("BulkDocumentInsertNode", {"documents": [{"a": 1}, "x"]}, "documents[1]", "dict"),
    ("DocumentInsertNode", {"collection": "system.users", "document": {}}, "collection", "system."),
], ids=lambda v: v if isinstance(v, str) and "." not in v and "[" not in v and len(v) < 40 else None)
def test_malformed_input_names_the_path(mongo, runtime, node, params, path, says):
    params = {"collection": "bad", **params}
    error = fails(runtime, (node, "n", {"database": mongo.backend.database, **params}))
    assert isinstance(error, (ValidationError, FilterError)), error
    assert error.details.get("path") == path, str(error)
    assert says in str(error)


def test_missing_and_unknown_parameters(mongo, runtime):
    error = fails(runtime, ("DocumentInsertNode", "n", {"database": mongo.backend.database, "collection": "x"}))
    assert isinstance(error, ValidationError) and "document" in str(error)
    error = fails(runtime, ("DocumentCountNode", "n", {"database": mongo.backend.database, "collection": "x",
                                                       "filtr": {}}))
    assert "filtr" in str(error) and "filter" in str(error)


def test_failures_are_node_failures(mongo):
    with pytest.raises(Exception) as info:
        run("local", ("DocumentFindNode", "n", {"database": mongo.backend.database, "collection": "x",
                                               "filter": {"$where": "1"}}))
    chain, current = [], info.value
    while current is not None:
        chain.append(current)
        current = current.__cause__ or current.__context__
    failure = next(e for e in chain if isinstance(e, NodeFailure))
    assert isinstance(failure.error, ValidationError) and failure.node_id == "n"


def test_direct_execute_outside_a_runtime(mongo, raw):
    raw["direct"].insert_many([{"a": 1}, {"a": 2}])
    node = NodeRegistry.get("DocumentCountNode")()
    assert node.execute(database=mongo.backend.database, collection="direct", filter={"a": 2})["count"] == 1


def test_choosing_among_several_databases(mongo_server, runtime):
    names = [f"t_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    first = DataFlow(mongo_server.database_url(names[0]))
    second = DataFlow(mongo_server.database_url(names[1]), namespace="reports")

    try:
        error = fails(runtime, ("DocumentCountNode", "n", {"collection": "c"}))
        assert isinstance(error, ValidationError)
        assert names[0] in str(error) and names[1] in str(error) and "'database'" in str(error)
        run(runtime, ("DocumentInsertNode", "a", {"database": names[0], "collection": "c", "document": {"x": 1}}),
            ("DocumentInsertNode", "b", {"database": "reports", "collection": "c", "document": {"x": 2}}),
            ("DocumentInsertNode", "c", {"database": second, "collection": "c", "document": {"x": 3}}))
        bound = dataflow_mongo.document_nodes(first)
        out = run(runtime, (bound["DocumentCountNode"], "one", {"collection": "c"}),
                  ("DocumentCountNode", "two", {"database": names[1], "collection": "c"}))
        assert (out["one"]["count"], out["two"]["count"]) == (1, 2)
        error = fails(runtime, ("DocumentCountNode", "n", {"database": "nope", "collection": "c"}))
        assert "names no open MongoDB DataFlow" in str(error)
        sqlite = DataFlow()
        try:
            error = fails(runtime, ("DocumentCountNode", "n", {"database": sqlite, "collection": "c"}))
            assert "not a MongoDB DataFlow" in str(error)
        finally:
            sqlite.close()
    finally:
        first.close()
        second.close()
        for name in names:
            mongo_server.drop_database(name)
    error = fails(runtime, (bound["DocumentCountNode"], "n", {"collection": "c"}))
    assert "closed" in str(error)


def test_single_open_database_needs_no_choice(mongo, raw, runtime):
    gc.collect()
    if len(targets._distinct(targets._live())) != 1:
        pytest.skip("another MongoDB DataFlow is open in this process")
    raw["solo"].insert_one({"a": 1})
    assert run(runtime, ("DocumentCountNode", "n", {"collection": "solo"}))["n"]["count"] == 1


def test_document_nodes_read_model_collections(mongo, runtime):
    @mongo.model
    class User:
        name: str
        born: dt.date = dt.date(2000, 1, 1)

    db = mongo.backend.database
    assert run(runtime, ("UserCreateNode", "create", {"name": "Ann"}))["create"]["id"] == 1
    out = run(runtime, ("DocumentFindNode", "find", {"database": db, "collection": "users", "filter": {"_id": 1}}))
    stored = out["find"]["documents"][0]
    assert stored["name"] == "Ann" and stored["born"] == "2000-01-01" and "id" not in stored


def test_database_error_for_server_refusals(mongo, runtime):
    error = fails(runtime, ("MongoAggregateNode", "n", {"database": mongo.backend.database, "collection": "x",
                                                        "pipeline": [{"$project": {"a": {"$nosuchop": 1}}}]}))
    assert isinstance(error, DatabaseError)
