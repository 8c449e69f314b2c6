"""Transactions that really roll back, on every SQL backend: in code, in workflows, in bulk, under contention."""

import asyncio

import pytest
from dataflow import DataFlow, TransactionConflictError
from dataflow.errors import DataFlowError, DuplicateKeyError, ValidationError
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder


@pytest.fixture
def db(any_url):
    db = DataFlow(any_url)

    @db.model
    class Account:
        name: str
        balance: int = 0
        __dataflow__ = {"indexes": [{"name": "ux_account_name", "fields": ["name"], "unique": True}]}

    yield db
    db.close()


def needs_savepoints(db):
    if not db.backend.capabilities.savepoints:
        pytest.skip(f"{db.backend.name} lacks capability 'savepoints'")


def names(db):
    return sorted(r["name"] for r in db.express_sync.list("Account"))


def run(runtime: str, workflow):
    if runtime == "local":
        with LocalRuntime() as rt:
            return rt.execute(workflow)[0]
    return asyncio.run(AsyncLocalRuntime().execute_workflow_async(workflow, inputs={}))[0]


def chain(*steps):
    """A workflow whose nodes run in the given order (each connected to the previous one)."""
    wf = WorkflowBuilder()
    previous = None
    for node_id, node_type, params in steps:
        wf.add_node(node_type, node_id, params)
        if previous is not None:
            wf.add_connection(previous, "result" if previous != "tx" else "status", node_id, "_after")
        previous = node_id
    return wf.build()


# --- in code ------------------------------------------------------------------------------------------------------


def test_exception_in_a_sync_block_rolls_back(db):
    with pytest.raises(RuntimeError):
        with db.transaction_sync():
            db.express_sync.create("Account", {"name": "a"})
            db.express_sync.bulk_create("Account", [{"name": "b"}, {"name": "c"}])
            raise RuntimeError("boom")
    assert names(db) == []


def test_nested_blocks_are_savepoints(db):
    needs_savepoints(db)
    async def work():
        async with db.transaction():
            await db.express.create("Account", {"name": "outer"})
            with pytest.raises(KeyError):
                async with db.transaction():
                    await db.express.create("Account", {"name": "inner"})
                    raise KeyError
            await db.express.create("Account", {"name": "after"})

    asyncio.run(work())
    assert names(db) == ["after", "outer"]


def test_a_failed_statement_inside_a_transaction_leaves_it_usable(db):
    needs_savepoints(db)
    with db.transaction_sync():
        db.express_sync.create("Account", {"name": "a"})
        with pytest.raises(DuplicateKeyError):
            db.express_sync.create("Account", {"name": "a"})  # its own savepoint rolls back, not the transaction
        db.express_sync.create("Account", {"name": "b"})
    assert names(db) == ["a", "b"]


def test_workflow_runs_inside_a_code_transaction(db):
    with pytest.raises(RuntimeError):
        with db.transaction_sync():
            run("local", chain(("c", "AccountCreateNode", {"name": "from-workflow"})))
            raise RuntimeError
    assert names(db) == []


def test_isolation_levels_are_validated(db):
    with pytest.raises(ValidationError, match="valid: read_uncommitted"):
        with db.transaction_sync("READ COMMITTED; DROP TABLE accounts"):
            pass
    with db.transaction_sync("REPEATABLE READ"):
        db.express_sync.create("Account", {"name": "ok"})
    assert names(db) == ["ok"]


# --- in workflows -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["local", "async"])
def test_a_failing_node_rolls_the_whole_scope_back(db, runtime):
    workflow = chain(
        ("tx", "TransactionScopeNode", {"isolation_level": "repeatable_read"}),
        ("a", "AccountCreateNode", {"name": "a"}),
        ("dup", "AccountCreateNode", {"name": "a"}),
        ("b", "AccountCreateNode", {"name": "b"}),
        ("commit", "TransactionCommitNode", {}),
    )
    with pytest.raises(Exception) as info:
        run(runtime, workflow)
    assert "duplicate key" in str(info.value)
    assert names(db) == []


@pytest.mark.parametrize("runtime", ["local", "async"])
def test_savepoint_partial_rollback_in_a_workflow(db, runtime):
    needs_savepoints(db)
    workflow = chain(
        ("tx", "TransactionScopeNode", {}),
        ("a", "AccountCreateNode", {"name": "kept"}),
        ("sp", "TransactionSavepointNode", {"name": "before_b"}),
        ("b", "AccountCreateNode", {"name": "undone"}),
        ("back", "TransactionRollbackToSavepointNode", {"savepoint": "before_b"}),
        ("c", "AccountCreateNode", {"name": "also_kept"}),
        ("commit", "TransactionCommitNode", {}),
    )
    results = run(runtime, workflow)
    assert results["commit"]["status"] == "committed"
    assert names(db) == ["also_kept", "kept"]


