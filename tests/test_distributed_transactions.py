# Over 400 lines: both server pairings share the fixtures and the kill/recover scenarios.
"""Distributed transactions (two-phase commit) on real servers: two PostgreSQL databases, and PostgreSQL with
MariaDB. Commit, abort before the decision, a coordinator killed between prepare and commit then recovered,
a concurrent transfer checker with killed workers, kailash's TwoPhaseCommitCoordinatorNode, refusals."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from dataflow import DataFlow, cli
from dataflow.distributed import (
    CoordinatorLog,
    InDoubtError,
    PreparedTransactionsDisabledError,
    PrepareFailedError,
    TwoPhaseTimeoutError,
    TwoPhaseUnsupportedError,
    distributed_transaction,
    distributed_transaction_sync,
    recover,
)
from dataflow.distributed.transport import DataFlowParticipantTransport
from dataflow.errors import DataFlowError
from dataflow.tenancy import TenantRequiredError
from dataflow_testing import PostgresServer
from kailash.workflow.builder import WorkflowBuilder


@pytest.fixture(scope="module")
def pg2pc():
    """A PostgreSQL that allows prepared transactions (the session's server keeps the default, 0)."""
    with PostgresServer(vector=False, settings={"max_prepared_transactions": 64}) as server:
        yield server


def _new_pg(server) -> str:
    return server.create_database(f"t_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def pg_a(pg2pc):
    return _new_pg(pg2pc)


@pytest.fixture
def pg_b(pg2pc):
    return _new_pg(pg2pc)


ROOT = Path(__file__).parent


def declare(db: DataFlow) -> None:
    @db.model
    class Account:
        name: str
        balance: int

    @db.model
    class Transfer:
        ref: str
        amount: int


async def balances(db: DataFlow) -> dict[str, int]:
    rows = (await db.express.list("Account", limit=1000))
    return {r["name"]: r["balance"] for r in rows}


class Pair:
    def __init__(self, url_a: str, url_b: str) -> None:
        self.url_a, self.url_b = url_a, url_b
        self.a = DataFlow(url_a, namespace="orders")
        self.b = DataFlow(url_b, namespace="billing")
        declare(self.a)
        declare(self.b)


@pytest.fixture(scope="module")
def pg_pair_urls(pg2pc):
    """Two databases for the whole module (creating databases is slow): each test drops what it made."""
    return _new_pg(pg2pc), _new_pg(pg2pc)


@pytest.fixture(params=["pg+pg", "pg+mariadb"])
def pair(request, pg2pc, pg_pair_urls, url_mysql):
    url_a, url_b = pg_pair_urls
    p = Pair(url_a, url_b if request.param == "pg+pg" else url_mysql)
    yield p

    async def clean():  # a failed test may leave prepared transactions, which hold locks
        for db in (p.a, p.b):
            support = db.backend.two_phase()
            for gid in await support.list_in_doubt("df2pc_"):
                await support.finish_anywhere(gid, False)

    asyncio.run(clean())
    p.a.close()
    p.b.close()
    for url in pg_pair_urls:
        pg2pc.psql("DROP TABLE IF EXISTS accounts, transfers, dataflow_2pc_log CASCADE; "
                   "DROP FUNCTION IF EXISTS slow() CASCADE", database=url.rsplit("/", 1)[1])


def test_commit_on_success(pair):
    asyncio.run(_commit_on_success(pair.a, pair.b))


async def _commit_on_success(a, b):
    async with distributed_transaction(a, b, log=a) as tx:
        await a.express.create("Account", {"name": "alice", "balance": 100})
        await b.express.create("Account", {"name": "bob", "balance": 50})
        # multi-row writes run in a savepoint inside the branch (also inside a MariaDB XA transaction)
        await b.express.bulk_create("Transfer", [{"ref": "t1", "amount": 1}, {"ref": "t2", "amount": 2}])
        async with b.transaction():  # a nested block is a savepoint of the branch
            await b.express.create("Transfer", {"ref": "t3", "amount": 3})
        assert tx.gid.startswith("df2pc_")
    assert await balances(a) == {"alice": 100}
    assert await balances(b) == {"bob": 50}
    assert await b.express.count("Transfer") == 3
    assert tx.state == "committed"
    entries = await tx.log.entries()
    assert entries[0]["gid"] == tx.gid and entries[0]["decision"] == "commit" and entries[0]["completed_at"]
    assert (await recover(a, b, log=a))["committed"] == []


def test_exception_aborts_everywhere(pair):
    asyncio.run(_exception_aborts_everywhere(pair.a, pair.b))


async def _exception_aborts_everywhere(a, b):
    with pytest.raises(RuntimeError):
        async with distributed_transaction(a, b, log=a):
            await a.express.create("Account", {"name": "alice", "balance": 100})
            await b.express.create("Account", {"name": "bob", "balance": 50})
            raise RuntimeError("boom")
    assert await balances(a) == {} and await balances(b) == {}


def test_a_participant_failing_to_prepare_aborts_everywhere(pair):
    async def go():
        a, b = pair.a, pair.b
        await a.express.create("Account", {"name": "alice", "balance": 1})
        with pytest.raises(PrepareFailedError, match="orders failed to prepare"):
            async with distributed_transaction(a, b, log=a):
                await b.express.create("Account", {"name": "bob", "balance": 50})
                await a.express.create("Account", {"name": "again", "balance": 2})
                # PostgreSQL cannot prepare a transaction that used a temporary table
                await a.backend.execute("CREATE TEMP TABLE scratch (i int)", ())
        assert await balances(a) == {"alice": 1} and await balances(b) == {}
        assert await a.backend.two_phase().list_in_doubt("df2pc_") == []
        assert await b.backend.two_phase().list_in_doubt("df2pc_") == []

    asyncio.run(go())


def test_sync_twin(pair):
    a, b = pair.a, pair.b
    with distributed_transaction_sync(a, b, log=a):
        a.express_sync.create("Account", {"name": "alice", "balance": 100})
        b.express_sync.create("Account", {"name": "bob", "balance": 50})
    assert a.express_sync.count("Account") == 1 and b.express_sync.count("Account") == 1
    with pytest.raises(KeyError):
        with distributed_transaction_sync(a, b, log=a):
            b.express_sync.create("Account", {"name": "carol", "balance": 5})
            raise KeyError("boom")
    assert b.express_sync.count("Account") == 1


PRELOAD = ["dataflow", "dataflow.distributed", "dataflow.migrations", "dataflow.discovery", "dataflow_postgres.backend",
           "dataflow_mysql.backend", "dataflow_sqlite.backend", "dataflow_mongo.plugin", "dataflow_pgvector.plugin",
           "asyncpg", "aiomysql", "sqlalchemy.ext.asyncio", "sqlalchemy.orm", "sqlalchemy.dialects.postgresql",
           "sqlalchemy.dialects.mysql"]


def _forkserver() -> Any:
    """Worker processes fork from a server that imported DataFlow once (importing it takes seconds)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    context = multiprocessing.get_context("forkserver")
    # the server does not apply sys.path (Python 3.11): preload what is installed; children import the worker
    context.set_forkserver_preload(PRELOAD)
    return context


def _start(target: str, *args: Any) -> tuple[Any, Any]:
    context = _forkserver()
    import distributed_worker

    ours, theirs = context.Pipe()
    proc = context.Process(target=getattr(distributed_worker, target), args=(*args, theirs), daemon=True)
    proc.start()
    theirs.close()
    return proc, ours


def _receive(proc: Any, conn: Any, timeout: float = 60) -> Any:
    if not conn.poll(timeout):
        raise AssertionError(f"worker {proc.pid} sent nothing within {timeout} s (exit code {proc.exitcode})")
    return conn.recv()


def _kill(proc: Any) -> None:
    if proc.is_alive():
        os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)


def test_coordinator_killed_between_prepare_and_commit_then_recovered(pair):
    """Killed with one transaction prepared and undecided, another decided 'commit' and not committed:
    recover() rolls back the first and commits the second, everywhere."""
    a, b = pair.a, pair.b
    for n in range(2):
        a.express_sync.create("Account", {"name": f"a{n}", "balance": 100})
        b.express_sync.create("Account", {"name": f"b{n}", "balance": 100})
    proc, conn = _start("park", pair.url_a, pair.url_b)
    try:
        parked = {_receive(proc, conn), _receive(proc, conn)}
    finally:
        _kill(proc)
    assert proc.exitcode == -signal.SIGKILL

    async def in_doubt():
        return [
            *await a.backend.two_phase().list_in_doubt("df2pc_"),
            *await b.backend.two_phase().list_in_doubt("df2pc_"),
        ]

    branches = asyncio.run(in_doubt())
    assert len(branches) == 4 and {gid.rsplit("_", 1)[0] for gid in branches} == parked
    assert asyncio.run(balances(a)) == {"a0": 100, "a1": 100}  # nothing visible yet
    first, second = a.recover(), b.recover(log=a)  # the log is in a
    assert len(first["committed"] + second["committed"]) == 2
    assert len(first["rolled_back"] + second["rolled_back"]) == 2
    assert asyncio.run(balances(a)) == {"a0": 100, "a1": 0}
    assert asyncio.run(balances(b)) == {"b0": 100, "b1": 200}
    again = a.recover()
    assert again["committed"] == again["rolled_back"] == [] and asyncio.run(in_doubt()) == []


def test_concurrent_transfers_with_killed_coordinators_conserve_the_total(pair):
    """4 processes move money between accounts of the two databases; 2 are killed mid-run while recovery runs
    alongside; after a last recovery the total is conserved and every transfer is on both sides or neither."""
    from distributed_worker import ACCOUNTS

    a, b = pair.a, pair.b
    a.express_sync.bulk_create("Account", [{"name": f"a{i}", "balance": 100} for i in range(ACCOUNTS)])
    b.express_sync.bulk_create("Account", [{"name": f"b{i}", "balance": 100} for i in range(ACCOUNTS)])
    workers = [_start("transfers", pair.url_a, pair.url_b, seed, 2.0) for seed in range(4)]

    async def go():
        for proc, conn in workers:
            assert _receive(proc, conn) == "started"
        victims = workers[:2]
        rng = random.Random(7)
        for proc, _conn in victims:  # mid-run: anywhere in a transfer, also between prepare and commit
            await asyncio.sleep(rng.uniform(0.2, 0.6))
            _kill(proc)
        survivors = workers[2:]
        deadline = time.monotonic() + 60
        while any(not conn.poll() for _p, conn in survivors) and time.monotonic() < deadline:
            await recover(a, b, log=a)  # alongside live coordinators: they learn 'abort' and roll back
            await asyncio.sleep(0.2)
        return [_receive(proc, conn, 1) for proc, conn in survivors]

    async def check(outcomes):
        assert await a.backend.two_phase().list_in_doubt("df2pc_") == []
        assert await b.backend.two_phase().list_in_doubt("df2pc_") == []
        bal_a, bal_b = await balances(a), await balances(b)
        assert sum(bal_a.values()) + sum(bal_b.values()) == 200 * ACCOUNTS
        ledger_a = {r["ref"]: r["amount"] for r in await a.express.list("Transfer", limit=10000)}
        ledger_b = {r["ref"]: r["amount"] for r in await b.express.list("Transfer", limit=10000)}
        assert ledger_a.keys() == ledger_b.keys()
        assert all(ledger_a[ref] == -ledger_b[ref] for ref in ledger_a)
        assert sum(bal_a.values()) - 100 * ACCOUNTS == sum(ledger_a.values())  # each transfer applied once
        assert sum(c for c, _f in outcomes) > 0

    try:
        outcomes = asyncio.run(go())
        assert cli.main(["recover", pair.url_a, pair.url_b, "--log", pair.url_a]) == 0  # the last recovery
        asyncio.run(check(outcomes))
    finally:
        for proc, _conn in workers:
            _kill(proc)


# --- workflows -------------------------------------------------------------------------------------------------------

def _chain(wf: WorkflowBuilder, *steps: tuple) -> WorkflowBuilder:
    previous = None
    for node_id, node_type, params in steps:
        wf.add_node(node_type, node_id, params)
        if previous is not None:
            wf.add_connection(previous, "result" if previous not in ("begin",) else "status", node_id, "_after")
        previous = node_id
    return wf


@pytest.mark.parametrize("fail", [False, True])
def test_workflow_scope_and_commit_nodes(pair, fail):
    a, b = pair.a, pair.b
    steps = [("begin", "DistributedTransactionScopeNode", {"dataflows": ["orders", "billing"], "log": "orders"}),
             ("debit", "orders.AccountCreateNode", {"name": "alice", "balance": 10}),
             ("credit", "billing.AccountCreateNode", {"name": "bob", "balance": 20})]
    if fail:
        steps.append(("dup", "billing.AccountCreateNode", {"id": 1, "name": "again", "balance": 0}))
    steps.append(("commit", "DistributedTransactionCommitNode", {}))
    wf = _chain(WorkflowBuilder(), *steps)
    if fail:
        with pytest.raises(DataFlowError):
            a.run(wf)
        assert a.express_sync.count("Account") == 0 and b.express_sync.count("Account") == 0
    else:
        results, _ = a.run(wf)
        assert results["commit"]["status"] == "committed"
        assert a.express_sync.count("Account") == 1 and b.express_sync.count("Account") == 1


@pytest.mark.parametrize("runtime", ["local", "async"])
def test_kailash_two_phase_commit_coordinator_with_dataflow_participants(pair, runtime):
    """kailash's TwoPhaseCommitCoordinatorNode prepares and commits real database branches."""
    a, b = pair.a, pair.b
    transport = DataFlowParticipantTransport({"orders": a, "billing": b})
    tid = f"order-{uuid.uuid4().hex[:8]}"
    wf = _chain(WorkflowBuilder(),
                ("begin", "DistributedTransactionScopeNode",
                 {"dataflows": ["orders", "billing"], "transaction_id": tid}),
                ("debit", "orders.AccountCreateNode", {"name": "alice", "balance": 10}),
                ("credit", "billing.AccountCreateNode", {"name": "bob", "balance": 20}),
                ("2pc", "TwoPhaseCommitCoordinatorNode", {"transaction_id": tid, "participants": ["orders", "billing"],
                                                          "transport": transport, "operation": "execute_transaction"}))
    if runtime == "local":
        results, _ = a.run(wf)
    else:
        results, _ = asyncio.run(a.run_async(wf))
    assert results["2pc"]["status"] == "success", results["2pc"]
    assert a.express_sync.count("Account") == 1 and b.express_sync.count("Account") == 1
    log = asyncio.run(CoordinatorLog(a).entries())
    assert log[0]["decision"] == "commit" and log[0]["completed_at"]


def test_kailash_coordinator_aborts_everywhere_when_a_participant_cannot_prepare(pair):
    a, b = pair.a, pair.b
    transport = DataFlowParticipantTransport({"orders": a, "billing": b})
    tid = f"order-{uuid.uuid4().hex[:8]}"
    wf = _chain(WorkflowBuilder(),
                ("begin", "DistributedTransactionScopeNode",
                 {"dataflows": ["orders", "billing"], "transaction_id": tid}),
                ("debit", "orders.AccountCreateNode", {"name": "alice", "balance": 10}),
                ("credit", "billing.AccountCreateNode", {"name": "bob", "balance": 20}),
                ("rb", "TransactionRollbackNode", {"dataflow": "orders"}),  # the orders branch is gone: it votes abort
                ("2pc", "TwoPhaseCommitCoordinatorNode", {"transaction_id": tid, "participants": ["orders", "billing"],
                                                          "transport": transport, "operation": "execute_transaction"}))
    results, _ = a.run(wf)
    assert results["2pc"]["status"] == "aborted"
    assert a.express_sync.count("Account") == 0 and b.express_sync.count("Account") == 0
    assert asyncio.run(b.backend.two_phase().list_in_doubt("df2pc_")) == []


# --- refusals, timeouts, tenancy --------------------------------------------------------------------------------------

def test_databases_that_cannot_prepare_are_refused(tmp_path, pg_a, url_postgres):
    with DataFlow(pg_a, namespace="orders") as a, DataFlow(f"sqlite:///{tmp_path / 'x.db'}", namespace="local") as s:
        with pytest.raises(TwoPhaseUnsupportedError, match="cannot prepare transactions"):
            distributed_transaction(a, s)
        with pytest.raises(TwoPhaseUnsupportedError):
            distributed_transaction_sync(s, a)
    with DataFlow(pg_a, namespace="orders") as a, DataFlow(url_postgres, namespace="plain") as plain:
        declare(plain)

        async def go():
            with pytest.raises(PreparedTransactionsDisabledError, match="max_prepared_transactions = 0"):
                async with distributed_transaction(a, plain, log=a):
                    pass

        asyncio.run(go())


def test_prepare_timeout_aborts_and_recovery_finishes_a_late_prepare(pair, pg2pc):
    a, b = pair.a, pair.b
    a.express_sync.count("Account")  # tables exist
    table = a.get_model("Account").table
    for statement in ("CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1.5); "
                      "RETURN NULL; END $$",
                      f"CREATE CONSTRAINT TRIGGER slow_prepare AFTER INSERT ON {table} DEFERRABLE INITIALLY DEFERRED "
                      "FOR EACH ROW EXECUTE FUNCTION slow()"):
        pg2pc.psql(statement, database=a.url.database)

    async def go():
        with pytest.raises(TwoPhaseTimeoutError, match="orders did not prepare within 0.3 s"):
            async with distributed_transaction(a, b, log=a, prepare_timeout=0.3):
                await a.express.create("Account", {"name": "alice", "balance": 1})  # its deferred trigger sleeps
                await b.express.create("Account", {"name": "bob", "balance": 1})
        await asyncio.sleep(2)  # the server finishes the PREPARE its client gave up on: in doubt, undecided
        await recover(a, b, log=a)
        assert await balances(a) == {} and await balances(b) == {}
        assert await a.backend.two_phase().list_in_doubt("df2pc_") == []

    asyncio.run(go())


def test_commit_timeout_leaves_in_doubt_and_recovery_commits(pair):
    a, b = pair.a, pair.b

    async def go():
        with pytest.raises(InDoubtError, match="decided 'commit'") as info:
            async with distributed_transaction(a, b, log=a, commit_timeout=0.3) as tx:
                await a.express.create("Account", {"name": "alice", "balance": 1})
                await b.express.create("Account", {"name": "bob", "balance": 1})

                async def unreachable(*_args):  # the second participant stops answering after the decision
                    await asyncio.sleep(5)

                tx.branches[1].finish = unreachable
        assert info.value.decision == "commit"
        assert await balances(a) == {"alice": 1} and await balances(b) == {}
        report = await recover(a, b, log=a)
        assert report["committed"] == [f"{info.value.gid}_1"]
        assert await balances(b) == {"bob": 1}

    asyncio.run(go())


def test_tenancy_and_row_level_security_hold_inside(pg2pc):
    a = DataFlow(pg2pc.create_database(f"t_{uuid.uuid4().hex[:10]}", owner="dataflow_app"), namespace="orders",
                 multi_tenant=True, row_level_security=True)
    b = DataFlow(_new_pg(pg2pc), namespace="billing")
    declare(a)
    declare(b)

    async def go():
        async with a.tenant("acme"):
            async with distributed_transaction(a, b, log=b):
                await a.express.create("Account", {"name": "acme-1", "balance": 1})
                await b.express.create("Account", {"name": "for-acme", "balance": 1})
        async with a.tenant("globex"):
            assert await balances(a) == {}
            backend = await a.backend_for("Account")
            assert await backend.fetch(f"SELECT count(*) FROM {a.get_model('Account').table}", ()) == [(0,)]  # RLS
        async with a.tenant("acme"):
            assert await balances(a) == {"acme-1": 1}
        with pytest.raises(TenantRequiredError):
            async with distributed_transaction(a, b, log=b):
                await b.express.create("Account", {"name": "lost", "balance": 1})
                await a.express.create("Account", {"name": "no-tenant", "balance": 1})
        assert await balances(b) == {"for-acme": 1}

    try:
        asyncio.run(go())
    finally:
        a.close()
        b.close()


def _connections(server, database: str, timeout: float = 10.0) -> int:
    """Server connections to ``database`` once they have settled (a closed client's backend exits shortly after)."""
    deadline = time.monotonic() + timeout
    while True:
        count = int(server.psql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'").strip())
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


def test_a_log_given_as_a_url_is_closed_by_whoever_opened_it(pair, pg2pc):
    """``log=URL``: the DataFlow opened for the log is closed when the transaction ends, whichever way it ends."""
    log_url = _new_pg(pg2pc)
    log_name = log_url.rsplit("/", 1)[1]
    a, b = pair.a, pair.b

    async def go():
        async with distributed_transaction(a, b, log=log_url) as tx:
            await a.express.create("Account", {"name": "alice", "balance": 100})
            await b.express.create("Account", {"name": "bob", "balance": 50})
        assert tx.state == "committed" and tx.log.db.closed
        with pytest.raises(RuntimeError):
            async with distributed_transaction(a, b, log=log_url) as tx:
                await a.express.create("Account", {"name": "carol", "balance": 1})
                raise RuntimeError("boom")
        assert tx.log.db.closed
        assert (await recover(a, b, log=log_url))["committed"] == []

    asyncio.run(go())
    assert _connections(pg2pc, log_name) == 0
    with distributed_transaction_sync(a, b, log=log_url) as tx:
        b.express_sync.create("Account", {"name": "dave", "balance": 5})
    assert tx.log.db.closed and _connections(pg2pc, log_name) == 0
    assert a.express_sync.count("Account") == 1 and b.express_sync.count("Account") == 2
    assert int(pg2pc.psql("SELECT count(*) FROM dataflow_2pc_log WHERE decision = 'commit'", database=log_name)) == 2
    pg2pc.drop_database(log_name)
