"""The result cache: a List served from the cache vs from the database vs the raw driver, in one run.

    hatch run python benchmarks/cache_bench.py [--rows 20000] [--quick]

Starts a throwaway PostgreSQL and Redis, loads ``Person`` rows into SQLite and PostgreSQL, then measures
a filtered, ordered List (limit 20 and 100) through ``db.express``:

* SQLite, in-process cache: hit vs miss (``enable_cache=False``) vs the same SELECT through ``sqlite3``
  (target: a hit within 0.1 ms);
* PostgreSQL: in-process hit, Redis hit, miss, and the same SELECT through ``asyncpg`` (target: a Redis hit
  faster than the query);
* a skewed workload (Zipf over 200 distinct queries, 1 % writes): the hit ratio, in process and in Redis.

Medians of repeated calls; prints ratios, asserts nothing (docs/performance.md has the results).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import sqlite3
import statistics
import tempfile
import time
import warnings

import asyncpg
from dataflow import DataFlow
from dataflow_testing import PostgresServer, RedisServer
from people import declare_person, rows

warnings.filterwarnings("ignore")
FILTER = {"age": {"$gte": 30}, "active": True}
SQL = ("SELECT id, name, age, score, active, created_at, updated_at FROM {t} WHERE age >= {p1} AND active = {p2} "
       "ORDER BY score DESC, id LIMIT {p3}")


def median_us(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def lister(loop, db, limit, **kw):
    return lambda: loop.run_until_complete(db.express.list("Person", FILTER, limit=limit, order_by=["-score"], **kw))


def skewed(loop, db, ops: int) -> float:
    """Hit ratio of ``ops`` Lists over 200 queries drawn by Zipf (s = 1.1), one write per 100 reads."""
    rng = random.Random(7)
    weights = [1 / (i + 1) ** 1.1 for i in range(200)]
    before = db.cache.stats()
    for i in range(ops):
        q = rng.choices(range(200), weights)[0]
        if i % 100 == 99:
            loop.run_until_complete(db.express.update("Person", 1 + q, {"score": float(i)}))
        loop.run_until_complete(db.express.list("Person", {"age": q % 90, "active": q < 90}, limit=20, offset=q // 90))
    after = db.cache.stats()
    hits = after.get("hit", 0) - before.get("hit", 0)
    misses = after.get("miss", 0) - before.get("miss", 0)
    return hits / max(1, hits + misses)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 2_000 if args.quick else args.rows
    repeat = 30 if args.quick else 300
    ops = 500 if args.quick else 5_000
    loop = asyncio.new_event_loop()
    data = rows(n)
    report: list[tuple[str, float, float, str, str]] = []
    print(f"# cache_bench: {platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"{n} rows")
    with tempfile.TemporaryDirectory() as tmp, PostgresServer(vector=False) as pg, RedisServer() as redis_server:
        # --- SQLite, in process ---
        path = os.path.join(tmp, "bench.db")
        sdb = DataFlow(f"sqlite:///{path}", cache="memory")
        declare_person(sdb)
        sdb.express_sync.bulk_create("Person", data)
        raw = sqlite3.connect(path)
        table = sdb.get_model("Person").table
        for limit in (20, 100):
            sql = SQL.format(t=table, p1="?", p2="?", p3="?")
            t_raw = median_us(lambda sql=sql, limit=limit: raw.execute(sql, (30, 1, limit)).fetchall(), repeat)
            t_hit = median_us(lister(loop, sdb, limit), repeat)
            t_miss = median_us(lister(loop, sdb, limit, enable_cache=False), repeat)
            report.append((f"SQLite List {limit}: in-process hit vs raw sqlite3", t_hit, t_raw, "us", "hit <= 100 us"))
            report.append((f"SQLite List {limit}: miss vs raw sqlite3", t_miss, t_raw, "us", "info"))
        ratio_memory_sqlite = skewed(loop, sdb, ops)
        sdb.close()
        raw.close()
        # --- PostgreSQL: memory, Redis, none ---
        conn = loop.run_until_complete(asyncpg.connect(pg.url))
        mdb = DataFlow(pg.url, cache="memory")
        rdb = DataFlow(pg.url, cache=redis_server.url, namespace="shared")
        for db in (mdb, rdb):
            declare_person(db)
        loop.run_until_complete(mdb.express.bulk_create("Person", data))
        table = mdb.get_model("Person").table
        loop.run_until_complete(conn.execute(f"ANALYZE {table}"))
        for limit in (20, 100):
            sql = SQL.format(t=table, p1="$1", p2="$2", p3="$3")
            t_raw = median_us(
                lambda sql=sql, limit=limit: loop.run_until_complete(conn.fetch(sql, 30, True, limit)), repeat
            )
            t_mem = median_us(lister(loop, mdb, limit), repeat)
            t_redis = median_us(lister(loop, rdb, limit), repeat)
            t_miss = median_us(lister(loop, rdb, limit, enable_cache=False), repeat)
            report.append((f"PostgreSQL List {limit}: Redis hit vs raw asyncpg", t_redis, t_raw, "us", "< 1.0x"))
            report.append((f"PostgreSQL List {limit}: in-process hit vs raw asyncpg", t_mem, t_raw, "us", "info"))
            report.append((f"PostgreSQL List {limit}: miss (cache off) vs raw asyncpg", t_miss, t_raw, "us", "info"))
        ratio_memory_pg = skewed(loop, mdb, ops)
        ratio_redis_pg = skewed(loop, rdb, ops)
        errors = {k: v for k, v in rdb.cache.stats().items() if k.startswith("error")}
        for db in (mdb, rdb):
            db.close()
        loop.run_until_complete(conn.close())
    width = max(len(r[0]) for r in report)
    print(f"{'measure':<{width}}  {'dataflow':>10}  {'raw':>10}  ratio  unit  target")
    for name, ours, theirs, unit, target in report:
        print(f"{name:<{width}}  {ours:>10.1f}  {theirs:>10.1f}  {ours / theirs:5.2f}  {unit:<4}  {target}")
    print(
        f"skewed workload hit ratio (Zipf 1.1 over 200 queries, 1 write per 100): SQLite in-process "
        f"{ratio_memory_sqlite:.1%}, PostgreSQL in-process {ratio_memory_pg:.1%}, PostgreSQL Redis {ratio_redis_pg:.1%}"
    )
    print(f"Redis errors during the run: {errors or 'none'}; load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
