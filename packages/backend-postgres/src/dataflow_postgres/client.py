"""The asyncpg import, in one place: a missing or broken driver is a clear error naming the fix.

While a server is down, asyncpg's pool keeps reconnecting in the background to restore its minimum size,
logging a WARNING with a full traceback on every attempt; with logging unconfigured (a script), Python
prints each to stderr. DataFlow reports the lost server itself (every call fails with DF-501), so those
records are demoted to DEBUG here: still there for whoever logs ``asyncpg.pool`` at DEBUG.
"""

import logging

from dataflow.errors import BackendDependencyError

try:
    import asyncpg
except ImportError as exc:  # pragma: no cover - asyncpg is a hard dependency
    raise BackendDependencyError(
        f"postgres backend cannot import {exc.name!r}; pip install -U kailash-dataflow-postgres"
    ) from exc


class _ReconnectNoiseToDebug(logging.Filter):
    """asyncpg.pool's 'Failed to restore the pool connection floor; retrying' becomes a DEBUG record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and str(record.msg).startswith("Failed to restore the pool connection"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_pool_log = logging.getLogger("asyncpg.pool")
if not any(isinstance(f, _ReconnectNoiseToDebug) for f in _pool_log.filters):
    _pool_log.addFilter(_ReconnectNoiseToDebug())

__all__ = ["asyncpg"]
