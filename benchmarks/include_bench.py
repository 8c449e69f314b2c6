#!/usr/bin/env python
"""``include`` against a hand-written join with the raw driver, measured in the same run.

A List of 1,000 parents (``Author``) with their ~10 children each (``Book``, 10,000 rows), nested as
``[{..., "books": [{...}, ...]}, ...]``, three ways:

* **include**: ``db.express_sync.list("Author", limit=1000, include=["books"])`` (async express on PostgreSQL):
  DataFlow's batched ``IN`` (two statements);
* **raw join**: one ``LEFT JOIN`` through the raw driver (``sqlite3`` / ``asyncpg``), rows grouped into the same
  nested dicts in Python;
* **raw IN** (informational): the same two statements DataFlow runs, through the raw driver.

Target (issue 19): include <= 1.5x the raw join. Medians of interleaved rounds, after warm-up; no timed
assertions anywhere.

    hatch run python benchmarks/include_bench.py              # SQLite, then PostgreSQL (a throwaway server)
    hatch run python benchmarks/include_bench.py --sqlite     # SQLite only
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from dataflow import DataFlow

PARENTS, CHILDREN_EACH, ROUNDS = 1000, 10, 15
JOIN = ("SELECT a.id, a.name, a.country, b.id, b.title, b.pages, b.author_id FROM authors a "
        "LEFT JOIN books b ON b.author_id = a.id WHERE a.id IN (SELECT id FROM authors ORDER BY id LIMIT {n}) "
        "ORDER BY a.id, b.id")


def declare(db: DataFlow) -> None:
    @db.model
    class Author:
        name: str
        country: str
        __dataflow__ = {"timestamps": False}

    @db.model
    class Book:
        title: str
        pages: int
        author_id: int
        __dataflow__ = {"timestamps": False, "relations": {
            "author": {"references": "Author", "field": "author_id", "related_name": "books"}}}


def load(db: DataFlow) -> None:
    x = db.express_sync
    x.bulk_create("Author", [{"id": i, "name": f"author {i}", "country": "UK"} for i in range(1, PARENTS + 1)])
    x.bulk_create("Book", [{"id": i, "title": f"book {i}", "pages": 100 + i % 300, "author_id": 1 + i % PARENTS}
                           for i in range(1, PARENTS * CHILDREN_EACH + 1)])


def nest(rows: list[tuple]) -> list[dict]:
    """Join rows → parents with their children, as a user would write it."""
    out: list[dict] = []
    last = None
    for aid, name, country, bid, title, pages, author_id in rows:
        if aid != last:
            parent = {"id": aid, "name": name, "country": country, "books": []}
            out.append(parent)
            last = aid
        if bid is not None:
            parent["books"].append({"id": bid, "title": title, "pages": pages, "author_id": author_id})
    return out


def nest_in(parents: list[tuple], children: list[tuple]) -> list[dict]:
    out = [{"id": a, "name": n, "country": c, "books": []} for a, n, c in parents]
    by_id = {p["id"]: p["books"] for p in out}
    for bid, title, pages, author_id in children:
        by_id[author_id].append({"id": bid, "title": title, "pages": pages, "author_id": author_id})
    return out


def median_ms(fns: dict[str, Callable[[], Any]], rounds: int = ROUNDS) -> dict[str, float]:
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(rounds):
        order = list(fns.items()) if i % 2 == 0 else list(reversed(fns.items()))
        for name, fn in order:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) * 1000 for k, v in times.items()}


def check_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == PARENTS and sum(len(p["books"]) for p in a) == PARENTS * CHILDREN_EACH
    assert a == b, "include and the raw join disagree"


def report(backend: str, result: dict[str, float]) -> None:
    ratio = result["include"] / result["raw join"]
    print(
        f"{backend}: include {result['include']:.1f} ms | raw join {result['raw join']:.1f} ms | raw IN (2 statements) "
        f"{result['raw IN']:.1f} ms | include / raw join = {ratio:.2f}x (target <= 1.5x: "
        f"{'met' if ratio <= 1.5 else 'NOT met'}) | raw IN / raw join = {result['raw IN'] / result['raw join']:.2f}x"
    )


def bench_sqlite() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.db")
        db = DataFlow(f"sqlite:///{path}")
        declare(db)
        load(db)
        raw = sqlite3.connect(path, isolation_level=None)

        def include() -> list[dict]:
            return db.express_sync.list("Author", limit=PARENTS, include=["books"])

        def raw_join() -> list[dict]:
            return nest(raw.execute(JOIN.format(n=PARENTS)).fetchall())

        def raw_in() -> list[dict]:
            parents = raw.execute("SELECT id, name, country FROM authors ORDER BY id LIMIT ?", (PARENTS,)).fetchall()
            ids = [p[0] for p in parents]
            children = raw.execute("SELECT id, title, pages, author_id FROM books WHERE author_id IN (SELECT value "
                                   "FROM json_each(?)) ORDER BY id", (str(ids),)).fetchall()
            return nest_in(parents, children)

        check_same(include(), raw_join())
        check_same(raw_in(), raw_join())
        report("sqlite", median_ms({"include": include, "raw join": raw_join, "raw IN": raw_in}))
        raw.close()
        db.close()


def bench_postgres() -> None:
    import asyncpg
    from dataflow_testing import PostgresServer

    with PostgresServer(vector=False) as pg:
        loop = asyncio.new_event_loop()
        db = DataFlow(pg.url)
        declare(db)
        load(db)
        conn = loop.run_until_complete(asyncpg.connect(pg.url))

        async def include() -> list[dict]:
            return await db.express.list("Author", limit=PARENTS, include=["books"])

        async def raw_join() -> list[dict]:
            return nest([tuple(r) for r in await conn.fetch(JOIN.format(n="$1"), PARENTS)])

        async def raw_in() -> list[dict]:
            parents = [tuple(r) for r in await conn.fetch("SELECT id, name, country FROM authors ORDER BY id LIMIT $1",
                                                          PARENTS)]
            children = await conn.fetch("SELECT id, title, pages, author_id FROM books WHERE author_id = ANY($1) "
                                        "ORDER BY id", [p[0] for p in parents])
            return nest_in(parents, [tuple(r) for r in children])

        def sync(fn: Callable[[], Any]) -> Callable[[], Any]:
            return lambda: loop.run_until_complete(fn())

        fns = {"include": sync(include), "raw join": sync(raw_join), "raw IN": sync(raw_in)}
        check_same(fns["include"](), fns["raw join"]())
        report("postgres", median_ms(fns))
        loop.run_until_complete(conn.close())
        loop.run_until_complete(db.close_async())
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", action="store_true", help="SQLite only (no PostgreSQL server)")
    args = parser.parse_args()
    print(f"{PARENTS} parents x {CHILDREN_EACH} children, median of {ROUNDS} interleaved rounds; python "
          f"{sys.version.split()[0]}")
    bench_sqlite()
    if not args.sqlite:
        bench_postgres()


if __name__ == "__main__":
    main()
