"""A coordinator process for tests/test_distributed_transactions.py, killed with SIGKILL on purpose.

``python distributed_worker.py stop URL_A URL_B WHERE``: one transfer, then it stops at ``WHERE`` (``prepared``:
every branch prepared, no decision yet; ``decided``: decision 'commit' recorded, nothing committed), prints
``READY`` and sleeps until killed.

``python distributed_worker.py transfers URL_A URL_B SEED COUNT``: COUNT random transfers between the
accounts of the two databases, each a distributed transaction that also records the transfer on both
sides; prints ``DONE committed failed`` at the end.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from dataflow import DataFlow
from dataflow.distributed import DistributedTransaction, distributed_transaction
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


async def stop(url_a: str, url_b: str, where: str) -> None:
    a, b = open_pair(url_a, url_b)

    async def park(*_args, **_kwargs):
        print("READY", flush=True)
        await asyncio.sleep(3600)

    if where == "prepared":
        DistributedTransaction.decide = park
    else:
        DistributedTransaction.commit_prepared = park
    async with distributed_transaction(a, b, log=a, coordinator="worker"):
        await a.express.bulk_update("Account", filter={"name": "a0"}, fields={"balance": 0})
        await b.express.bulk_update("Account", filter={"name": "b0"}, fields={"balance": 200})


async def transfers(url_a: str, url_b: str, seed: int, count: int) -> None:
    a, b = open_pair(url_a, url_b)
    rng = random.Random(seed)
    committed = failed = 0
    for n in range(count):
        amount = rng.randint(1, 20)
        i, j = rng.randrange(ACCOUNTS), rng.randrange(ACCOUNTS)
        sign = rng.choice((1, -1))  # +: money moves from b to a; -: from a to b
        ref = f"w{seed}-{n}"
        try:
            async with distributed_transaction(a, b, log=a, coordinator=f"w{seed}", prepare_timeout=10,
                                               commit_timeout=10):
                # always a first, then b: one row each, in one order, so no cross-database deadlock
                await _add(a, f"a{i}", sign * amount)
                await _add(b, f"b{j}", -sign * amount)
                await a.express.create("Transfer", {"ref": ref, "amount": sign * amount})
                await b.express.create("Transfer", {"ref": ref, "amount": -sign * amount})
            committed += 1
        except DataFlowError:
            failed += 1
        time.sleep(0)
    print(f"DONE {committed} {failed}", flush=True)
    await a.close_async()
    await b.close_async()


async def _add(db: DataFlow, name: str, delta: int) -> None:
    backend = await db.backend_for("Account")
    table = backend.quote(db.get_model("Account").table)
    await backend.execute(f"UPDATE {table} SET balance = balance + {int(delta)} WHERE name = {backend.placeholder(1)}",
                          (name,))


if __name__ == "__main__":
    mode, url_a, url_b, *rest = sys.argv[1:]
    if mode == "stop":
        asyncio.run(stop(url_a, url_b, rest[0]))
    else:
        asyncio.run(transfers(url_a, url_b, int(rest[0]), int(rest[1])))