@pytest.mark.parametrize("runtime", ["local", "async"])
def test_rollback_node(db, runtime):
    run(runtime, chain(("tx", "TransactionScopeNode", {}), ("a", "AccountCreateNode", {"name": "a"}),
                       ("rb", "TransactionRollbackNode", {"reason": "test"})))
    assert names(db) == []


def test_commit_without_scope_is_a_clear_error(db):
    with pytest.raises(Exception, match="no transaction is open"):
        run("local", chain(("commit", "TransactionCommitNode", {})))


# --- bulk is all or nothing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["bulk_create", "bulk_upsert", "bulk_update"])
def test_bulk_operations_are_all_or_nothing(db, operation):
    db.express_sync.bulk_create("Account", [{"name": f"n{i}", "balance": i} for i in range(5)])
    before = db.express_sync.list("Account", order_by=["name"])
    with pytest.raises(DataFlowError) as info:
        if operation == "bulk_create":
            db.express_sync.bulk_create("Account", [{"name": "new1"}, {"name": "n3"}, {"name": "new2"}])
        elif operation == "bulk_upsert":
            db.express_sync.bulk_upsert("Account", [{"name": "n0", "balance": 100}, {"name": "n1", "balance": "x"}],
                                        conflict_on=["name"])
        else:
            db.express_sync.bulk_update(
                "Account", [{"id": before[0]["id"], "balance": 7}, {"id": 999999, "balance": 8}]
            )
    assert "index 1" in str(info.value) or "index" in str(info.value)
    assert db.express_sync.list("Account", order_by=["name"]) == before


# --- contention: no lost update ---------------------------------------------------------------------------------------


def test_concurrent_read_modify_write_loses_no_update(db):
    account = db.express_sync.create("Account", {"name": "counter"})
    workers, increments = 6, 5
    isolation = None if db.backend.name == "mongo" else "serializable"  # MongoDB transactions are snapshots

    async def increment():
        for _ in range(increments):
            while True:
                try:
                    async with db.transaction(isolation):
                        row = await db.express.read("Account", account["id"])
                        await asyncio.sleep(0)  # let the others interleave between read and write
                        await db.express.update("Account", account["id"], {"balance": row["balance"] + 1})
                    break
                except TransactionConflictError:
                    continue  # serialization failure: the database refused a lost update; try again

    async def main():
        await asyncio.gather(*(increment() for _ in range(workers)))
        await db.close_async()

    asyncio.run(main())
    check = DataFlow(db_url_of(db))
    check.model(type("Account", (), {"__annotations__": {"name": str, "balance": int}}))
    assert check.express_sync.find_one("Account", {"name": "counter"})["balance"] == workers * increments
    check.close()


def db_url_of(db):
    u = db.url
    if u.scheme == "sqlite":
        return f"sqlite:///{u.database}"
    if u.scheme == "mongodb":
        return f"mongodb://{u.host}:{u.port}/{u.database}" + (
            "?" + "&".join(f"{k}={v}" for k, v in u.query.items()) if u.query else ""
        )
    auth = f"{u.username}:{u.password}" if u.password else u.username
    return f"{u.scheme}://{auth}@{u.host}:{u.port}/{u.database}"


# --- callbacks after commit (events and cache invalidation are built on them) ------------------------------


def test_after_commit_runs_only_after_the_outermost_commit(db):
    from dataflow.transactions import after_commit

    seen = []

    async def scenario():
        async with db.transaction() as tx:
            await db.express.create("Account", {"name": "a"})
            await after_commit(db.backend, lambda: seen.append("outer"))
            assert seen == []  # nothing before the commit
            if db.backend.capabilities.savepoints:
                try:
                    async with db.transaction():
                        await after_commit(db.backend, lambda: seen.append("rolled back"))
                        raise RuntimeError("undo the inner block")
                except RuntimeError:
                    pass
                async with db.transaction():
                    await after_commit(db.backend, lambda: seen.append("released"))

            async def later():
                seen.append("async")

            tx.after_commit(later)
        assert seen == (["outer", "released", "async"] if db.backend.capabilities.savepoints else ["outer", "async"])
        await after_commit(db.backend, lambda: seen.append("no transaction: at once"))
        assert seen[-1] == "no transaction: at once"

    asyncio.run(scenario())


def test_after_commit_is_dropped_on_rollback(db):
    from dataflow.transactions import after_commit

    seen = []

    async def scenario():
        with pytest.raises(RuntimeError):
            async with db.transaction():
                await db.express.create("Account", {"name": "a"})
                await after_commit(db.backend, lambda: seen.append("never"))
                raise RuntimeError("roll back")
        async with db.transaction():
            pass

    asyncio.run(scenario())
    assert seen == []
    with db.transaction_sync() as tx:
        tx.after_commit(lambda: seen.append("sync"))
    assert seen == ["sync"]
