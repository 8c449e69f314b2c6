"""Document nodes never reach a tenant's documents (issue 13 #1).

With ``multi_tenant`` declared on the model instead of on DataFlow, DocumentFind/Count/MongoAggregate/
DocumentUpdate under tenant B read, counted and rewrote tenant A's documents, and ran with no tenant
bound at all: the guard looked only at ``DataFlow.multi_tenant``. Document nodes work on raw
collections and cannot scope to a tenant, so every one of the eight is refused while an open MongoDB
DataFlow of this process is tenant-scoped, whichever way tenancy was declared, through the registered
node names and through classes bound with ``document_nodes(db)``.
"""

import asyncio

import pytest
from dataflow import DataFlow
from dataflow.conformance.harness import dataflow_error
from dataflow.errors import ValidationError
from dataflow_mongo import document_nodes
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


def run(runtime: str, node_type, params: dict) -> dict:
    wf = WorkflowBuilder()
    wf.add_node(node_type, "n", params)
    if runtime == "local":
        with LocalRuntime() as rt:
            return rt.execute(wf.build())[0]["n"]

    async def main() -> dict:
        async with AsyncLocalRuntime() as rt:
            return (await rt.execute_workflow_async(wf.build(), inputs={}))[0]["n"]

    return asyncio.run(main())


def declare(db: DataFlow, model_level: bool) -> str:
    @db.model
    class Secret:
        title: str
        level: int = 0
        __dataflow__ = {"multi_tenant": True} if model_level else {}

    assert db.get_model("Secret").multi_tenant
    return db.get_model("Secret").table


def attacks(collection: str) -> dict[str, tuple[str, dict]]:
    everything = {"collection": collection}
    return {
        "find": ("DocumentFindNode", {**everything, "filter": {}}),
        "find other tenant": ("DocumentFindNode", {**everything, "filter": {"tenant_id": "a"}}),
        "count": ("DocumentCountNode", everything),
        "aggregate": ("MongoAggregateNode", {**everything, "pipeline": [{"$match": {}}]}),
        "aggregate lookup": ("MongoAggregateNode", {"collection": "other", "pipeline": [
            {"$lookup": {"from": collection, "pipeline": [], "as": "x"}}]}),
        "update": ("DocumentUpdateNode", {**everything, "filter": {}, "update": {"$set": {"title": "pwned"}},
                                          "multi": True}),
        "delete": ("DocumentDeleteNode", {**everything, "filter": {}, "multi": True}),
        "insert forged tenant": ("DocumentInsertNode", {**everything, "document": {"tenant_id": "a", "title": "x"}}),
        "bulk insert": ("BulkDocumentInsertNode", {**everything, "documents": [{"tenant_id": "a", "title": "y"}]}),
        "index": ("CreateIndexNode", {**everything, "keys": "title"}),
    }


@pytest.mark.parametrize("model_level", [True, False], ids=["model-level", "instance-level"])
@pytest.mark.parametrize("runtime", ["local", "async"])
def test_document_nodes_refuse_a_tenant_scoped_database(fresh_database, model_level, runtime):
    db = DataFlow(fresh_database) if model_level else DataFlow(fresh_database, multi_tenant=True)
    collection = declare(db, model_level)
    with db.tenant("a"):
        db.express_sync.bulk_create("Secret", [{"title": f"a-{i}", "level": i} for i in range(3)])
    before = {}
    with db.tenant("a"):
        before["a"] = db.express_sync.list("Secret", order_by=["title"])
    attempted = 0
    try:
        bound = document_nodes(db)
        for tenant in ("b", None):
            for name, (node, params) in attacks(collection).items():
                for node_type in (node, bound[node]):
                    attempted += 1
                    scope = db.tenant(tenant) if tenant else _nothing()
                    with scope, pytest.raises(Exception) as info:
                        run(runtime, node_type, dict(params))
                    error = dataflow_error(info.value)
                    assert isinstance(error, ValidationError), f"{name} (tenant {tenant}): {info.value!r}"
                    assert "not tenant-scoped" in error.message and "Secret" in error.message, error.message
        with db.tenant("a"):
            assert db.express_sync.list("Secret", order_by=["title"]) == before["a"], "tenant a's rows changed"
            assert db.express_sync.count("Secret") == 3
        print(f"\ndocument-node attacks on a {'model' if model_level else 'instance'}-level tenant database: "
              f"{attempted}, leaks: 0")
    finally:
        db.close()


def test_a_plain_dataflow_on_the_same_server_cannot_be_used_to_reach_it(fresh_database, mongo_server):
    """A second, non-tenant DataFlow (same database, or another one) does not open a way around the guard."""
    tenant_db = DataFlow(fresh_database)
    collection = declare(tenant_db, model_level=True)
    with tenant_db.tenant("a"):
        tenant_db.express_sync.create("Secret", {"title": "a-0"})
    plain = DataFlow(fresh_database, namespace="plain")
    other = DataFlow(mongo_server.database_url("t_doc_other"), namespace="other")
    try:
        for target in (plain, other, "plain", "other"):
            with pytest.raises(Exception) as info:
                run("local", "DocumentFindNode", {"collection": collection, "database": target})
            assert "not tenant-scoped" in dataflow_error(info.value).message
        with pytest.raises(Exception) as info:
            run("async", document_nodes(plain)["MongoAggregateNode"], {
                "collection": "x", "pipeline": [{"$unionWith": {"coll": collection}}]})
        assert "not tenant-scoped" in dataflow_error(info.value).message
    finally:
        other.close()
        plain.close()
        tenant_db.close()
        mongo_server.drop_database("t_doc_other")


def test_document_nodes_work_again_once_the_tenant_dataflow_is_closed(fresh_database):
    tenant_db = DataFlow(fresh_database)
    declare(tenant_db, model_level=True)
    plain = DataFlow(fresh_database, namespace="plain")
    try:
        with pytest.raises(Exception) as info:
            run("local", "DocumentCountNode", {"collection": "notes", "database": "plain"})
        assert "not tenant-scoped" in dataflow_error(info.value).message
        tenant_db.close()
        assert run("local", "DocumentCountNode", {"collection": "notes", "database": "plain"})["count"] == 0
    finally:
        tenant_db.close()
        plain.close()


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None
