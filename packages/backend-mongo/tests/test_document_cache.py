"""Document nodes invalidate the result cache of the model whose collection they write (dataflow.cache)."""

from dataflow import DataFlow
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


def run(node: str, params: dict) -> dict:
    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    with LocalRuntime() as rt:
        return rt.execute(wf.build())[0]["n"]


def test_document_writes_invalidate_model_reads(fresh_database):
    db = DataFlow(fresh_database, cache="memory")

    @db.model
    class Stock:
        sku: str
        qty: int

    e = db.express_sync
    e.create("Stock", {"sku": "a", "qty": 1})
    table = db.get_model("Stock").table
    assert [s["qty"] for s in e.list("Stock")] == [1] == [s["qty"] for s in e.list("Stock")]
    assert db.cache.stats()["hit"] == 1
    run("DocumentUpdateNode", {"database": db, "collection": table, "filter": {"sku": "a"},
                               "update": {"$set": {"qty": 2}}})
    assert [s["qty"] for s in e.list("Stock")] == [2]
    assert e.count("Stock") == 1 == e.count("Stock")
    run("DocumentInsertNode", {"database": db, "collection": table,
                               "document": {"_id": 99, "id": 99, "sku": "b", "qty": 5}})
    assert e.count("Stock") == 2
    run("DocumentDeleteNode", {"database": db, "collection": table, "filter": {"sku": "b"}})
    assert e.count("Stock") == 1
    db.close()
