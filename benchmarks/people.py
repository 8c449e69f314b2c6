"""The model, data and timing helpers the PostgreSQL and MySQL benchmarks share.

Imported by the scripts beside it (``python benchmarks/<name>_bench.py`` puts this folder on ``sys.path``).
"""

from __future__ import annotations

import statistics
import time

from dataflow import DataFlow
from kailash.runtime import LocalRuntime
from kailash.workflow.builder import WorkflowBuilder

COLUMNS = ["name", "age", "score", "active", "created_at", "updated_at"]


def rows(n: int) -> list[dict]:
    return [{"name": f"user{i:07d}", "age": i % 90, "score": (i * 7919) % 1000 / 10, "active": i % 3 != 0}
            for i in range(n)]


def declare_person(db: DataFlow) -> None:
    """``Person``, unique on name: the benchmarks' raw tables copy this shape."""

    @db.model
    class Person:
        name: str
        age: int
        score: float
        active: bool = True
        __dataflow__ = {"indexes": [{"name": "ux_person_name", "fields": ["name"], "unique": True}]}


def run_node(rt: LocalRuntime, node: str, params: dict) -> tuple[dict, float]:
    """One-node workflow; its result and the seconds ``rt.execute`` took."""
    wf = WorkflowBuilder()
    wf.add_node(node, "n", params)
    built = wf.build()
    start = time.perf_counter()
    results, _ = rt.execute(built)
    return results["n"], time.perf_counter() - start


def median_time(fn, repeat: int) -> float:
    """Median seconds of ``repeat`` calls, after one untimed warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
