"""Bulk writes: each bulk node against the best raw set-based statement on the same server, in one run.

    hatch run python benchmarks/bulk_bench.py --backend sqlite|postgres|mariadb|mongo [--rows 100000]

Two identical tables (the ``Person`` model and its twin ``Twin``, unique on name) hold the same N rows; the
node writes one through a one-node ``LocalRuntime`` workflow, the raw driver writes the other:

* BulkUpdate, a different ``age``/``score`` per record, by id;
* BulkUpsert, half the records existing (changed), half new;
* BulkDelete by ids (every row);
* sync: N incoming records, 50 % changed, 30 % new, 20 % unchanged, through BulkUpsert vs the raw merge;
* PostgreSQL only: BulkCreate of a multi-tenant model as an ordinary role, row-level security on vs off;
* List of 10k rows through a one-node workflow vs ``db.express_sync.list`` (and with ``enable_monitoring=False``,
  and through ``AsyncLocalRuntime`` vs ``await db.express.list``).

The raw statements: SQLite ``executemany`` in one transaction (``UPDATE … WHERE id = ?``, ``INSERT … ON CONFLICT``)
and ``DELETE … WHERE id IN (SELECT value FROM json_each(?))``; PostgreSQL one statement from ``unnest`` arrays
(``UPDATE … FROM``, ``INSERT … SELECT … ON CONFLICT``) and ``DELETE … WHERE id = ANY($1)``; MariaDB
``UPDATE … JOIN`` a ``UNION ALL`` derived table, multi-row ``ON DUPLICATE KEY UPDATE`` and ``DELETE … IN`` per
2,000 rows; MongoDB one ``bulk_write`` / ``delete_many``. Prints ratios (dataflow rows/s / raw rows/s); asserts
only that each node did what it was asked.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import sqlite3
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from dataflow import DataFlow
from kailash.runtime import AsyncLocalRuntime, LocalRuntime
from kailash.workflow.builder import WorkflowBuilder
from people import rows, run_node

warnings.filterwarnings("ignore")
CHUNK = 2000


def declare(db: DataFlow) -> None:
    for name in ("Person", "Twin"):
        fields = {"name": str, "age": int, "score": float, "active": bool}
        cls = type(name, (), {"__annotations__": fields, "active": True, "__dataflow__": {
            "indexes": [{"name": f"ux_{name.lower()}_name", "fields": ["name"], "unique": True}]}})
        db.model(cls)


def upsert_data(n: int, new_from: int) -> list[dict]:
    """Half existing (score changed), half new."""
    data = rows(n)
    half = n // 2
    out = [{**r, "score": r["score"] + 1} for r in data[:half]]
    out += [{**r, "name": f"new{new_from + i:07d}"} for i, r in enumerate(data[half:])]
    return out


def sync_data(n: int) -> list[dict]:
    """50 % changed, 20 % unchanged, 30 % new."""
    data = rows(n)
    changed, same = n // 2, n // 5
    out = [{**r, "age": r["age"] + 1} for r in data[:changed]] + data[changed : changed + same]
    out += [{**r, "name": f"sync{i:07d}"} for i, r in enumerate(data[changed + same :])]
    return out


# --- raw drivers -----------------------------------------------------------------------------------------------


class RawSQLite:
    label = "SQLite (file, WAL off)"

    def __init__(self, path: str, table: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.t = table

    def ids(self) -> list[int]:
        return [r[0] for r in self.conn.execute(f"SELECT id FROM {self.t} ORDER BY id")]

    def _tx(self, fn) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        fn()
        self.conn.execute("COMMIT")

    def update(self, data: list[dict], stamp: dt.datetime) -> None:
        s = stamp.isoformat()
        self._tx(lambda: self.conn.executemany(f"UPDATE {self.t} SET age = ?, score = ?, updated_at = ? WHERE id = ?",
                                               [(r["age"], r["score"], s, r["id"]) for r in data]))

    def upsert(self, data: list[dict], stamp: dt.datetime) -> None:
        s = stamp.isoformat()
        self._tx(
            lambda: self.conn.executemany(
                f"INSERT INTO {self.t} (name, age, score, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET age = excluded.age, score = excluded.score, active = "
                "excluded.active, "
                "updated_at = excluded.updated_at",
                [(r["name"], r["age"], r["score"], int(r["active"]), s, s) for r in data],
            )
        )

    def delete(self, ids: list[int]) -> None:
        self._tx(lambda: self.conn.execute(f"DELETE FROM {self.t} WHERE id IN (SELECT value FROM json_each(?))",
                                           (json.dumps(ids),)))

    def close(self) -> None:
        self.conn.close()


class RawPostgres:
    label = "PostgreSQL 18 (embedded, fsync off)"

    def __init__(self, url: str, table: str, loop: asyncio.AbstractEventLoop) -> None:
        import asyncpg

        self.loop, self.t = loop, table
        self.conn = loop.run_until_complete(asyncpg.connect(url))

    def run(self, sql: str, *args: Any) -> Any:
        return self.loop.run_until_complete(self.conn.execute(sql, *args))

    def ids(self) -> list[int]:
        return [r[0] for r in self.loop.run_until_complete(self.conn.fetch(f"SELECT id FROM {self.t} ORDER BY id"))]

    def update(self, data: list[dict], stamp: dt.datetime) -> None:
        self.run(f"UPDATE {self.t} AS t SET age = v.age, score = v.score, updated_at = $4 "
                 "FROM unnest($1::bigint[], $2::bigint[], $3::float8[]) AS v(id, age, score) WHERE t.id = v.id",
                 [r["id"] for r in data], [r["age"] for r in data], [r["score"] for r in data], stamp)

    def upsert(self, data: list[dict], stamp: dt.datetime) -> None:
        n = len(data)
        self.run(f"INSERT INTO {self.t} (name, age, score, active, created_at, updated_at) "
                 "SELECT * FROM unnest($1::text[], $2::bigint[], $3::float8[], $4::bool[], $5::timestamptz[], "
                 "$6::timestamptz[]) ON CONFLICT (name) DO UPDATE SET age = EXCLUDED.age, score = EXCLUDED.score, "
                 "active = EXCLUDED.active, updated_at = EXCLUDED.updated_at",
                 [r["name"] for r in data], [r["age"] for r in data], [r["score"] for r in data],
                 [r["active"] for r in data], [stamp] * n, [stamp] * n)

    def delete(self, ids: list[int]) -> None:
        self.run(f"DELETE FROM {self.t} WHERE id = ANY($1::bigint[])", ids)

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())


class RawMariaDB:
    label = "MariaDB (throwaway, /dev/shm)"

    def __init__(self, server: Any, table: str, loop: asyncio.AbstractEventLoop) -> None:
        import pymysql

        self.loop, self.t = loop, table
        self.conn = pymysql.connect(host="127.0.0.1", port=server.port, user=server.user, password=server.password,
                                    database=server.database, charset="utf8mb4", autocommit=False)
        self.cur = self.conn.cursor()

    def ids(self) -> list[int]:
        self.cur.execute(f"SELECT id FROM {self.t} ORDER BY id")
        ids = [r[0] for r in self.cur.fetchall()]
        self.conn.commit()
        return ids

    def _chunks(self, items: list, fn) -> None:
        for start in range(0, len(items), CHUNK):
            self.cur.execute(fn(items[start : start + CHUNK]))
        self.conn.commit()

    def update(self, data: list[dict], stamp: dt.datetime) -> None:
        e = self.conn.escape
        s = e(stamp.replace(tzinfo=None))

        def sql(part):
            first, *rest = part
            derived = " UNION ALL ".join(
                [f"SELECT {first['id']} AS id, {first['age']} AS age, {e(first['score'])} AS score"]
                + [f"SELECT {r['id']}, {r['age']}, {e(r['score'])}" for r in rest]
            )
            return (f"UPDATE {self.t} JOIN ({derived}) AS v ON {self.t}.id = v.id "
                    f"SET {self.t}.age = v.age, {self.t}.score = v.score, {self.t}.updated_at = {s}")

        self._chunks(data, sql)

    def upsert(self, data: list[dict], stamp: dt.datetime) -> None:
        e = self.conn.escape
        s = e(stamp.replace(tzinfo=None))
        self._chunks(data, lambda part: (
            f"INSERT INTO {self.t} (name, age, score, active, created_at, updated_at) VALUES "
            + ",".join(f"({e(r['name'])}, {r['age']}, {e(r['score'])}, {int(r['active'])}, {s}, {s})" for r in part)
            + " ON DUPLICATE KEY UPDATE age = VALUES(age), score = VALUES(score), active = VALUES(active), "
              "updated_at = VALUES(updated_at)"))

    def delete(self, ids: list[int]) -> None:
        self._chunks(ids, lambda part: f"DELETE FROM {self.t} WHERE id IN ({','.join(map(str, part))})")

    def close(self) -> None:
        self.conn.close()


class RawMongo:
    label = "MongoDB wire server"

    def __init__(self, url: str, table: str) -> None:
        import pymongo

        self.pymongo = pymongo
        self.client = pymongo.MongoClient(url, tz_aware=True)
        self.coll = self.client.get_default_database()[table]

    def ids(self) -> list[int]:
        return [d["_id"] for d in self.coll.find({}, {"_id": 1}).sort("_id", 1)]

    def update(self, data: list[dict], stamp: dt.datetime) -> None:
        U = self.pymongo.UpdateOne
        self.coll.bulk_write([U({"_id": r["id"]}, {"$set": {"age": r["age"], "score": r["score"], "updated_at": stamp}})
                              for r in data], ordered=True)

    def upsert(self, data: list[dict], stamp: dt.datetime) -> None:
        U = self.pymongo.UpdateOne
        self.coll.bulk_write([U({"name": r["name"]},
                                {"$set": {"age": r["age"], "score": r["score"], "active": r["active"],
                                          "updated_at": stamp},
                                 "$setOnInsert": {"created_at": stamp}}, upsert=True)
                              for r in data], ordered=True)

    def delete(self, ids: list[int]) -> None:
        self.coll.delete_many({"_id": {"$in": ids}})

    def close(self) -> None:
        self.client.close()


# --- the run ---------------------------------------------------------------------------------------------------


class Progress(list):
    """The report, each line also printed (to stderr) as it is measured: a slow server's partial run still says
    something."""

    def append(self, line: tuple) -> None:
        super().append(line)
        name, ours, raw_value, _target = line
        print(f"  {name}: {ours:,.1f} vs {raw_value:,.1f} ({ours / raw_value:.2f})", file=sys.stderr, flush=True)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(db: DataFlow, raw: Any, n: int, report: list) -> None:
    x = db.express_sync
    stamp = dt.datetime.now(dt.timezone.utc)
    with LocalRuntime() as rt:
        x.bulk_create("Person", rows(n))
        x.bulk_create("Twin", rows(n))
        run_node(rt, "PersonBulkUpdateNode", {"data": [{"id": 1, "age": 1}]})  # warm-up
        ids = [r["id"] for r in x.list("Person", limit=n, order_by=["id"])]
        raw_ids = raw.ids()
        base = rows(n)
        # BulkUpdate: a value per record
        upd = [{"id": i, "age": r["age"] + 1, "score": r["score"] + 0.5} for i, r in zip(ids, base)]
        out, t_node = run_node(rt, "PersonBulkUpdateNode", {"data": upd})
        assert out["updated"] == n, out
        raw_upd = [{"id": i, "age": r["age"] + 1, "score": r["score"] + 0.5} for i, r in zip(raw_ids, base)]
        t_raw = timed(lambda: raw.update(raw_upd, stamp))
        report.append(("BulkUpdate (value per record)", n / t_node, n / t_raw, ">= 0.5"))
        # BulkUpsert: half existing, half new
        data = upsert_data(n, 0)
        out, t_node = run_node(rt, "PersonBulkUpsertNode", {"data": data, "conflict_on": ["name"]})
        assert (out["inserted"], out["updated"]) == (n - n // 2, n // 2), out
        t_raw = timed(lambda: raw.upsert(data, stamp))
        report.append(("BulkUpsert (half new)", n / t_node, n / t_raw, ">= 0.5"))
        # sync: 50 % changed, 20 % unchanged, 30 % new
        data = sync_data(n)
        out, t_node = run_node(rt, "PersonBulkUpsertNode", {"data": data, "conflict_on": ["name"]})
        assert out["processed"] == n, out
        t_raw = timed(lambda: raw.upsert(data, stamp))
        report.append(("sync 50/30/20 via BulkUpsert vs raw merge", n / t_node, n / t_raw, "report"))
        # BulkDelete by ids
        out, t_node = run_node(rt, "PersonBulkDeleteNode", {"ids": ids})
        assert out["deleted"] == n, out
        t_raw = timed(lambda: raw.delete(raw_ids))
        report.append(("BulkDelete (by ids)", n / t_node, n / t_raw, ">= 0.5"))
        bench_list(db, rt, report)


def bench_list(db: DataFlow, rt: LocalRuntime, report: list, size: int = 10_000) -> None:
    x = db.express_sync
    x.bulk_delete("Person", filter={}, confirmed=True)
    x.bulk_create("Person", rows(size))
    params = {"limit": size, "order_by": ["id"]}
    t_express = min(timed(lambda: x.list("Person", **params)) for _ in range(5))
    t_node = min(run_node(rt, "PersonListNode", params)[1] for _ in range(5))
    with LocalRuntime(enable_monitoring=False) as quiet:
        t_quiet = min(run_node(quiet, "PersonListNode", params)[1] for _ in range(5))
    t_async, t_async_express = asyncio.run(_async_list(db, params))
    report.append((f"List {size:,}: workflow vs express (ms)", t_node * 1e3, t_express * 1e3, "<= 1.5x"))
    report.append((f"List {size:,}: enable_monitoring=False (ms)", t_quiet * 1e3, t_express * 1e3, "<= 1.5x"))
    report.append((f"List {size:,}: AsyncLocalRuntime vs express (ms)", t_async * 1e3, t_async_express * 1e3,
                   "<= 1.5x"))


async def _async_list(db: DataFlow, params: dict) -> tuple[float, float]:
    """The same List through a one-node AsyncLocalRuntime workflow, and through ``await db.express.list``."""
    runtime = AsyncLocalRuntime()
    try:
        async def node() -> float:
            wf = WorkflowBuilder()
            wf.add_node("PersonListNode", "n", params)
            built = wf.build()
            start = time.perf_counter()
            await runtime.execute_workflow_async(built, inputs={})
            return time.perf_counter() - start

        async def express() -> float:
            start = time.perf_counter()
            await db.express.list("Person", **params)
            return time.perf_counter() - start

        await node()
        return min([await node() for _ in range(5)]), min([await express() for _ in range(5)])
    finally:
        runtime.close()


def bench_rls(pg: Any, n: int, report: list, rounds: int = 3) -> None:
    """Median of ``rounds`` loads each, alternating which goes first, each into a fresh database."""
    times: dict[bool, list[float]] = {False: [], True: []}
    for round_ in range(rounds):
        for rls in (False, True) if round_ % 2 == 0 else (True, False):
            url = pg.create_database(f"bulk_rls_{int(rls)}_{round_}", owner="dataflow_bench")
            db = DataFlow(url, multi_tenant=True, row_level_security=rls)
            declare(db)
            with db.tenant("acme"):
                db.express_sync.count("Person")
                data = rows(n)
                times[rls].append(timed(lambda db=db, data=data: db.express_sync.bulk_create("Person", data)))
                assert db.express_sync.count("Person") == n
            db.close()
    with_rls, without = sorted(times[True])[rounds // 2], sorted(times[False])[rounds // 2]
    report.append(("BulkCreate multi-tenant, RLS vs without", n / with_rls, n / without, ">= 0.7"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgres", "mariadb", "mongo"], default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    n = args.rows
    report: list = Progress()
    loop = asyncio.new_event_loop()
    if args.backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "bench.db")
            db = DataFlow(f"sqlite:///{path}")
            declare(db)
            db.express_sync.count("Twin")
            raw = RawSQLite(path, db.get_model("Twin").table)
            bench(db, raw, n, report)
            label = raw.label
            raw.close()
            db.close()
    elif args.backend == "postgres":
        from dataflow_testing import PostgresServer

        with PostgresServer(vector=False) as pg:
            db = DataFlow(pg.url)
            declare(db)
            db.express_sync.count("Twin")
            raw = RawPostgres(pg.url, db.get_model("Twin").table, loop)
            bench(db, raw, n, report)
            label = raw.label
            raw.close()
            db.close()
            bench_rls(pg, n, report)
    elif args.backend == "mariadb":
        from dataflow_testing import MariaDBServer

        with MariaDBServer(buffer_pool="512M") as server:
            db = DataFlow(server.url)
            declare(db)
            db.express_sync.count("Twin")
            raw = RawMariaDB(server, db.get_model("Twin").table, loop)
            bench(db, raw, n, report)
            label = raw.label
            raw.close()
            db.close()
    else:
        from dataflow_testing import MongoServer

        with MongoServer() as server:
            url = server.database_url("bulk_bench")
            db = DataFlow(url)
            declare(db)
            db.express_sync.count("Twin")
            raw = RawMongo(url, db.get_model("Twin").table)
            bench(db, raw, n, report)
            label = raw.label
            raw.close()
            db.close()
    print(f"{label} | {n:,} rows | Python {platform.python_version()} | {dt.date.today()} | "
          f"{platform.processor() or platform.machine()}")
    print(f"{'measurement':46} {'dataflow':>12} {'raw':>12} {'ratio':>7}  target")
    for name, ours, raw_value, target in report:
        ratio = ours / raw_value
        print(f"{name:46} {ours:12,.1f} {raw_value:12,.1f} {ratio:7.2f}  {target}")


if __name__ == "__main__":
    main()
