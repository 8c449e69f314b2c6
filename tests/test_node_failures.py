"""Every DataFlow node fails by raising, never as a ``{"failed": True}`` result (issue 13, defect 14).

Kailash records an ordinary node exception as ``{"failed": True}`` and carries on when nothing depends on the
node; DataFlow nodes raise ``NodeFailure`` (a workflow-stopping failure) instead. This sweeps every node a
model gets (all eleven operations) and every transaction node, each failing alone in its workflow, under
both runtimes: the run raises, ``dataflow_error`` finds the DataFlow error, and ``db.run`` raises it.
"""

import asyncio

import pytest
from dataflow import DataFlow, DataFlowError, NodeFailure, dataflow_error
from dataflow.nodes import OPERATIONS
from dataflow.transactions import TransactionError
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

#: one failing call per operation, beyond the invalid ``timeout`` every node refuses
FAILING = {
    "create": {"name": 5},
    "read": {"id": 987654},
    "update": {"id": 987654, "fields": {"name": "x"}},
    "delete": {"id": 1, "soft_delete": True},
    "list": {"filter": {"name": {"$bogus": 1}}},
    "count": {"filter": {"name": {"$bogus": 1}}},
    "upsert": {"where": {"name": 5}},
    "bulk_create": {"data": [{"name": 5}]},
    "bulk_update": {"filter": {}, "fields": {"name": "x"}},
    "bulk_delete": {"filter": {}},
    "bulk_upsert": {"data": [{"name": 5}]},
    "aggregate": {"aggregates": {"total": "sum:nosuchfield"}},
}
TRANSACTION_NODES = {
    "TransactionScopeNode": {"isolation_level": "sometimes"},
    "TransactionCommitNode": {},
    "TransactionRollbackNode": {},
    "TransactionSavepointNode": {"name": "sp"},
    "TransactionRollbackToSavepointNode": {"savepoint": "sp"},
}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    db = DataFlow(f"sqlite:///{tmp_path_factory.mktemp('nf') / 'nf.db'}", namespace="nf")

    @db.model
    class Thing:
        name: str

    db.express_sync.create("Thing", {"name": "one"})
    yield db
    db.close()


def execute(runtime: str, workflow: WorkflowBuilder):
    if runtime == "local":
        with LocalRuntime() as rt:
            return rt.execute(workflow.build())

    async def go():
        async with AsyncLocalRuntime() as rt:
            return await rt.execute_workflow_async(workflow.build(), {})

    return asyncio.run(go())


def alone(node_type: str, params: dict) -> WorkflowBuilder:
    workflow = WorkflowBuilder()
    workflow.add_node(node_type, "only", params)  # no dependents: kailash would carry on past a plain failure
    return workflow


def assert_raises_its_dataflow_error(db, runtime, workflow, expected=DataFlowError):
    with pytest.raises(Exception) as caught:
        result = execute(runtime, workflow)
        pytest.fail(f"the run returned {result!r} instead of raising")  # e.g. {"only": {"failed": True}}
    error = dataflow_error(caught.value)
    assert isinstance(error, expected), caught.value
    assert any(isinstance(e, NodeFailure) for e in _chain(caught.value)), "not a raised NodeFailure"
    if runtime == "local":
        with pytest.raises(expected):
            db.run(workflow)


def _chain(exc):
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


@pytest.mark.parametrize("runtime", ["local", "async"])
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_every_model_node_raises(db, runtime, operation):
    node = f"nf.Thing{OPERATIONS[operation]}Node"
    assert_raises_its_dataflow_error(db, runtime, alone(node, FAILING[operation]))
    if runtime == "local":
        with pytest.raises(DataFlowError, match="timeout must be"):
            db.run(alone(node, {"timeout": "soon"}))


@pytest.mark.parametrize("runtime", ["local", "async"])
@pytest.mark.parametrize("node", sorted(TRANSACTION_NODES))
def test_every_transaction_node_raises(db, runtime, node):
    expected = DataFlowError if node == "TransactionScopeNode" else TransactionError
    assert_raises_its_dataflow_error(db, runtime, alone(node, TRANSACTION_NODES[node]), expected)
