"""The model and data the PostgreSQL and MySQL benchmarks share (timing and reporting: ``benchkit``).

Imported by the scripts beside it (``python benchmarks/<name>_bench.py`` puts this folder on ``sys.path``).
``run_node`` and ``median_time`` now live in ``benchkit``; they are still importable from here.
"""

from __future__ import annotations

from benchkit import median_time, run_node
from dataflow import DataFlow

__all__ = ["COLUMNS", "declare_person", "median_time", "rows", "run_node"]

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
