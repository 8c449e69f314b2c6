"""Import and first-operation time of DataFlow on SQLite, against ``import kailash`` alone.

Each case runs in a fresh interpreter (a subprocess), timed inside it from before its first import to its
last statement; cases are interleaved and the median of ``--runs`` is reported, after one warm-up run
each. Byte code is cached as an installed package has it (pip compiles on install): the subprocesses
write and read it under a private ``PYTHONPYCACHEPREFIX`` even when ``PYTHONDONTWRITEBYTECODE`` is set,
which would otherwise make every import compile its source (seconds for kailash and SQLAlchemy). Target (issue 12):
``import dataflow`` + the first
SQLite operation <= ``import kailash`` + 0.1 s.

    hatch run python benchmarks/import_bench.py [--runs 9] [--json]

Self-contained on purpose: no shared harness, nothing imported from DataFlow in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

TARGET_EXTRA_S = 0.1

CASES = {
    "import kailash": "import kailash",
    "import sqlalchemy (for attribution)": "import sqlalchemy",
    "import kailash, sqlalchemy (for attribution)": "import kailash, sqlalchemy",
    "import dataflow": "import dataflow",
    "import dataflow + first SQLite operation": (
        "from dataflow import DataFlow\n"
        "db = DataFlow()\n"
        "@db.model\n"
        "class Person:\n"
        "    name: str\n"
        "db.express_sync.create('Person', {'name': 'x'})\n"
    ),
    "... + a first 1-node workflow (LocalRuntime)": (
        "from dataflow import DataFlow\n"
        "from kailash.runtime import LocalRuntime\n"
        "from kailash.workflow.builder import WorkflowBuilder\n"
        "db = DataFlow()\n"
        "@db.model\n"
        "class Person:\n"
        "    name: str\n"
        "wf = WorkflowBuilder()\n"
        "wf.add_node('PersonCreateNode', 'c', {'name': 'x'})\n"
        "with LocalRuntime() as runtime:\n"
        "    runtime.execute(wf.build())\n"
    ),
}
DRIVERS = ("asyncpg", "aiomysql", "pymysql", "pymongo", "bson", "pgvector", "numpy")

PROBE = """
import time
_start = time.perf_counter()
{code}
_elapsed = time.perf_counter() - _start
import json, sys
print(json.dumps({{"seconds": _elapsed, "top": sorted({{m.split(".")[0] for m in sys.modules}})}}))
"""


def run_case(code: str, workdir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPYCACHEPREFIX"] = os.path.join(workdir, "pycache")
    done = subprocess.run([sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True,
                          cwd=workdir, env=env, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"case failed:\n{code}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9, help="timed runs per case (median reported)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    tops: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for name, code in CASES.items():  # warm-up: byte-code caches, the OS page cache
            tops[name] = run_case(code, workdir)["top"]
        for _ in range(args.runs):
            for name, code in CASES.items():
                times[name].append(run_case(code, workdir)["seconds"])
    medians = {name: statistics.median(values) for name, values in times.items()}
    kailash = medians["import kailash"]
    first_op = medians["import dataflow + first SQLite operation"]
    drivers = sorted(set(tops["import dataflow + first SQLite operation"]) & set(DRIVERS))
    result = {
        "runs": args.runs,
        "median_seconds": medians,
        "spread_seconds": {name: [min(v), max(v)] for name, v in times.items()},
        "first_operation_minus_kailash": first_op - kailash,
        "target_extra_seconds": TARGET_EXTRA_S,
        "met": first_op - kailash <= TARGET_EXTRA_S,
        "drivers_imported_by_a_sqlite_user": drivers,
        "top_level_packages_beyond_kailash": sorted(set(tops["import dataflow + first SQLite operation"])
                                                    - set(tops["import kailash"])),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"fresh interpreters, median of {args.runs} (min-max), Python {sys.version.split()[0]}")
    for name, value in medians.items():
        low, high = result["spread_seconds"][name]
        print(f"  {name:46} {value * 1000:8.1f} ms   ({low * 1000:.0f}-{high * 1000:.0f})")
    verdict = "met" if result["met"] else "NOT met"
    print(f"import dataflow + first SQLite operation - import kailash = {(first_op - kailash) * 1000:+.1f} ms "
          f"(target <= +{TARGET_EXTRA_S * 1000:.0f} ms: {verdict})")
    print(f"drivers imported by a SQLite user: {', '.join(drivers) or 'none'}")
    print(f"top-level packages beyond kailash's: {', '.join(result['top_level_packages_beyond_kailash'])}")


if __name__ == "__main__":
    main()
