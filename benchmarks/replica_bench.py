"""Read replicas: what routing a read to a standby costs, against a direct connection to that standby.

    hatch run python benchmarks/replica_bench.py [--rows 10000] [--calls 400] [--rounds 7] [--quick]

Starts a throwaway PostgreSQL 18 primary and a hot standby of it (``dataflow_testing.PostgresStandby``),
loads ``--rows`` rows through DataFlow, waits for the standby to replay them, then measures in one asyncio
loop, the paths taking turns round by round (``--rounds`` rounds of ``--calls`` calls each, the order
rotating every round):

* **routed**: ``DataFlow(primary, read_urls=[standby])``, reads through ``db.express`` (routed to the
  standby: the router's counters are printed to show it);
* **direct**: ``DataFlow(standby, existing_schema_mode=True)``, the same reads on a DataFlow that talks to
  the standby only (the same code without routing);
* **raw**: the same SELECT on one asyncpg connection to the standby.

Two reads: by primary key (``express.read``) and a filtered, ordered List of 20 rows. The target (issue 16)
is routed ≤ 1.05 × direct. For information, a write followed at once by a read of it (read-your-writes:
the WAL position of the primary, then a standby that has replayed it, or the primary) against the same pair
on a DataFlow without replicas. Prints medians (wall time and the process's CPU time per call), Python
function calls per read (cProfile), and ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import platform
import pstats
import statistics
import time
import warnings

import asyncpg
from dataflow import DataFlow
from dataflow_testing import PostgresServer, PostgresStandby

warnings.filterwarnings("ignore")


def declare(db: DataFlow) -> None:
    @db.model
    class Item:
        name: str
        qty: int
        category: str

        __dataflow__ = {"indexes": [{"name": "ix_items_category", "fields": ["category"]}]}


async def timed(call, n: int) -> tuple[float, float]:
    """Median wall seconds of one call over ``n`` calls, and the process's CPU seconds per call."""
    samples = []
    cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), (time.process_time() - cpu) / n


async def compare(paths: dict, calls: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Each path's (median wall, median CPU) per call over ``rounds`` rounds, the order rotating each round.
    CPU time (client side: DataFlow and the driver) hardly moves with the machine's load; wall time does."""
    names = list(paths)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            results[name].append(await timed(paths[name], calls))
    return {name: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
            for name, values in results.items()}


async def function_calls(db: DataFlow, key, n: int = 500) -> float:
    """Python function calls per ``express.read`` (cProfile): a cost measure the machine's load does not move."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(n):
        await db.express.read("Item", key())
    profile.disable()
    return pstats.Stats(profile).total_calls / n


async def run(args: argparse.Namespace, primary: PostgresServer, standby: PostgresStandby) -> None:
    url = primary.create_database("bench")
    standby.wait_caught_up()
    routed = DataFlow(url, read_urls=[standby.url_for("bench")])
    declare(routed)
    ids = []
    for start in range(0, args.rows, 1000):
        batch = [{"name": f"item{i}", "qty": i % 1000, "category": f"c{i % 50}"}
                 for i in range(start, min(args.rows, start + 1000))]
        await routed.express.bulk_create("Item", batch)
    ids = [r["id"] for r in await routed.express.list("Item", {"category": "c7"}, limit=100)]
    await asyncio.to_thread(standby.wait_caught_up)
    direct = DataFlow(standby.url_for("bench"), existing_schema_mode=True, namespace="direct")
    declare(direct)
    plain = DataFlow(url, namespace="plain")
    declare(plain)
    raw = await asyncpg.connect(standby.url_for("bench"))
    table = routed.get_model("Item").table
    by_id = f"SELECT * FROM {table} WHERE id = $1 LIMIT 1"
    listing = f"SELECT * FROM {table} WHERE category = $1 AND qty >= $2 ORDER BY qty DESC, id LIMIT 20"
    flt = {"category": "c7", "qty": {"$gte": 500}}
    turn = [0]

    def key() -> int:
        turn[0] += 1
        return ids[turn[0] % len(ids)]

    for db in (routed, direct, plain):  # warm-up: pools, compiled statements
        for _ in range(50):
            await db.express.read("Item", key())
            await db.express.list("Item", flt, limit=20, order_by=["-qty", "id"])
    before = routed.read_replicas.stats()["replicas"][0]["reads"]

    reads = await compare({
        "routed": lambda: routed.express.read("Item", key()),
        "direct": lambda: direct.express.read("Item", key()),
        "raw": lambda: raw.fetch(by_id, key()),
    }, args.calls, args.rounds)
    lists = await compare({
        "routed": lambda: routed.express.list("Item", flt, limit=20, order_by=["-qty", "id"]),
        "direct": lambda: direct.express.list("Item", flt, limit=20, order_by=["-qty", "id"]),
        "raw": lambda: raw.fetch(listing, "c7", 500),
    }, args.calls, args.rounds)
    served = routed.read_replicas.stats()["replicas"][0]["reads"] - before

    async def write_then_read(db: DataFlow) -> None:
        row = await db.express.update("Item", key(), {"qty": turn[0] % 1000})
        assert (await db.express.read("Item", row["id"]))["qty"] == row["qty"]

    ryw = await compare({"routed": lambda: write_then_read(routed), "primary only": lambda: write_then_read(plain)},
                        max(20, args.calls // 4), args.rounds)
    calls = {name: await function_calls(db, key) for name, db in (("routed", routed), ("direct", direct))}
    stats = routed.read_replicas.stats()
    await raw.close()
    for db in (routed, direct, plain):
        await db.close_async()

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.3f} ms"

    print(f"\nreads routed to the standby during the read measurements: {served} of "
          f"{2 * args.calls * args.rounds} (fallbacks to the primary overall: {stats['fallbacks_to_primary']}, "
          f"waits for replay: {stats['replay_waits']})")
    for title, result in (("read by id", reads), ("List of 20, filtered and ordered", lists)):
        for i, what in ((0, "wall"), (1, "CPU ")):
            ratio = result["routed"][i] / result["direct"][i]
            print(
                f"{title}, {what}: routed {ms(result['routed'][i])}, direct {ms(result['direct'][i])}, raw "
                f"{ms(result['raw'][i])}; routed / direct {ratio:.3f} (target <= 1.05: "
                f"{'met' if ratio <= 1.05 else 'NOT met'}), direct / raw {result['direct'][i] / result['raw'][i]:.2f}"
            )
    print(f"function calls per read by id: routed {calls['routed']:.1f}, direct {calls['direct']:.1f}, ratio "
          f"{calls['routed'] / calls['direct']:.3f}")
    print(f"update then read it (read-your-writes), wall: routed {ms(ryw['routed'][0])}, primary only "
          f"{ms(ryw['primary only'][0])}, ratio {ryw['routed'][0] / ryw['primary only'][0]:.2f} (info)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.calls, args.rounds = 2000, 100, 3
    print(f"replica_bench: {platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{args.rows} rows, {args.rounds} rounds x {args.calls} calls")
    with PostgresServer(vector=False) as primary:
        primary.psql("ALTER SYSTEM SET wal_writer_delay = '10ms'")  # the test server commits asynchronously
        primary.psql("SELECT pg_reload_conf()")
        with PostgresStandby(primary) as standby:
            asyncio.run(run(args, primary, standby))
    print(f"load at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
