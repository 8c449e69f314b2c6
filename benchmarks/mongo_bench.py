#!/usr/bin/env python
"""DataFlow on MongoDB against raw pymongo, measured in the same run on the same server.

Every number is a ratio against a baseline this process measures a moment apart: no timed assertions, no
absolute thresholds. Targets are reported as met / NOT met.

    hatch run python benchmarks/mongo_bench.py             # full run: starts a SecantusDB in a temp dir
    hatch run python benchmarks/mongo_bench.py --quick     # smoke run (seconds)
    hatch run python benchmarks/mongo_bench.py --url mongodb://127.0.0.1:27017/   # an existing server
    hatch run python benchmarks/mongo_bench.py --json out.json

Measurements (each on a fresh database; sides alternate per repetition; best of the repetitions)
  1. BulkCreate docs/s: ``RowBulkCreateNode`` in a 1-node ``LocalRuntime`` workflow (build + execute;
     DataFlow validates every record, takes ids from its counter and writes in one transaction) vs
     pymongo's ``insert_many`` of the very documents DataFlow stores (``_id``, ISO timestamps), on a
     collection with the same indexes. Target: node >= 70 % of raw.
  2. BulkDocumentInsert docs/s: ``BulkDocumentInsertNode`` (1-node workflow; atomic by default: one
     transaction) vs ``insert_many`` of the same documents. Target: node >= 70 % of raw.
  3. List: ``{"qty": {"$gte": 500}, "active": True}``, ``order_by=["-score"]``, ``limit=100`` via
     ``db.express.list`` (async, one event loop) vs ``find`` of the compiled query with the same sort and
     limit + 1 through ``AsyncMongoClient`` (the driver DataFlow uses), decoding nothing; then the same for
     the selective ``{"qty": 7, "active": True}`` that an index serves, where the server's share is small and
     DataFlow's (compile, decode) shows. Target: List <= 1.3x raw (medians). The List node in a workflow is
     shown for information (kailash adds its fixed cost).

The server is SecantusDB (a MongoDB-wire server written in Python) unless ``--url`` names another one;
absolute numbers on it say little about a real mongod, the ratios say what DataFlow adds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import statistics
import sys
import time
import uuid
from typing import Any

from benchkit import UTC, machine_info, make_rows, pick, private_home, quiet_logging, verdict

MACHINE_KEYS = ("date", "cores", "platform", "python", "kailash", "pymongo", "server", "load average")
LIST_FILTER = {"qty": {"$gte": 500}, "active": True}
SELECTIVE_FILTER = {"qty": 7, "active": True}
LIST_ORDER = ["-score"]
LIST_LIMIT = 100
# name: (quick, full)
SIZES = {
    "bulk_docs": (2_000, 10_000),
    "bulk_reps": (2, 3),
    "list_docs": (3_000, 10_000),
    "list_iters": (8, 20),
}
TARGETS = {"bulk_create": 0.70, "bulk_document_insert": 0.70, "list": 1.3}


def size(name: str, quick: bool) -> Any:
    return pick(SIZES, name, quick)


def make_documents(n: int) -> list[dict]:
    stamp = dt.datetime(2024, 1, 1, tzinfo=UTC)
    return [{"name": f"doc-{i}", "qty": i % 1000, "tags": ["a", "b"][: i % 3], "meta": {"i": i, "even": i % 2 == 0},
             "at": stamp} for i in range(n)]


def open_dataflow(url: str):
    from dataflow import DataFlow

    db = DataFlow(url)

    @db.model
    class Row:
        name: str
        qty: int
        score: float
        active: bool = True
        __dataflow__ = {"indexes": [{"name": "ix_rows_score", "fields": ["score"]},
                                    {"name": "ix_rows_qty", "fields": ["qty"]}]}

    db.create_tables()
    return db


def run_workflow(node: str, params: dict) -> tuple[dict, float]:
    from kailash.runtime import LocalRuntime
    from kailash.workflow.builder import WorkflowBuilder

    with LocalRuntime() as rt:
        gc.collect()
        started = time.perf_counter()
        wf = WorkflowBuilder()
        wf.add_node(node, "n", params)
        results, _ = rt.execute(wf.build())
        return results["n"], time.perf_counter() - started


# --- 1. BulkCreate -----------------------------------------------------------------------------------------------


def bench_bulk_create(base: str, quick: bool) -> dict:
    import pymongo

    n, reps = size("bulk_docs", quick), size("bulk_reps", quick)
    node_times, raw_times = [], []
    for _ in range(reps):
        name = f"bench_{uuid.uuid4().hex[:8]}"
        db = open_dataflow(base + name)
        try:
            out, elapsed = run_workflow("RowBulkCreateNode", {"data": make_rows(n)})
            assert out["inserted"] == n
            node_times.append(elapsed)
            # the very documents DataFlow stored, into a twin collection with the same indexes
            client = pymongo.MongoClient(base + name)
            docs = list(client[name]["rows"].find())
            twin = client[name]["rows_raw"]
            twin.create_index([("score", 1)], name="ix_rows_score")
            twin.create_index([("qty", 1)], name="ix_rows_qty")
            gc.collect()
            started = time.perf_counter()
            twin.insert_many(docs, ordered=True)
            raw_times.append(time.perf_counter() - started)
            client.drop_database(name)
            client.close()
        finally:
            db.close()
    node, raw = n / min(node_times), n / min(raw_times)
    return {"docs": n, "node_docs_per_s": node, "raw_docs_per_s": raw, "ratio": node / raw}


# --- 2. BulkDocumentInsert ------------------------------------------------------------------------------------------


def bench_bulk_document_insert(base: str, quick: bool) -> dict:
    import pymongo

    n, reps = size("bulk_docs", quick), size("bulk_reps", quick)
    node_times, raw_times = [], []
    for _ in range(reps):
        name = f"bench_{uuid.uuid4().hex[:8]}"
        db = open_dataflow(base + name)
        client = pymongo.MongoClient(base + name, tz_aware=True)
        try:
            out, elapsed = run_workflow("BulkDocumentInsertNode", {"database": db, "collection": "events",
                                                                   "documents": make_documents(n)})
            assert out["inserted_count"] == n
            node_times.append(elapsed)
            docs = make_documents(n)
            gc.collect()
            started = time.perf_counter()
            client[name]["events_raw"].insert_many(docs, ordered=True)
            raw_times.append(time.perf_counter() - started)
            client.drop_database(name)
        finally:
            client.close()
            db.close()
    node, raw = n / min(node_times), n / min(raw_times)
    return {"docs": n, "node_docs_per_s": node, "raw_docs_per_s": raw, "ratio": node / raw,
            "atomic": out["atomic"]}


# --- 3. List ---------------------------------------------------------------------------------------------------------


def bench_list(base: str, quick: bool) -> dict:
    """Both List queries: the one of the issue (the server scans: SecantusDB has no index plan for it) and a
    selective one an index serves, where what DataFlow adds (compile, decode) is most visible."""
    import pymongo

    n, iters = size("list_docs", quick), size("list_iters", quick)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    db = open_dataflow(base + name)
    try:
        db.express_sync.bulk_create("Row", make_rows(n))
        out = {"docs": n}
        for key, flt in (("list", LIST_FILTER), ("selective", SELECTIVE_FILTER)):
            out[key] = _measure_list(db, base, name, flt, iters)
        return out
    finally:
        pymongo.MongoClient(base + name).drop_database(name)
        db.close()


def _measure_list(db: Any, base: str, name: str, flt: dict, iters: int) -> dict:
    import pymongo
    from dataflow.query import parse_filter, parse_order

    spec = db.get_model("Row")
    query = db.backend.where(spec, parse_filter(flt, spec))
    sort = [("_id" if o.field == "id" else o.field, -1 if o.descending else 1) for o in parse_order(LIST_ORDER, spec)]

    async def measure() -> tuple[list[float], list[float], int]:
        raw_client = pymongo.AsyncMongoClient(base + name)
        coll = raw_client[name]["rows"]
        ours, raws = [], []
        for _ in range(3):  # warm-up: clients, plans, caches
            await db.express.list("Row", flt, limit=LIST_LIMIT, order_by=LIST_ORDER)
            await coll.find(query, sort=sort, limit=LIST_LIMIT + 1).to_list(None)
        for i in range(iters):
            for side in ((0, 1) if i % 2 else (1, 0)):  # alternate which side goes first
                started = time.perf_counter()
                if side == 0:
                    rows = await db.express.list("Row", flt, limit=LIST_LIMIT, order_by=LIST_ORDER)
                    ours.append(time.perf_counter() - started)
                else:
                    docs = await coll.find(query, sort=sort, limit=LIST_LIMIT + 1).to_list(None)
                    raws.append(time.perf_counter() - started)
        assert len(rows) == min(LIST_LIMIT, len(docs))
        await raw_client.close()
        return ours, raws, len(rows)

    ours, raws, count = asyncio.run(measure())
    node_times = [run_workflow("RowListNode", {"filter": flt, "order_by": LIST_ORDER, "limit": LIST_LIMIT})[1]
                  for _ in range(max(3, iters // 4))]
    express, raw = statistics.median(ours), statistics.median(raws)
    return {"filter": flt, "rows": count, "express_ms": express * 1000, "raw_ms": raw * 1000, "ratio": express / raw,
            "node_ms": statistics.median(node_times) * 1000}


# --- main ------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of seconds")
    parser.add_argument("--url", help="an existing MongoDB server, e.g. mongodb://127.0.0.1:27017/ (default: start "
                                      "a SecantusDB)")
    parser.add_argument("--json", help="also write every number to this file")
    parser.add_argument("--real-home", action="store_true", help="let kailash track runs in the real ~/.kailash")
    args = parser.parse_args(argv)
    with private_home(args.real_home):  # kailash's run tracker gets a fresh HOME (see benchkit.private_home)
        return run(args)


def run(args: argparse.Namespace) -> int:
    quiet_logging()
    import pymongo
    from dataflow_testing import MongoServer

    server = MongoServer(url=args.url) if args.url else MongoServer()
    server.start()
    try:
        base = server.database_url("")
        info = machine_info(MACHINE_KEYS, {"pymongo": pymongo.version, "server": args.url or
                                           "SecantusDB (secantusdb, pure Python, WiredTiger)"})
        print("MongoDB benchmark: DataFlow vs raw pymongo, same server, same run")
        for key, value in info.items():
            print(f"  {key:<13} {value}")
        result: dict[str, Any] = {"machine": info, "quick": args.quick}
        started = time.perf_counter()
        result["bulk_create"] = bulk = bench_bulk_create(base, args.quick)
        print(f"\nBulkCreate ({bulk['docs']} docs, 1-node workflow vs insert_many of the stored documents)")
        print(f"  node {bulk['node_docs_per_s']:>10,.0f} docs/s   raw {bulk['raw_docs_per_s']:>10,.0f} docs/s   "
              f"= {bulk['ratio']:.0%} of raw (target >= {TARGETS['bulk_create']:.0%}: "
              f"{verdict(bulk['ratio'] >= TARGETS['bulk_create'])})")
        result["bulk_document_insert"] = docs = bench_bulk_document_insert(base, args.quick)
        print(f"\nBulkDocumentInsert ({docs['docs']} docs, atomic={docs['atomic']}, vs insert_many)")
        print(f"  node {docs['node_docs_per_s']:>10,.0f} docs/s   raw {docs['raw_docs_per_s']:>10,.0f} docs/s   "
              f"= {docs['ratio']:.0%} of raw (target >= {TARGETS['bulk_document_insert']:.0%}: "
              f"{verdict(docs['ratio'] >= TARGETS['bulk_document_insert'])})")
        result["list"] = lists = bench_list(base, args.quick)
        for key in ("list", "selective"):
            lst = lists[key]
            print(f"\nList {lst['filter']}, order_by {LIST_ORDER}, limit {LIST_LIMIT} on {lists['docs']} docs "
                  f"({lst['rows']} rows; medians)")
            print(f"  express {lst['express_ms']:.2f} ms   raw find {lst['raw_ms']:.2f} ms   = {lst['ratio']:.2f}x raw "
                  f"(target <= {TARGETS['list']}x: {verdict(lst['ratio'] <= TARGETS['list'])})")
            print(f"  List node in a 1-node LocalRuntime workflow (information): {lst['node_ms']:.2f} ms")
        print(f"\n(total {time.perf_counter() - started:.1f} s)")
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(result, fh, indent=2, default=str)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
