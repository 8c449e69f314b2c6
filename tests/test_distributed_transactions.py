"""Distributed transactions (two-phase commit) on real servers: two PostgreSQL databases, and PostgreSQL with
MariaDB. Commit, abort before the decision, a coordinator killed between prepare and commit then recovered,
a concurrent transfer checker with killed workers, kailash's TwoPhaseCommitCoordinatorNode, refusals."""

from __future__ import annotations

import asyncio
import uuid

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


def declare(db: DataFlow) -> None:
    @db.model
    class Account:
        name: str
        balance: int


async def balances(db: DataFlow) -> dict[str, int]:
    rows = (await db.express.list("Account", limit=1000))
    return {r["name"]: r["balance"] for r in rows}


@pytest.fixture(params=["pg+pg", "pg+mariadb"])
def pair(request, pg2pc, url_mysql):
    a = DataFlow(_new_pg(pg2pc), namespace="orders")
    b = DataFlow(_new_pg(pg2pc) if request.param == "pg+pg" else url_mysql, namespace="billing")
    declare(a)
    declare(b)
    yield a, b
    a.close()
    b.close()


def test_commit_on_success(pair):
    asyncio.run(_commit_on_success(*pair))


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
    asyncio.run(_exception_aborts_everywhere(*pair))


async def _exception_aborts_everywhere(a, b):
    with pytest.raises(RuntimeError):
        async with distributed_transaction(a, b, log=a):
            await a.express.create("Account", {"name": "alice", "balance": 100})
            await b.express.create("Account", {"name": "bob", "balance": 50})
            raise RuntimeError("boom")
    assert await balances(a) == {} and await balances(b) == {}
