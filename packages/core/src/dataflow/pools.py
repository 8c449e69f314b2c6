"""One connection pool per event loop, for drivers whose connections belong to the loop that made them.

asyncpg's and aiomysql's pools cannot be shared between event loops, and a DataFlow is used from several
(``asyncio.run`` per call, the sync runner's own loop, threads). :class:`LoopPools` makes a pool the first
time a loop asks, once, under a per-loop lock; terminates the pools of loops that have closed when the
next pool is made; and closes them all on :meth:`close` (gracefully on the current loop, by termination
elsewhere, since a foreign loop's pool cannot be awaited here).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import DatabaseError


class LoopPools:
    """``await pools.get()`` → the running loop's pool."""

    def __init__(self, create: Callable[[], Awaitable[Any]], close: Callable[[Any], Awaitable[None]],
                 terminate: Callable[[Any], None], what: str) -> None:
        self._create, self._close, self._terminate, self.what = create, close, terminate, what
        self._pools: dict[asyncio.AbstractEventLoop, Any] = {}
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self.closed = False

    async def get(self) -> Any:
        if self.closed:
            raise DatabaseError(f"the {self.what} backend is closed")
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is not None:
            return pool
        self._prune()
        async with self._locks.setdefault(loop, asyncio.Lock()):
            pool = self._pools.get(loop)
            if pool is None:
                pool = self._pools[loop] = await self._create()
        return pool

    def _prune(self) -> None:
        for loop in [lp for lp in self._pools if lp.is_closed()]:
            self._terminate(self._pools.pop(loop))

    async def close(self) -> None:
        self.closed = True
        pools, self._pools = self._pools, {}
        current = asyncio.get_running_loop()
        for loop, pool in pools.items():
            if loop is current:
                await self._close(pool)
            else:
                self._terminate(pool)

    def close_sync(self) -> None:
        self.closed = True
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            self._terminate(pool)
