"""The result cache is never stale across processes (issue 16): four processes read and write the same rows
through DataFlow with one Redis cache (nodes and express, bulk and upsert, transactions that commit and
transactions that roll back), and every read is checked against the history of committed writes.

A read returning ``val`` names the write that produced it (values are unique). The read is wrong when
that write rolled back (dirty), belongs to another row or tenant (cross-tenant), or when another committed
write of the same row began after it ended and ended before the read began (stale): the read started after
a newer value was committed and acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import sys
import time
from pathlib import Path

import pytest
from dataflow import DataFlow

sys.path.insert(0, str(Path(__file__).parent))
from cache_staleness_worker import KEYS, TENANTS, declare  # noqa: E402
from cache_staleness_worker import main as worker_main  # noqa: E402

WORKERS = 4
SECONDS = 3.0


def seed(url: str) -> None:
    with DataFlow(url) as db:
        declare(db)
        for tenant in TENANTS:
            with db.tenant(tenant):
                db.express_sync.bulk_create("Item", [{"id": f"{tenant}:{k}", "k": k, "val": 0} for k in range(KEYS)])


def _worker(args: tuple) -> None:
    asyncio.run(worker_main(*args))


def run_workers(url: str, redis_url: str, tmp_path: Path) -> list[dict]:
    """Four forked processes (forked after the imports: a fresh interpreter would spend seconds importing)."""
    go = tmp_path / "go"
    logs = [tmp_path / f"worker{i}.json" for i in range(WORKERS)]
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=_worker, args=((url, redis_url, i, str(go), SECONDS, str(log)),))
             for i, log in enumerate(logs)]
    for proc in procs:
        proc.start()
    try:
        deadline = time.monotonic() + 300
        while not all(Path(f"{log}.ready").exists() for log in logs):
            failed = [p for p in procs if p.exitcode not in (None, 0)]
            assert not failed, f"a worker failed before the start (exit code {failed[0].exitcode if failed else ''})"
            assert time.monotonic() < deadline, (
                "the workers did not get ready within 300 s (their first use of the database: schema checks take a "
                "server lock, one process at a time)"
            )
            time.sleep(0.02)
        staged = tmp_path / "go.tmp"
        staged.write_text(repr(time.monotonic() + 0.1))
        staged.rename(go)  # whole, or not there
        for proc in procs:
            proc.join(timeout=120)
            assert proc.exitcode == 0, f"a worker failed (exit code {proc.exitcode}); its traceback is on stderr"
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
    return [json.loads(log.read_text()) for log in logs]


def check(results: list[dict]) -> tuple[list[str], dict]:
    """Every way a read can be wrong, as text (empty: none), and counts."""
    writes = [entry for r in results for entry in r["log"] if "w" in entry]
    reads = [entry for r in results for entry in r["log"] if "r" in entry]
    by_value = {w["val"]: w for w in writes}
    history: dict[str, list[dict]] = {}
    for w in writes:
        if w["committed"]:
            for row in w["rows"]:
                history.setdefault(row, []).append(w)
    initial = {"val": 0, "committed": True, "s": float("-inf"), "e": float("-inf"), "rows": None}
    problems: list[str] = []
    for r in reads:
        for row in r["rows"]:
            if row is None:
                problems.append(f"{r['r']} found nothing: every row exists")
                continue
            if row.get("count") is not None:
                if row["count"] != KEYS:
                    problems.append(f"count {row['count']} != {KEYS}")
                continue
            if row["tenant_id"] != r["tenant"] or not row["id"].startswith(f"{r['tenant']}:"):
                problems.append(f"cross-tenant: {r['r']} as {r['tenant']} returned {row}")
                continue
            w = initial if row["val"] == 0 else by_value.get(row["val"])
            if w is None:
                problems.append(f"{r['r']} returned a value no write made: {row}")
                continue
            if not w["committed"]:
                problems.append(f"dirty: {r['r']} returned {row['val']} of a transaction that rolled back")
                continue
            if w["rows"] is not None and row["id"] not in w["rows"]:
                problems.append(f"{r['r']}: value {row['val']} was written to {w['rows']}, not {row['id']}")
                continue
            newer = [n for n in history.get(row["id"], []) if n["s"] > w["e"] and n["e"] < r["s"]]
            if newer:
                problems.append(f"stale: {r['r']} of {row['id']} at {r['s']:.6f} returned {row['val']} "
                                f"though {newer[0]['w']} wrote {newer[0]['val']} by {newer[0]['e']:.6f}")
    stats: dict[str, int] = {}
    for r in results:
        for key, n in r["stats"].items():
            stats[key] = stats.get(key, 0) + n
    stats.update(reads=len(reads), writes=len(writes), rolled_back=sum(not w["committed"] for w in writes))
    return problems, stats


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mysql"])
def test_four_processes_never_read_stale_or_cross_tenant(backend, request, redis_url, tmp_path):
    url = request.getfixturevalue(f"url_{backend}")
    seeder = multiprocessing.get_context("fork").Process(target=seed, args=(url,))
    seeder.start()  # in a child too: the workers fork from a process that never opened this database
    seeder.join(timeout=120)
    assert seeder.exitcode == 0, "seeding failed"
    problems, stats = check(run_workers(url, redis_url, tmp_path))
    # Redis timeouts under load are allowed (those reads went to the database); wrong answers are not
    assert problems == [], f"{len(problems)} wrong reads of {stats['reads']}, e.g. {problems[:5]}; {stats}"
    assert stats["reads"] > 40 and stats["writes"] > 8 and stats["rolled_back"] > 0, stats
    assert stats.get("hit", 0) > 0 and stats.get("invalidate", 0) > 0, f"the cache was not used: {stats}"
