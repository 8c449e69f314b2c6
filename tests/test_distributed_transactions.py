"""Distributed transactions (two-phase commit) on real servers: two PostgreSQL databases, and PostgreSQL with
MariaDB. Commit, abort before the decision, a coordinator killed between prepare and commit then recovered,
a concurrent transfer checker with killed workers, kailash's TwoPhaseCommitCoordinatorNode, refusals."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from dataflow import DataFlow
from dataflow.distributed import (
    PreparedTransactionsDisabledError,
    PrepareFailedError,
    TwoPhaseUnsupportedError,
    distributed_transaction,
    distributed_transaction_sync,
    recover,
)
from dataflow_testing import PostgresServer


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


@pytest.fixture(params=["pg+pg", "pg+mariadb"])
def pair(request, pg2pc, url_mysql):
    p = Pair(_new_pg(pg2pc), _new_pg(pg2pc) if request.param == "pg+pg" else url_mysql)
    yield p
    p.a.close()
    p.b.close()


def test_commit_on_success(pair):
    asyncio.run(_commit_on_success(pair.a, pair.b))


async def _commit_on_success(a, b):
    async with distributed_transaction(a, b, log=a) as tx:
        await a.express.create("Account", {"name": "alice", "balance": 100})
        await b.express.create("Account", {"name": "bob", "balance": 50})
        assert tx.gid.startswith("df2pc_")
    assert await balances(a) == {"alice": 100}
    assert await balances(b) == {"bob": 50}
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


def _worker(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "distributed_worker.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == "READY":
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"worker exited: {proc.stderr.read()[-3000:]}")
    raise AssertionError("worker never got ready")


@pytest.mark.parametrize("where", ["prepared", "decided"])
def test_coordinator_killed_between_prepare_and_commit_then_recovered(pair, where):
    a, b = pair.a, pair.b
    a.express_sync.create("Account", {"name": "a0", "balance": 100})
    b.express_sync.create("Account", {"name": "b0", "balance": 100})
    proc = _worker("stop", pair.url_a, pair.url_b, where)
    try:
        _wait_ready(proc)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()

    async def go():
        in_doubt = [*await a.backend.two_phase().list_in_doubt("df2pc_"),
                    *await b.backend.two_phase().list_in_doubt("df2pc_")]
        assert len(in_doubt) == 2 and all("_worker_" in gid for gid in in_doubt)
        assert await balances(a) == {"a0": 100} and await balances(b) == {"b0": 100}  # not visible yet
        report = await recover(a, b, log=a)
        decided = "committed" if where == "decided" else "rolled_back"
        assert sorted(report[decided]) == sorted(in_doubt)
        expected = ({"a0": 0}, {"b0": 200}) if where == "decided" else ({"a0": 100}, {"b0": 100})
        assert (await balances(a), await balances(b)) == expected
        again = await recover(a, b, log=a)
        assert again["committed"] == again["rolled_back"] == []

    asyncio.run(go())
