"""A runtime per call vs a reused one: the same filtered List on PostgreSQL and MariaDB, in one run.

    hatch run python benchmarks/runtime_reuse_bench.py [--rounds 200] [--quick]

Web handlers often create ``LocalRuntime()`` (or run ``AsyncLocalRuntime`` under ``asyncio.run``) per
request, each with a new event loop. Connections belong to a loop, so without DataFlow's I/O thread every
such call would open a new connection. Measured per path, median of ``--rounds`` calls after a warm-up:

* ``reused``: one ``LocalRuntime`` for every call (its loop soon gets its own pool);
* ``per call``: ``with LocalRuntime() as rt`` around each call (statements go to the I/O thread's pool);
* the same two with ``AsyncLocalRuntime`` (per call: ``asyncio.run`` with a new runtime each time);
* ``raw``: the same SELECT through asyncpg / aiomysql on one open connection.

Prints ratios (target: a runtime per call ≤ 1.2× a reused one); asserts nothing. Self-contained: it starts
throwaway servers (embedded PostgreSQL, MariaDB) and points kailash's run tracking at a temporary HOME.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
os.environ["HOME"] = tempfile.mkdtemp(prefix="dataflow-bench-home-")  # kailash tracking: fresh, unshared

from dataflow import DataFlow  # noqa: E402
from dataflow_testing import MariaDBServer, PostgresServer  # noqa: E402
from kailash.runtime import AsyncLocalRuntime, LocalRuntime  # noqa: E402
from kailash.workflow.builder import WorkflowBuilder  # noqa: E402

ROWS = 10_000
FILTER = {"category": "c3", "qty": {"$gte": 500}}
LIMIT = 20


def declare(db: DataFlow) -> None:
    @db.model
    class Item:
        name: str
        qty: int
        category: str
        __dataflow__ = {"indexes": [{"name": "ix_item_category", "fields": ["category"]}]}


def median_ms(paths: dict, rounds: int) -> dict[str, float]:
    """Median milliseconds of each path, the paths taking turns call by call (drift hits all alike), after a
    warm-up long enough for a reused runtime's loop to get its own pool (``dataflow.pools.PROMOTE_AFTER``)."""
    try:
        from dataflow.pools import PROMOTE_AFTER
    except ImportError:  # a DataFlow from before the I/O thread: every loop has its own pool at once
        PROMOTE_AFTER = 0  # noqa: N806
    for call in paths.values():
        for _ in range(max(3, rounds // 10, PROMOTE_AFTER + 5)):
            call()
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, call in paths.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1000 for name, t in times.items()}


def register_trivial_node() -> str:
    """A minimal kailash node: what any 1-node workflow costs, with a reused runtime or a new one."""
    from kailash.nodes.base import Node, NodeRegistry

    class BenchTrivialNode(Node):
        def get_parameters(self) -> dict:
            return {}

        def run(self, **kwargs) -> dict:
            return {"ok": 1}

    NodeRegistry.register(BenchTrivialNode, alias="BenchTrivialNode", allow_override=True)
    return "BenchTrivialNode"


def runtime_paths(workflow, check) -> dict:
    """The four ways to run ``workflow``: Local/AsyncLocalRuntime, reused or created per call."""
    reused = LocalRuntime()
    loop = asyncio.new_event_loop()
    async_runtime = AsyncLocalRuntime()

    def local_per_call() -> None:
        with LocalRuntime() as runtime:
            check(runtime.execute(workflow)[0])

    async def async_once():
        async with AsyncLocalRuntime() as runtime:
            return await runtime.execute_workflow_async(workflow, inputs={})

    return {
        "LocalRuntime reused": lambda: check(reused.execute(workflow)[0]),
        "LocalRuntime per call": local_per_call,
        "AsyncLocalRuntime reused": lambda: check(loop.run_until_complete(
            async_runtime.execute_workflow_async(workflow, inputs={}))[0]),
        "AsyncLocalRuntime per call": lambda: check(asyncio.run(async_once())[0]),
    }


def kailash_only(rounds: int) -> dict[str, float]:
    builder = WorkflowBuilder()
    builder.add_node(register_trivial_node(), "noop", {})
    return median_ms(runtime_paths(builder.build(), lambda results: None), rounds)


def measure(url: str, raw_connect, raw_fetch, rounds: int) -> dict[str, float]:
    db = DataFlow(url)
    declare(db)
    if db.express_sync.count("Item") == 0:
        db.express_sync.bulk_create("Item", [{"name": f"item{i}", "qty": i % 1000, "category": f"c{i % 10}"}
                                             for i in range(ROWS)])
    builder = WorkflowBuilder()
    builder.add_node("ItemListNode", "list", {"filter": FILTER, "order_by": ["qty"], "limit": LIMIT})
    workflow = builder.build()

    def check(results: dict) -> None:
        assert len(results["list"]["records"]) == LIMIT, results

    sql, params = raw_sql(db)
    loop = asyncio.new_event_loop()
    conn = loop.run_until_complete(raw_connect())

    def raw() -> None:
        assert len(loop.run_until_complete(raw_fetch(conn, sql, params))) == LIMIT + 1  # the List asks one more

    out = median_ms({"raw": raw, **runtime_paths(workflow, check)}, rounds)
    stats = getattr(db.backend, "pool_stats", dict)()
    out["pools"], out["connections"] = stats.get("pools", "?"), stats.get("size", "?")
    loop.run_until_complete(raw_close(conn))
    loop.close()
    db.close()
    return out


def raw_sql(db: DataFlow) -> tuple[str, list]:
    """The SELECT the List node runs (as the backend compiles it), with its parameters."""
    backend = db.backend
    seen: list[tuple[str, list]] = []
    fetch = backend.fetch

    def recording(sql, params, **options):
        seen.append((sql, list(params)))
        return fetch(sql, params, **options)

    backend.fetch = recording
    try:
        db.express_sync.list("Item", FILTER, limit=LIMIT, order_by=["qty"])
    finally:
        del backend.fetch
    return next((sql, params) for sql, params in seen if sql.lstrip().upper().startswith("SELECT"))


async def raw_close(conn) -> None:
    result = conn.close()
    if asyncio.iscoroutine(result):
        await result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rounds = 30 if args.quick else args.rounds
    import aiomysql
    import asyncpg

    logging.disable(logging.INFO)  # kailash logs every node at INFO
    baseline = kailash_only(rounds)
    print(
        f"{platform.processor() or platform.machine()} | {os.cpu_count()} CPUs | Python {platform.python_version()} | "
        f"load {os.getloadavg()[0]:.2f} at start | median of {rounds} calls"
    )
    results = {}
    with PostgresServer(vector=False) as pg:
        async def pg_fetch(conn, sql, params):
            return await conn.fetch(sql, *params)

        results["PostgreSQL"] = measure(pg.url, lambda: asyncpg.connect(pg.url), pg_fetch, rounds)
    with MariaDBServer() as maria:
        from dataflow.urls import parse_url

        url = parse_url(maria.url)

        async def my_connect():
            return await aiomysql.connect(host=url.host, port=url.port, user=url.username, password=url.password,
                                          db=url.database, autocommit=True)

        async def my_fetch(conn, sql, params):
            async with conn.cursor() as cur:
                await cur.execute(sql, tuple(params))
                return await cur.fetchall()

        results["MariaDB"] = measure(maria.url, my_connect, my_fetch, rounds)
    print(f"{'backend':<11} {'path':<27} {'ms':>8} {'vs reused':>10} {'vs raw':>8}")
    for backend, out in [("kailash only", baseline), *results.items()]:
        for runtime in ("LocalRuntime", "AsyncLocalRuntime"):
            reused = out[f"{runtime} reused"]
            for kind in ("reused", "per call"):
                ms = out[f"{runtime} {kind}"]
                versus_raw = f"{ms / out['raw']:7.2f}x" if "raw" in out else ""
                print(f"{backend:<11} {runtime + ' ' + kind:<27} {ms:8.3f} {ms / reused:9.2f}x {versus_raw}")
            if "raw" in out:
                extra = (out[f"{runtime} per call"] - reused) - (
                    baseline[f"{runtime} per call"] - baseline[f"{runtime} reused"]
                )
                print(
                    f"{backend:<11} {runtime + ' per call: DataFlow extra':<27} {extra:+8.3f} ms beyond kailash's own"
                )
        if "raw" in out:
            print(f"{backend:<11} {'raw driver':<27} {out['raw']:8.3f}")
            print(f"{backend:<11} pools at the end: {out['pools']}, connections: {out['connections']}")
    print("target: per call <= 1.20x reused; "
          f"load {os.getloadavg()[0]:.2f} at the end (2 cores: above ~1.5 the numbers are noisy)")


if __name__ == "__main__":
    main()
