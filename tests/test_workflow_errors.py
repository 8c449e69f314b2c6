"""A failed workflow run gives its DataFlow error back (issue 13, defect 14), on every backend and runtime.

Kailash wraps a node's ``NodeFailure`` (``RuntimeExecutionError`` → ``WorkflowExecutionError`` →
``NodeFailure`` → the DataFlow error), so ``except DataFlowError`` around ``runtime.execute`` catches
nothing. ``dataflow.dataflow_error(exc)`` finds it; ``db.run``/``db.run_async`` raise it. And a DataFlow
node always fails by raising, never as a ``{"failed": True}`` result, even for an exception DataFlow did
not expect.
"""

import asyncio

import pytest
from dataflow import DataFlow, DataFlowError, NodeFailure, dataflow_error
from dataflow.errors import DuplicateKeyError, InternalError, NotFoundError
from dataflow.fieldtypes import FieldType
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


@pytest.fixture
def db(any_url):
    db = DataFlow(any_url, namespace="wferr")

    @db.model
    class Account:
        name: str
        __dataflow__ = {"indexes": [{"name": "ux_wferr_account_name", "fields": ["name"], "unique": True}]}

    yield db
    db.close()


def read_missing(db):
    wf = WorkflowBuilder()
    wf.add_node("wferr.AccountReadNode", "read", {"id": 987654})
    return wf


def execute(runtime: str, workflow):
    if runtime == "local":
        with LocalRuntime() as rt:
            return rt.execute(workflow.build())

    async def go():
        async with AsyncLocalRuntime() as rt:
            return await rt.execute_workflow_async(workflow.build(), {})

    return asyncio.run(go())


@pytest.mark.parametrize("runtime", ["local", "async"])
def test_the_runtime_hides_the_dataflow_error_and_dataflow_error_finds_it(db, runtime):
    with pytest.raises(Exception) as caught:
        execute(runtime, read_missing(db))
    assert not isinstance(caught.value, DataFlowError)  # the defect: except DataFlowError would miss it
    error = dataflow_error(caught.value)
    assert isinstance(error, NotFoundError) and "987654" in str(error)
    assert dataflow_error(RuntimeError("unrelated")) is None


def test_db_run_raises_the_dataflow_error_itself(db):
    with pytest.raises(NotFoundError, match="987654"):
        db.run(read_missing(db))
    db.express_sync.create("Account", {"name": "taken"})
    wf = WorkflowBuilder()
    wf.add_node("wferr.AccountCreateNode", "create", {"name": "taken"})
    with pytest.raises(DuplicateKeyError) as caught:
        db.run(wf.build())  # a built workflow too
    assert caught.value.code == "DF-502"


def test_db_run_async_raises_the_dataflow_error_itself(db):
    async def go():
        with pytest.raises(NotFoundError, match="987654"):
            await db.run_async(read_missing(db))
        wf = WorkflowBuilder()
        wf.add_node("wferr.AccountCreateNode", "create", {"name": "a"})
        results, _ = await db.run_async(wf, runtime=AsyncLocalRuntime())
        return results

    assert asyncio.run(go())["create"]["name"] == "a"


def test_db_run_returns_what_the_runtime_returns(db):
    wf = WorkflowBuilder()
    wf.add_node("wferr.AccountCreateNode", "create", {"name": "b"})
    wf.add_node("wferr.AccountCountNode", "count", {})
    wf.add_connection("create", "result", "count", "_after")
    with LocalRuntime() as runtime:
        results, run_id = db.run(wf, runtime=runtime)
    assert results["count"]["count"] == 1 and run_id


def test_db_run_lets_other_failures_through(db):
    with pytest.raises(Exception) as caught:
        db.run(WorkflowBuilder().add_node("NoSuchNodeAnywhere", "x", {}))
    assert not isinstance(caught.value, DataFlowError)


@pytest.mark.parametrize("runtime", ["local", "async"])
def test_a_transaction_run_by_db_run_rolls_back_and_raises(db, runtime):
    if not db.backend.capabilities.transactions:
        pytest.skip(f"{db.backend.name} lacks capability 'transactions'")
    wf = WorkflowBuilder()
    wf.add_node("TransactionScopeNode", "tx", {"dataflow": "wferr"})
    wf.add_node("wferr.AccountCreateNode", "first", {"name": "first"})
    wf.add_node("wferr.AccountCreateNode", "again", {"name": "first"})
    wf.add_node("TransactionCommitNode", "commit", {"dataflow": "wferr"})
    wf.add_connection("tx", "status", "first", "_after")
    wf.add_connection("first", "result", "again", "_after")
    wf.add_connection("again", "result", "commit", "_after")
    with pytest.raises(DuplicateKeyError):
        if runtime == "local":
            db.run(wf)
        else:
            asyncio.run(db.run_async(wf))
    assert db.express_sync.count("Account") == 0


class Fragile(str):
    """A field type whose (third-party) coerce function has a bug."""


@pytest.fixture
def fragile_db(tmp_path):
    db = DataFlow(f"sqlite:///{tmp_path / 'fragile.db'}", namespace="fragile")
    if db.host.field_types.resolve(Fragile) is None:
        db.host.field_types.add(Fragile, FieldType("str", str, lambda value: 1 / 0))

    @db.model
    class Item:
        code: Fragile

    yield db
    db.close()


@pytest.mark.parametrize("runtime", ["local", "async"])
def test_an_unexpected_exception_is_a_node_failure_never_a_failed_result(fragile_db, runtime):
    wf = WorkflowBuilder()
    wf.add_node("fragile.ItemCreateNode", "create", {"code": 5})  # no dependents: kailash would carry on
    with pytest.raises(Exception) as caught:
        execute(runtime, wf)
    error = dataflow_error(caught.value)
    assert isinstance(error, InternalError) and error.code == "DF-900"
    assert "ZeroDivisionError" in str(error) and isinstance(error.orig, ZeroDivisionError)
    assert isinstance(error.__cause__, ZeroDivisionError)
    with pytest.raises(InternalError):
        fragile_db.run(wf)


def test_a_node_failure_carries_the_error_as_its_cause(fragile_db):
    node = fragile_db.node("Item", "create")()
    with pytest.raises(NodeFailure) as caught:
        node.execute(code=5)
    assert caught.value.error is caught.value.__cause__ and isinstance(caught.value.error, InternalError)
    assert caught.value.failure_data == {"error": str(caught.value.error), "code": "DF-900"}
