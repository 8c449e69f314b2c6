#!/usr/bin/env python
"""DataFlow served by Nexus: start-up with 20 models, and what REST adds over ``db.express`` in-process.

One run, one machine, ratios and differences (no timed assertions):

    hatch run python benchmarks/nexus_bench.py            # full run (~1 min on 2 cores)
    hatch run python benchmarks/nexus_bench.py --quick    # smoke run

Measurements
  1. Start-up, in a fresh interpreter: ``import dataflow, nexus``; then 20 models declared, ``Nexus(...)``
     and ``serve(db, app)`` (220 workflows, MCP tools, middleware); then ``app.start()`` until
     ``GET /health`` answers. The seed claims "<2 seconds" for the quickstart's Nexus start.
  2. Per request, SQLite file database, the server in a subprocess, one keep-alive HTTP client: a create
     (``Item_create``) and a filtered, ordered list of 20 rows (``Item_list``) over REST, against the same
     operations through ``db.express`` in this process on the same file; and Nexus's own floor, a
     1-node workflow whose node returns at once, and the HTTP floor, a plain endpoint. Medians of interleaved rounds
     after warm-up. Target:
     REST - express <= 2 ms per request. The server logs as in production (``LoggingConfig.production()``,
     which quiets the Kailash SDK's per-request INFO lines, and no access log) unless ``--default-logging``.
  3. DataFlow's share of a request: the served create workflow on ``AsyncLocalRuntime`` in this process
     against ``db.express.create`` (no HTTP, no Nexus).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx

SERVER = textwrap.dedent('''
    import os, sys, time
    t0 = time.perf_counter()
    import dataflow, nexus
    from dataflow import DataFlow
    from dataflow.serving import serve
    from kailash.nodes.base import NodeParameter
    from kailash.nodes.base_async import AsyncNode
    from kailash.workflow.graph import Workflow
    t1 = time.perf_counter()
    if os.environ["BENCH_LOGS"] == "production":
        import logging
        from dataflow import LoggingConfig
        LoggingConfig.production().apply()
        logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    db = DataFlow(os.environ["BENCH_URL"])
    for i in range(int(os.environ["BENCH_MODELS"]) - 1):
        db.model(type(f"Extra{i}", (), {"__annotations__": {"name": str, "qty": int}}))

    @db.model
    class Item:
        name: str
        qty: int
        active: bool = True

    class Noop(AsyncNode):
        def get_parameters(self): return {}
        async def async_run(self, **inputs): return {"result": {"ok": 1}}

    app = nexus.Nexus(api_port=int(os.environ["BENCH_API"]), mcp_port=int(os.environ["BENCH_MCP"]),
                      auto_discovery=False, enable_durability=False, rate_limit=None)
    serve(db, app)
    floor = Workflow(workflow_id="noop", name="noop")
    floor.add_node("noop", Noop)
    app.register("noop", floor)

    async def ping():
        return {"ok": 1}

    app.register_endpoint("/bench/ping", ["POST"], ping)
    t2 = time.perf_counter()
    with open(os.environ["BENCH_TIMES"], "w") as out:
        out.write(f"{t1 - t0:.4f} {t2 - t1:.4f} {time.perf_counter():.6f}")
    app.start()
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(workdir: Path, url: str, models: int, logs: str) -> tuple[subprocess.Popen, str, dict]:
    api = free_port()
    times = workdir / "times.txt"
    env = {**os.environ, "BENCH_URL": url, "BENCH_MODELS": str(models), "BENCH_API": str(api),
           "BENCH_MCP": str(free_port()), "BENCH_TIMES": str(times), "BENCH_LOGS": logs}
    script = workdir / "server.py"
    script.write_text(SERVER)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{api}"
    with httpx.Client() as client:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited with {proc.returncode}")
            try:
                if client.get(f"{base}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.01)
    ready = time.perf_counter()  # the same clock as the child's (CLOCK_MONOTONIC) on Linux
    imported, registered, started = map(float, times.read_text().split())
    figures = {"import": imported, "declare_and_register": registered, "start_to_health": ready - started}
    return proc, base, figures


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p95_ms(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.95) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", type=int, default=20, help="models declared (Item is the last)")
    parser.add_argument("--default-logging", action="store_true",
                        help="keep Nexus's and kailash's INFO logging (default: LoggingConfig.production(), "
                             "uvicorn's access log off)")
    args = parser.parse_args()
    rounds, per_round, seed_rows = (3, 20, 200) if args.quick else (10, 60, 2000)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.2f}, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'bench.db'}"
        proc, base, startup = start_server(
            workdir, url, args.models, "default" if args.default_logging else "production"
        )
        try:
            print(
                f"start-up, {args.models} models ({args.models * 11} workflows): import dataflow+nexus "
                f"{startup['import']:.2f} s, "
                f"declare+Nexus()+serve() {startup['declare_and_register']:.2f} s, "
                f"start() to /health {startup['start_to_health']:.2f} s; "
                f"after imports {startup['declare_and_register'] + startup['start_to_health']:.2f} s"
            )
            requests(base, url, rounds, per_round, seed_rows)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"load at the end: {os.getloadavg()[0]:.2f}")


def requests(base: str, url: str, rounds: int, per_round: int, seed_rows: int) -> None:
    from dataflow import DataFlow

    db = DataFlow(url)

    @db.model
    class Item:
        name: str
        qty: int
        active: bool = True

    db.express_sync.bulk_create("Item", [{"name": f"seed{i}", "qty": i % 100, "active": i % 3 != 0}
                                         for i in range(seed_rows)])
    list_inputs = {"filter": {"qty": {"$gte": 50}, "active": True}, "order_by": ["-qty", "name"], "limit": 20}
    timings: dict[str, list[float]] = {k: [] for k in ("rest_create", "express_create", "rest_list", "express_list",
                                                       "noop", "ping")}
    counter = iter(range(10**9))

    def timed(key: str, call) -> None:
        started = time.perf_counter()
        call()
        timings[key].append(time.perf_counter() - started)

    with httpx.Client(base_url=base, timeout=30) as client:
        def post(name: str, inputs: dict) -> None:
            response = client.post(f"/workflows/{name}/execute", json={"inputs": inputs})
            assert response.status_code == 200, response.text

        for _ in range(20):  # warm-up
            post("Item_list", list_inputs)
            post("noop", {})
            db.express_sync.list("Item", list_inputs["filter"], limit=20)
        for _ in range(rounds * per_round):  # interleaved, so a busy moment hits every kind alike
            timed("rest_create", lambda: post("Item_create", {"name": f"r{next(counter)}", "qty": 1}))
            timed("express_create", lambda: db.express_sync.create("Item", {"name": f"e{next(counter)}", "qty": 1}))
            timed("rest_list", lambda: post("Item_list", list_inputs))
            timed("express_list", lambda: db.express_sync.list("Item", list_inputs["filter"], limit=20,
                                                               order_by=list_inputs["order_by"]))
            timed("noop", lambda: post("noop", {}))
            timed("ping", lambda: client.post("/bench/ping", json={}))
    in_process = serving_share(db, rounds * per_round)
    db.close()
    rows = [("create", "rest_create", "express_create"), ("filtered list (20 rows)", "rest_list", "express_list")]
    floor = median_ms(timings["noop"])
    print(f"HTTP floor (a plain Nexus endpoint, no workflow): median {median_ms(timings['ping']):.2f} ms")
    print(f"Nexus floor (1-node no-op workflow over REST): median {floor:.2f} ms, p95 {p95_ms(timings['noop']):.2f} ms")
    for label, rest, express in rows:
        added = median_ms(timings[rest]) - median_ms(timings[express])
        print(f"{label}: REST median {median_ms(timings[rest]):.2f} ms (p95 {p95_ms(timings[rest]):.2f}), "
              f"express {median_ms(timings[express]):.3f} ms; added {added:.2f} ms per request "
              f"({'met' if added <= 2.0 else 'NOT met'}: target <= 2 ms); of which Nexus's floor {floor:.2f} ms")
    print(
        f"DataFlow's share, in-process: the Item_create workflow on AsyncLocalRuntime {in_process['workflow']:.3f} ms "
        f"vs express {in_process['express']:.3f} ms (+{in_process['workflow'] - in_process['express']:.3f} ms)"
    )


def serving_share(db, iterations: int) -> dict[str, float]:
    """The served create workflow run in-process on kailash's AsyncLocalRuntime vs express.create, interleaved."""
    import asyncio

    from kailash.runtime import AsyncLocalRuntime

    workflow = db.get_workflows(models=["Item"], operations=["create"])["Item_create"]

    async def run() -> dict[str, float]:
        runtime = AsyncLocalRuntime()
        samples: dict[str, list[float]] = {"workflow": [], "express": []}
        try:
            for i in range(iterations + 20):
                started = time.perf_counter()
                await runtime.execute_workflow_async(workflow, inputs={"name": f"w{i}", "qty": 1})
                middle = time.perf_counter()
                await db.express.create("Item", {"name": f"x{i}", "qty": 1})
                if i >= 20:
                    samples["workflow"].append(middle - started)
                    samples["express"].append(time.perf_counter() - middle)
        finally:
            runtime.close()
        return {k: median_ms(v) for k, v in samples.items()}

    return asyncio.run(run())


if __name__ == "__main__":
    main()
