"""Coordinator processes for tests/test_distributed_transactions.py, killed with SIGKILL on purpose.

They run in children of a multiprocessing forkserver that imported this module (and DataFlow) once, so a
worker starts in milliseconds. Each reports through ``conn`` (a Pipe end).

* :func:`park`: two transfers, stopped between the phases: the first with every branch prepared and no
  decision, the second with the decision 'commit' recorded and nothing committed; sends each id, then sleeps
  until killed.
* :func:`transfers`: random transfers for ``seconds`` between the accounts of the two databases, each a distributed
  transaction that also records the transfer on both sides; sends ``(committed, failed)`` at the end.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from dataflow import DataFlow
from dataflow.distributed import distributed_transaction
from dataflow.errors import DataFlowError

ACCOUNTS = 6


def open_pair(url_a: str, url_b: str) -> tuple[DataFlow, DataFlow]:
    dbs = []
    for url, ns in ((url_a, "orders"), (url_b, "billing")):
        db = DataFlow(url, namespace=ns)

        @db.model
        class Account:
            name: str
            balance: int

        @db.model
        class Transfer:
            ref: str
            amount: int

        dbs.append(db)
    return dbs[0], dbs[1]


async def add(db: DataFlow, account: int, delta: int) -> None:
    """``balance = balance + delta`` of account number ``account`` (id ``account + 1``) in one statement, by
    primary key: no read-modify-write race between workers, and InnoDB locks that one row only."""
    backend = await db.backend_for("Account")
    table = backend.quote(db.get_model("Account").table)
    await backend.execute(f"UPDATE {table} SET balance = balance + {int(delta)} WHERE id = {backend.placeholder(1)}",
                          (account + 1,))


def park(url_a: str, url_b: str, conn: Any) -> None:
    asyncio.run(_park(url_a, url_b, conn))


async def _park(url_a: str, url_b: str, conn: Any) -> None:
    a, b = open_pair(url_a, url_b)

    async def one(n: int, stop_at: str) -> None:
        async with distributed_transaction(a, b, log=a, coordinator="worker") as tx:
            async def parked(*_args: Any) -> None:
                conn.send(tx.gid)
                await asyncio.sleep(3600)

            setattr(tx, stop_at, parked)  # "decide": prepared, undecided; "commit_prepared": decided commit
            await add(a, n, -100)
            await add(b, n, 100)

    await asyncio.gather(one(0, "decide"), one(1, "commit_prepared"))


def transfers(url_a: str, url_b: str, seed: int, seconds: float, conn: Any) -> None:
    asyncio.run(_transfers(url_a, url_b, seed, seconds, conn))


async def _transfers(url_a: str, url_b: str, seed: int, seconds: float, conn: Any) -> None:
    a, b = open_pair(url_a, url_b)
    await a.initialize()
    await b.initialize()
    rng = random.Random(seed)
    committed = failed = 0
    conn.send("started")
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        amount = rng.randint(1, 20) * rng.choice((1, -1))  # > 0: money moves from b to a
        i, j = rng.randrange(ACCOUNTS), rng.randrange(ACCOUNTS)
        ref = f"w{seed}-{n}"
        try:
            async with distributed_transaction(a, b, log=a, coordinator=f"w{seed}", prepare_timeout=10,
                                               commit_timeout=10):
                # a first, then b, one row each: every worker locks in one order, so no cross-database deadlock
                await add(a, i, amount)
                await add(b, j, -amount)
                await a.express.create("Transfer", {"ref": ref, "amount": amount})
                await b.express.create("Transfer", {"ref": ref, "amount": -amount})
            committed += 1
        except DataFlowError:
            failed += 1
    conn.send((committed, failed))
    await a.close_async()
    await b.close_async()
