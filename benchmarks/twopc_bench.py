#!/usr/bin/env python
"""The cost of a distributed transaction: one update on each of two databases, committed with two-phase
commit, against the same two updates committed as two separate local transactions, measured in the same run.

    hatch run python benchmarks/twopc_bench.py              # two PostgreSQL databases (~1 min on 2 cores)
    hatch run python benchmarks/twopc_bench.py --mariadb    # PostgreSQL + MariaDB
    hatch run python benchmarks/twopc_bench.py --rounds 50  # fewer rounds

It starts its own PostgreSQL (``max_prepared_transactions=20``) and, with ``--mariadb``, a MariaDB. Every
round runs each variant once, interleaved; medians per transfer are reported, with ratios:

* ``local x2``: ``async with a.transaction()`` around the update on a, then the same on b (not atomic);
* ``2pc``: ``async with distributed_transaction(a, b, log=a)`` around both updates (prepare both, write the
  decision to the log, commit both prepared);
* ``raw local x2`` / ``raw 2pc``: the same statements on raw driver connections (asyncpg; aiomysql), the
  floor of each: BEGIN, UPDATE, COMMIT on each; or BEGIN/XA START, UPDATE, PREPARE on each, INSERT of the
  decision, COMMIT PREPARED on each.

No absolute thresholds: the numbers are this machine's, now.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages/testing/src"))

from dataflow import DataFlow, distributed_transaction  # noqa: E402
from dataflow_testing import MariaDBServer, PostgresServer  # noqa: E402


def declare(db: DataFlow) -> None:
    @db.model
    class Account:
        name: str
        balance: int


async def raw_pair(url_a: str, url_b: str, mariadb: bool):
    import asyncpg

    a = await asyncpg.connect(url_a)
    if not mariadb:
        b = await asyncpg.connect(url_b)
        return a, b
    import aiomysql
    from dataflow.urls import parse_url

    u = parse_url(url_b)
    b = await aiomysql.connect(host=u.host, port=u.port, user=u.username, password=u.password, db=u.database,
                               autocommit=True)
    return a, b


async def main(rounds: int, with_mariadb: bool) -> None:
    pg = PostgresServer(vector=False, settings={"max_prepared_transactions": 20})
    pg.start()
    maria = MariaDBServer() if with_mariadb else None
    try:
        url_a = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        if maria is not None:
            maria.start()
            name = f"bench_{uuid.uuid4().hex[:8]}"
            maria.sql(f"CREATE DATABASE {name}")
            url_b = maria.url_for(name)
        else:
            url_b = pg.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        a, b = DataFlow(url_a, namespace="a"), DataFlow(url_b, namespace="b")
        declare(a)
        declare(b)
        await a.express.create("Account", {"name": "x", "balance": 0})
        await b.express.create("Account", {"name": "y", "balance": 0})
        ta, tb = a.get_model("Account").table, b.get_model("Account").table
        upd_a = f"UPDATE {ta} SET balance = balance + 1 WHERE id = 1"
        upd_b = f"UPDATE {tb} SET balance = balance - 1 WHERE id = 1"
        ba, bb = await a.backend_for("Account"), await b.backend_for("Account")
        raw_a, raw_b = await raw_pair(url_a, url_b, maria is not None)
        n = 0

        async def local_x2():
            async with a.transaction():
                await ba.execute(upd_a, ())
            async with b.transaction():
                await bb.execute(upd_b, ())

        async def twopc():
            async with distributed_transaction(a, b, log=a):
                await ba.execute(upd_a, ())
                await bb.execute(upd_b, ())

        async def raw_b_exec(sql):
            if maria is None:
                await raw_b.execute(sql)
            else:
                async with raw_b.cursor() as cur:
                    await cur.execute(sql)

        async def raw_local_x2():
            async with raw_a.transaction():
                await raw_a.execute(upd_a)
            if maria is None:
                async with raw_b.transaction():
                    await raw_b.execute(upd_b)
            else:
                await raw_b.begin()
                await raw_b_exec(upd_b)
                await raw_b.commit()

        await raw_a.execute("CREATE TABLE IF NOT EXISTS raw_log (gid text PRIMARY KEY, decision text)")

        async def raw_twopc():
            nonlocal n
            n += 1
            gid = f"raw_{n}_{uuid.uuid4().hex[:8]}"
            await raw_a.execute("BEGIN")
            await raw_a.execute(upd_a)
            if maria is None:
                await raw_b.execute("BEGIN")
                await raw_b.execute(upd_b)
                await raw_a.execute(f"PREPARE TRANSACTION '{gid}_0'")
                await raw_b.execute(f"PREPARE TRANSACTION '{gid}_1'")
            else:
                await raw_b_exec(f"XA START '{gid}_1'")
                await raw_b_exec(upd_b)
                await raw_a.execute(f"PREPARE TRANSACTION '{gid}_0'")
                await raw_b_exec(f"XA END '{gid}_1'")
                await raw_b_exec(f"XA PREPARE '{gid}_1'")
            await raw_a.execute("INSERT INTO raw_log VALUES ($1, 'commit')", gid)
            await raw_a.execute(f"COMMIT PREPARED '{gid}_0'")
            await raw_b_exec(f"COMMIT PREPARED '{gid}_1'" if maria is None else f"XA COMMIT '{gid}_1'")

        variants = {"local x2": local_x2, "2pc": twopc, "raw local x2": raw_local_x2, "raw 2pc": raw_twopc}
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(5):  # warm-up
            for fn in variants.values():
                await fn()
        for _ in range(rounds):
            for name, fn in variants.items():
                started = time.perf_counter()
                await fn()
                times[name].append(time.perf_counter() - started)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        pair = "PostgreSQL + MariaDB" if maria is not None else "PostgreSQL + PostgreSQL (same server)"
        print(f"two-database transfer, {pair}, {rounds} rounds, median ms per transfer:")
        for name, ms in med.items():
            print(f"  {name:<14} {ms:8.2f} ms")
        print(
            f"  2pc / local x2          {med['2pc'] / med['local x2']:.2f}x  (the price of atomicity across databases)"
        )
        print(f"  raw 2pc / raw local x2  {med['raw 2pc'] / med['raw local x2']:.2f}x  (the protocol's own price)")
        print(f"  2pc / raw 2pc           {med['2pc'] / med['raw 2pc']:.2f}x  (DataFlow's overhead on the protocol)")
        print(f"  local x2 / raw local x2 {med['local x2'] / med['raw local x2']:.2f}x")
        total_a = (await a.express.read("Account", 1))["balance"]
        total_b = (await b.express.read("Account", 1))["balance"]
        assert total_a + total_b == 0, (total_a, total_b)
        await raw_a.close()
        if maria is None:
            await raw_b.close()
        else:
            raw_b.close()
        await a.close_async()
        await b.close_async()
    finally:
        pg.stop()
        if maria is not None:
            maria.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument(
        "--mariadb", action="store_true", help="PostgreSQL + MariaDB instead of two PostgreSQL databases"
    )
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.mariadb))
