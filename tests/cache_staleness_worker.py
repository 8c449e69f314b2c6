"""One process of the cache staleness check (tests/test_cache_staleness.py): reads and writes shared rows
through DataFlow with the Redis cache on, logging every call with its start and end times.

    python cache_staleness_worker.py DB_URL REDIS_URL WORKER_NO GO_PATH SECONDS LOG_PATH

The worker writes ``LOG_PATH.ready`` once imported and connected, then waits for ``GO_PATH`` (holding the
monotonic start time), so the four processes overlap.

Rows ``Item`` (multi-tenant, string ids ``"<tenant>:<k>"``) exist before the workers start. Every write gives
``val`` a value no other write uses, so a read's value names the write it came from. Writes: express update,
upsert, bulk_update, bulk_upsert, a workflow with UpdateNode, transactions that commit, and transactions
that roll back (their values must never be read). Reads: express read, list, count, find_one, and the
Read and List nodes. ``time.monotonic()`` is one clock for every process on Linux.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time

from dataflow import DataFlow
from dataflow.errors import TransactionConflictError
from kailash.workflow.builder import WorkflowBuilder

TENANTS = ("acme", "globex")
KEYS = 6


class Rollback(Exception):
    pass


def declare(db: DataFlow) -> None:
    @db.model
    class Item:
        id: str
        k: int
        val: int
        __dataflow__ = {"multi_tenant": True}


async def main(url: str, redis_url: str, worker: int, go_path: str, seconds: float, path: str) -> None:
    db = DataFlow(url, cache=redis_url, cache_ttl=30)
    declare(db)
    rng = random.Random(worker)
    log: list[dict] = []
    counter = [0]

    def fresh() -> int:
        counter[0] += 1
        return worker * 10_000_000 + counter[0]

    def rid(tenant: str, k: int) -> str:
        return f"{tenant}:{k}"

    async def write(tenant: str) -> None:
        kind = rng.choice(["update", "upsert", "bulk_update", "bulk_upsert", "node_update", "tx_commit",
                           "tx_rollback", "tx_rollback"])
        keys = rng.sample(range(KEYS), 2)
        value = fresh()
        started = time.monotonic()
        committed = True
        rows = [rid(tenant, keys[0])]
        try:
            if kind == "update":
                await db.express.update("Item", rows[0], {"val": value})
            elif kind == "upsert":
                await db.express.upsert("Item", {"id": rows[0], "k": keys[0], "val": value})
            elif kind == "bulk_update":
                rows = [rid(tenant, k) for k in keys]
                await db.express.bulk_update("Item", filter={"k": {"$in": keys}}, fields={"val": value})
            elif kind == "bulk_upsert":
                rows = [rid(tenant, k) for k in keys]
                await db.express.bulk_upsert("Item", [{"id": r, "k": k, "val": value} for r, k in zip(rows, keys)])
            elif kind == "node_update":
                wf = WorkflowBuilder()
                wf.add_node("ItemUpdateNode", "u", {"id": rows[0], "val": value})
                await db.run_async(wf)
            elif kind == "tx_commit":
                rows = [rid(tenant, k) for k in keys]
                async with db.transaction():
                    for r in rows:
                        await db.express.update("Item", r, {"val": value})
                    await db.express.read("Item", rows[0])  # a read inside: never from the cache, never cached
            else:
                committed = False
                rows = [rid(tenant, k) for k in keys]
                try:
                    async with db.transaction():
                        await db.express.update("Item", rows[0], {"val": value})
                        await db.express.bulk_update("Item", filter={"k": keys[1]}, fields={"val": value})
                        await db.express.list("Item", {"k": {"$in": keys}})
                        raise Rollback
                except Rollback:
                    pass
        except TransactionConflictError:  # a deadlock between workers: rolled back, as the error says
            committed = False
        log.append({"w": kind, "tenant": tenant, "rows": rows, "val": value, "s": started, "e": time.monotonic(),
                    "committed": committed})

    async def read(tenant: str) -> None:
        kind = rng.choice(["read", "list", "list_all", "find_one", "count", "node_read", "node_list"])
        k = rng.randrange(KEYS)
        started = time.monotonic()
        seen: list[dict] = []
        if kind == "read":
            row = await db.express.read("Item", rid(tenant, k))
            seen = [row]
        elif kind == "list":
            seen = await db.express.list("Item", {"k": {"$in": [k, (k + 1) % KEYS]}}, order_by=["k"])
        elif kind == "list_all":
            seen = await db.express.list("Item", {"k": {"$lt": KEYS}}, order_by=["k"])
        elif kind == "find_one":
            seen = [await db.express.find_one("Item", {"k": k})]
        elif kind == "count":
            n = await db.express.count("Item", {"k": {"$lt": KEYS}})
            seen = [{"count": n}]
        elif kind == "node_read":
            wf = WorkflowBuilder()
            wf.add_node("ItemReadNode", "r", {"id": rid(tenant, k)})
            results, _ = await db.run_async(wf)
            seen = [{x: results["r"][x] for x in ("id", "k", "val", "tenant_id")}]
        else:
            wf = WorkflowBuilder()
            wf.add_node("ItemListNode", "l", {"filter": {"k": {"$gte": k}}, "order_by": ["k"], "limit": KEYS})
            results, _ = await db.run_async(wf)
            seen = results["l"]["records"]
        log.append({"r": kind, "tenant": tenant, "s": started, "e": time.monotonic(),
                    "rows": [{x: row.get(x) for x in ("id", "val", "tenant_id", "count")} for row in seen]})

    async with db.tenant(TENANTS[0]):  # connected, and the workflow runtime imported, before the start
        await db.express.count("Item", enable_cache=False)
        warm = WorkflowBuilder()
        warm.add_node("ItemCountNode", "c", {"enable_cache": False})
        await db.run_async(warm)
    with open(path + ".ready", "w"):
        pass
    give_up = time.monotonic() + 60
    while not os.path.exists(go_path):
        if time.monotonic() > give_up:
            raise SystemExit("no go file within 60 s")
        await asyncio.sleep(0.005)
    with open(go_path) as go:
        start_at = float(go.read())
    while time.monotonic() < start_at:
        await asyncio.sleep(0.002)
    deadline = start_at + seconds
    while time.monotonic() < deadline:
        tenant = rng.choice(TENANTS)
        async with db.tenant(tenant):
            if rng.random() < 0.2:
                await write(tenant)
            else:
                await read(tenant)
    stats = db.cache.stats()
    await db.close_async()
    with open(path, "w") as out:
        json.dump({"log": log, "stats": stats}, out)


if __name__ == "__main__":
    url, redis_url, worker, go_path, seconds, path = sys.argv[1:]
    asyncio.run(main(url, redis_url, int(worker), go_path, float(seconds), path))
