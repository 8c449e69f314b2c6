"""Aggregates: a grouped sum through the node and express vs raw ``GROUP BY`` with the raw driver, in one run.

    hatch run python benchmarks/aggregate_bench.py [--rows 1000000] [--backend sqlite|postgres|all] [--quick]

The table ``Sale`` (region: 100 distinct values, qty: int, amount: Decimal) is filled through DataFlow's
BulkCreate; then, on the same table, the median of REPEATS alternating rounds of

* ``SaleAggregateNode {"group_by": "region", "aggregates": {"total": "sum:qty"}}`` in a 1-node workflow,
* ``db.express_sync.aggregate("Sale", {"total": "sum:qty"}, group_by="region")``,
* the raw driver (sqlite3 / asyncpg): ``SELECT region, SUM(qty) FROM … GROUP BY region``;

and, for information, the same for ``sum:amount`` (SQLite stores decimals as text: DataFlow sums them exactly
with a Python aggregate, where the raw ``SUM`` adds doubles; PostgreSQL sums ``numeric`` natively). Prints
ratios; asserts nothing. A temporary ``HOME`` keeps kailash's run tracker out of the way (see README).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from decimal import Decimal

from dataflow import DataFlow
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

REPEATS = 5
REGIONS = [f"region-{i:03d}" for i in range(100)]


def declare_sale(db: DataFlow) -> str:
    @db.model
    class Sale:
        region: str
        qty: int
        amount: Decimal

    return db.get_model("Sale").table


def fill(db: DataFlow, n: int) -> None:
    batch = 100_000
    for start in range(0, n, batch):
        db.express_sync.bulk_create(
            "Sale",
            [
                {
                    "region": REGIONS[i % 100],
                    "qty": (i * 7919) % 1000,
                    "amount": Decimal(f"{(i * 31) % 10000}.{i % 100:02d}"),
                }
                for i in range(start, min(n, start + batch))
            ],
        )


def node_call(rt: LocalRuntime, field: str) -> float:
    wf = WorkflowBuilder()
    wf.add_node("SaleAggregateNode", "n", {"group_by": "region", "aggregates": {"total": f"sum:{field}"}})
    built = wf.build()
    start = time.perf_counter()
    results, _ = rt.execute(built)
    assert len(results["n"]["groups"]) == 100
    return time.perf_counter() - start


def express_call(db: DataFlow, field: str) -> float:
    start = time.perf_counter()
    groups = db.express_sync.aggregate("Sale", {"total": f"sum:{field}"}, group_by="region")
    assert len(groups) == 100
    return time.perf_counter() - start


def rounds(contenders: dict, repeats: int) -> dict[str, float]:
    """Median seconds per contender over ``repeats`` rounds, the order rotating each round (one warm-up)."""
    names = list(contenders)
    for name in names:
        contenders[name]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(contenders[name]())
    return {n: statistics.median(t) for n, t in times.items()}


def report(backend: str, n: int, field: str, result: dict[str, float]) -> None:
    raw = result["raw"]
    print(f"{backend:9} sum:{field:6} over {n:,} rows, 100 groups: raw {raw * 1000:8.1f} ms | "
          f"node {result['node'] * 1000:8.1f} ms ({result['node'] / raw:.2f}x) | "
          f"express {result['express'] * 1000:8.1f} ms ({result['express'] / raw:.2f}x)")


def bench_sqlite(n: int, repeats: int) -> None:
    folder = tempfile.mkdtemp(prefix="dataflow-agg-bench-")
    path = os.path.join(folder, "bench.db")
    db = DataFlow(f"sqlite:///{path}")
    table = declare_sale(db)
    started = time.perf_counter()
    fill(db, n)
    print(f"sqlite    loaded {n:,} rows in {time.perf_counter() - started:.1f} s ({sqlite3.sqlite_version})")
    raw = sqlite3.connect(path)

    def raw_call(column: str) -> float:
        start = time.perf_counter()
        rows = raw.execute(f'SELECT region, SUM({column}) FROM "{table}" GROUP BY region').fetchall()
        assert len(rows) == 100
        return time.perf_counter() - start

    with LocalRuntime() as rt:
        for field in ("qty", "amount"):
            report("sqlite", n, field, rounds({"raw": lambda f=field: raw_call(f),
                                               "node": lambda f=field: node_call(rt, f),
                                               "express": lambda f=field: express_call(db, f)}, repeats))
    raw.close()
    db.close()


def bench_postgres(n: int, repeats: int) -> None:
    import asyncpg
    from dataflow_testing import PostgresServer

    loop = asyncio.new_event_loop()
    with PostgresServer(vector=False) as pg:
        db = DataFlow(pg.url)
        table = declare_sale(db)
        started = time.perf_counter()
        fill(db, n)
        print(f"postgres  loaded {n:,} rows in {time.perf_counter() - started:.1f} s")
        conn = loop.run_until_complete(asyncpg.connect(pg.url))
        loop.run_until_complete(conn.execute(f'ANALYZE "{table}"'))

        def raw_call(column: str) -> float:
            start = time.perf_counter()
            rows = loop.run_until_complete(conn.fetch(f'SELECT region, SUM({column}) FROM "{table}" GROUP BY region'))
            assert len(rows) == 100
            return time.perf_counter() - start

        with LocalRuntime() as rt:
            for field in ("qty", "amount"):
                report("postgres", n, field, rounds({"raw": lambda f=field: raw_call(f),
                                                     "node": lambda f=field: node_call(rt, f),
                                                     "express": lambda f=field: express_call(db, f)}, repeats))
        loop.run_until_complete(conn.close())
        db.close()
    loop.close()


def quiet_logging() -> None:
    """kailash's INFO records are still built (as in an application with default logging), not printed."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.ERROR)
    logging.getLogger().addHandler(handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="100,000 rows, 3 rounds")
    args = parser.parse_args()
    n = 100_000 if args.quick else args.rows
    repeats = 3 if args.quick else REPEATS
    os.environ["HOME"] = tempfile.mkdtemp(prefix="dataflow-bench-home-")
    quiet_logging()
    load = os.getloadavg()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load[0]:.1f}, "
          f"Python {platform.python_version()}, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")
    if args.backend in ("sqlite", "all"):
        bench_sqlite(n, repeats)
    if args.backend in ("postgres", "all"):
        bench_postgres(n, repeats)


if __name__ == "__main__":
    main()
