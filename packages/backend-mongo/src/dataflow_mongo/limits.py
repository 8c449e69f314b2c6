"""Query timeouts on MongoDB: each operation runs under pymongo's client-side operation timeout (CSOT).

Every primitive of the backend (and every document node's call, commit and rollback) runs inside
``pymongo.timeout(limit)``, where ``limit`` is the statement limit of :mod:`dataflow.timeouts`: the innermost
``query_timeout()`` scope (express's ``timeout=``, a node's ``timeout`` parameter), else the DataFlow's
``query_timeout``. pymongo then bounds the whole operation by it — finding the server, waiting for a pooled
connection, every round trip — sends the rest to the server as ``maxTimeMS``, and closes a connection whose answer
did not come in time. Nested primitives (an update that selects first) share the outer deadline.

Finding an unreachable server stays bounded by ``connect_timeout``: under CSOT pymongo would wait the whole limit
for it, so when no server is known and the limit is longer, one ``ping`` first finds it within ``connect_timeout``.
A ``timeoutMS`` in the URL is the default instead of ``query_timeout`` (a scope still wins).
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dataflow.errors import ConfigurationError
from dataflow.timeouts import check, effective

from . import driver

_CURRENT: contextvars.ContextVar[tuple[str, float | None] | None] = contextvars.ContextVar(
    "dataflow_mongo_operation", default=None)


def current() -> tuple[str, float | None] | None:
    """``(operation, limit)`` of the operation running in this context, or None outside one."""
    return _CURRENT.get()


def default_limit(query: Any, configured: float | None) -> float | None:
    """The limit of an operation outside any scope: the URL's ``timeoutMS`` if it has one, else ``configured``."""
    for key, value in dict(query or {}).items():
        if key.lower() == "timeoutms":
            try:
                return check(float(value) / 1000, "timeoutMS (ms)", ConfigurationError)
            except ValueError:
                raise ConfigurationError(f"timeoutMS in the MongoDB URL must be milliseconds, got {value!r}") from None
    return configured


def limit_of(backend: Any) -> float | None:
    """The limit of an operation starting now (None: no limit)."""
    return effective(backend.default_limit)


@asynccontextmanager
async def limited(backend: Any, what: str) -> AsyncIterator[None]:
    """Run the block as the operation ``what`` under its limit; inside another operation, under that one's."""
    if _CURRENT.get() is not None:
        yield
        return
    seconds = limit_of(backend)
    token = _CURRENT.set((what, seconds))
    try:
        with driver.pymongo.timeout(seconds):
            if seconds is not None and seconds > backend.connect_timeout and backend._foreign() is None:
                await _find_server(backend)
            yield
    finally:
        _CURRENT.reset(token)


async def _find_server(backend: Any) -> None:
    """With no server known, find one within ``connect_timeout`` (one ping), not within the longer limit."""
    conn = await backend._conn()
    if conn.client.topology_description.has_writable_server():
        return
    try:
        with driver.pymongo.timeout(backend.connect_timeout):
            await conn.client.admin.command("ping")
    except driver.perr.PyMongoError as exc:
        raise backend._translate(exc) from exc


def operation(what: str) -> Any:
    """Decorator of a backend primitive: it runs as the operation ``what`` under its limit (:func:`limited`)."""

    def wrap(fn: Any) -> Any:
        async def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            async with limited(self, what):
                return await fn(self, *args, **kwargs)

        run.__name__, run.__qualname__, run.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        run.__wrapped__ = fn  # type: ignore[attr-defined]
        return run

    return wrap
