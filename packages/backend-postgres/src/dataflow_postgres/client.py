"""The asyncpg import, in one place: a missing or broken driver is a clear error naming the fix."""

from dataflow.errors import BackendDependencyError

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - asyncpg is a hard dependency
    raise BackendDependencyError(
        f"postgres backend cannot import {exc.name!r}; pip install -U kailash-dataflow-postgres"
    ) from exc

__all__ = ["asyncpg"]
