"""MySQL (MariaDB 10.11): DataFlow nodes vs raw aiomysql on the same server, in one run.

    hatch run python benchmarks/mysql_bench.py [--rows 100000] [--quick] [--repeat 5]

Starts a throwaway MariaDB (``dataflow_testing.MariaDBServer``: data in /dev/shm, flush at commit off), then
measures on tables with the same DDL (DataFlow's own ``CREATE TABLE``, unique key on ``name``):

* BulkCreate of N rows through the ``PersonBulkCreateNode`` (one workflow, LocalRuntime) vs raw aiomysql
  ``executemany`` of the same rows (aiomysql batches them into multi-row INSERTs), in one transaction;
* a filtered, ordered List (limit 100) through express and through a 1-node workflow vs the same SELECT
  through aiomysql.

Each BulkCreate side runs ``--repeat`` times on an emptied table (median); prints ratios, asserts nothing.
Kailash's run tracker writes to a fresh database under a temporary HOME (as in sqlite_bench.py).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
os.environ["HOME"] = tempfile.mkdtemp(prefix="dataflow-bench-home-")  # kailash run tracking: a fresh DB

import aiomysql  # noqa: E402
from benchkit import median_time, run_node  # noqa: E402
from dataflow import DataFlow  # noqa: E402
from dataflow_mysql.backend import INIT_COMMAND  # noqa: E402
from dataflow_testing import MariaDBServer  # noqa: E402
from kailash.runtime import LocalRuntime  # noqa: E402
from people import COLUMNS, declare_person, rows  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = 10_000 if args.quick else args.rows
    repeat = 2 if args.quick else args.repeat
    load = os.getloadavg()
    loop = asyncio.new_event_loop()
    with MariaDBServer(buffer_pool="512M") as server:
        url = server.url
        async def connect():
            conn = await aiomysql.connect(host="127.0.0.1", port=server.port, user=server.user,
                                          password=server.password, db=server.database, charset="utf8mb4",
                                          init_command=INIT_COMMAND)  # DataFlow's session settings: same sorts
            return conn, await conn.cursor()

        conn, cur = loop.run_until_complete(connect())
        sql = lambda statement, params=None: loop.run_until_complete(cur.execute(statement, params))  # noqa: E731
        db = DataFlow(url)
        declare_person(db)

        data = rows(n)
        report = []
        with LocalRuntime() as rt:
            db.express_sync.count("Person")
            run_node(rt, "PersonBulkCreateNode", {"data": rows(1000)})  # warm-up: first-run costs of the runtime
            # BulkCreate through the node, N rows into an empty table
            node_times = []
            for _ in range(repeat):
                sql("TRUNCATE TABLE people")
                _, seconds = run_node(rt, "PersonBulkCreateNode", {"data": data})
                node_times.append(seconds)
            assert db.express_sync.count("Person") == n
            # the same rows through aiomysql executemany, into a table with the same DDL
            ddl = db.backend.ddl(db.get_model("Person"))[0]
            sql(ddl.replace("people", "raw_people", 1).replace("ux_person_name", "ux_raw_name"))
            insert = f"INSERT INTO raw_people ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s)"
            raw_times = []
            for _ in range(repeat):
                sql("TRUNCATE TABLE raw_people")
                stamp = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
                start = time.perf_counter()
                records = [(r["name"], r["age"], r["score"], r["active"], stamp, stamp) for r in data]
                loop.run_until_complete(cur.executemany(insert, records))
                loop.run_until_complete(conn.commit())
                raw_times.append(time.perf_counter() - start)
            t_node, t_raw = statistics.median(node_times), statistics.median(raw_times)
            report.append(("BulkCreate node vs aiomysql executemany", n / t_node, n / t_raw, "rows/s", ">= 0.60"))
            # List: filtered, ordered, limit 100 (the node asks for 101 rows to report has_more)
            flt = {"age": {"$gte": 30}, "active": True}
            t_express = median_time(
                lambda: loop.run_until_complete(db.express.list("Person", flt, limit=100, order_by=["-score"])), 30)
            t_node_list = median_time(
                lambda: run_node(rt, "PersonListNode", {"filter": flt, "order_by": ["-score"], "limit": 100}), 30)
            select = ("SELECT id, name, age, score, active, created_at, updated_at FROM raw_people "
                      "WHERE age >= %s AND active = %s ORDER BY score DESC LIMIT %s")

            def raw_list():
                loop.run_until_complete(cur.execute(select, (30, True, 101)))
                return loop.run_until_complete(cur.fetchall())

            assert len(raw_list()) == 101
            t_raw_list = median_time(raw_list, 30)
            report.append(
                ("List (limit 100) express vs raw SELECT", t_express * 1e3, t_raw_list * 1e3, "ms", "<= 1.3x")
            )
            report.append(
                ("List (limit 100) 1-node workflow vs raw", t_node_list * 1e3, t_raw_list * 1e3, "ms", "info")
            )
        db.close()
        loop.run_until_complete(cur.close())
        conn.close()
        version = server.sql("SELECT VERSION()").strip()
    print(f"{version} (data in /dev/shm, innodb_flush_log_at_trx_commit=0) | {n:,} rows | median of {repeat} "
          f"(BulkCreate), 30 (List) | Python {platform.python_version()} | {dt.date.today()} | "
          f"{os.cpu_count()} CPUs | load {load[0]:.2f} at start")
    print(f"{'measurement':44} {'dataflow':>12} {'raw':>12} {'unit':>7} {'ratio':>7}  target")
    for name, ours, raw, unit, target in report:
        print(f"{name:44} {ours:12,.1f} {raw:12,.1f} {unit:>7} {ours / raw:7.2f}  {target}")


if __name__ == "__main__":
    main()
