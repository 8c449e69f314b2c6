"""Which connection pool serves a statement, for drivers whose connections belong to one event loop.

asyncpg's and aiomysql's connections cannot be shared between event loops, and a DataFlow is used from
several: a ``LocalRuntime()`` per request (each with a new loop), ``asyncio.run`` per call, an async
application's one loop, threads. A pool per loop makes a runtime per request reconnect every time (a new
pool costs 4–13 ms); sending every statement to one loop would cost async applications a thread hop
(~0.1–0.15 ms) on every statement. So :class:`LoopPools` keeps:

* **a pool per long-lived loop**, which pays no hop, at most :attr:`max_loop_pools` of them;
* **the I/O pool**, on the backend's :class:`~dataflow.runner.IOThread`, for every other loop: each of its
  statements is sent there (one hop), so short-lived loops share warm connections.

Which loops are long-lived is learnt. At first every new loop gets a pool of its own (an async application,
a script, a thread's loop: no hop ever). Once a loop with a pool closes before it ran
:data:`PROMOTE_AFTER` statements, loops here are evidently short-lived (a runtime or ``asyncio.run`` per
call): from then on a new loop uses the I/O pool until it has run ``PROMOTE_AFTER`` statements (the
break-even of a hop against a new pool, measured in docs/performance.md). Pools of loops that have closed
are terminated when the next pool is made, and at close.

Each pool holds at most ``pool_size`` connections, so a DataFlow holds at most
``pool_size * (1 + max_loop_pools)`` connections to its server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import DatabaseError
from .runner import IOThread, run_on

#: statements a loop sends to the I/O pool, once loops proved short-lived, before it gets a pool of its own
PROMOTE_AFTER = 100
#: loops that may hold their own pool at once, besides the I/O loop
MAX_LOOP_POOLS = 3
_log = logging.getLogger("dataflow.pools")


class LoopPools:
    """``pools.here(loop)`` → that loop's pool, ``await pools.local(loop)`` → the same, made when the loop
    deserves one (see the module), else None: send the statement to :attr:`io`, whose loop always has one."""

    def __init__(self, create: Callable[[], Awaitable[Any]], close: Callable[[Any], Awaitable[None]],
                 terminate: Callable[[Any], None], what: str, io: IOThread | None = None, *,
                 promote_after: int = PROMOTE_AFTER, max_loop_pools: int = MAX_LOOP_POOLS) -> None:
        self._create, self._close, self._terminate, self.what = create, close, terminate, what
        self.io = io if io is not None else IOThread()
        self.promote_after = promote_after
        self.max_loop_pools = max_loop_pools
        self.short_lived = False
        """Whether a loop with a pool has closed young: then new loops prove themselves on the I/O pool first."""
        self._pools: dict[asyncio.AbstractEventLoop, Any] = {}
        self._served: dict[asyncio.AbstractEventLoop, int] = {}  # statements each pooled loop ran on its pool
        self._uses: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
        self._own: set[asyncio.AbstractEventLoop] = set()  # loops other than the I/O loop with a pool, made or making
        self._guard = threading.Lock()  # the bookkeeping above is shared by every thread's loop
        self.closed = False

    def here(self, loop: asyncio.AbstractEventLoop) -> Any:
        """The pool of ``loop`` if it has one (the hot path: two dict operations)."""
        pool = self._pools.get(loop)
        if pool is not None:
            self._served[loop] = self._served.get(loop, 0) + 1  # only ``loop``'s own thread counts its statements
        return pool

    async def local(self, loop: asyncio.AbstractEventLoop) -> Any:
        """``loop``'s pool, made now if ``loop`` is the I/O loop or deserves one; else None."""
        if self.closed:
            raise DatabaseError(f"the {self.what} backend is closed")
        pool = self.here(loop)
        if pool is not None:
            return pool
        with self._guard:
            if loop is not self.io.loop and loop not in self._own:
                uses = self._uses[loop] = self._uses.get(loop, 0) + 1
                self._prune()
                if self.short_lived and uses <= self.promote_after:
                    return None
                if len(self._own) >= self.max_loop_pools:
                    return None
                self._own.add(loop)
            lock = self._locks.get(loop)
            if lock is None:
                lock = self._locks[loop] = asyncio.Lock()
        try:
            async with lock:
                pool = self._pools.get(loop)
                if pool is None:
                    pool = await self._create()
                    if self.closed:  # closed while connecting
                        await self._close(pool)
                        raise DatabaseError(f"the {self.what} backend is closed")
                    with self._guard:
                        self._served[loop] = 0
                        self._pools[loop] = pool
        except BaseException:
            with self._guard:
                if loop not in self._pools:
                    self._own.discard(loop)
            raise
        return pool

    def pools(self) -> list[Any]:
        return list(self._pools.values())

    def _prune(self) -> None:
        """Terminate the pools of loops that have closed, learning from how long they lived (under the guard)."""
        for loop in [lp for lp in self._pools if lp.is_closed()]:
            served = self._served.pop(loop, 0)
            if served < self.promote_after and not self.short_lived:
                self.short_lived = True
                _log.debug("an event loop closed after %d statements on its own pool: new loops share the I/O "
                           "thread's pool until they have run %d", served, self.promote_after)
            self._own.discard(loop)
            self._terminate(self._pools.pop(loop))

    async def close(self) -> None:
        """Close the current loop's and the I/O loop's pools gracefully (within 5 s each), terminate the others."""
        self.closed = True
        with self._guard:
            pools, self._pools = self._pools, {}
            self._own.clear()
            self._served.clear()
        current = asyncio.get_running_loop()
        for loop, pool in pools.items():
            if loop is current:
                try:  # a server that stopped answering (SIGSTOP) must not hold close(), nor the exit
                    await asyncio.wait_for(self._close(pool), timeout=5)
                except Exception:
                    self._terminate(pool)
            elif loop is self.io.loop and loop.is_running():
                try:
                    await asyncio.wait_for(run_on(loop, self._close(pool)), timeout=5)
                except Exception:
                    self._terminate(pool)
            else:
                self._terminate(pool)

    def close_sync(self) -> None:
        self.closed = True
        with self._guard:
            pools, self._pools = self._pools, {}
            self._own.clear()
            self._served.clear()
        for loop, pool in pools.items():
            if loop is self.io.loop and loop.is_running() and not self.io.is_current():
                try:
                    self.io.run(asyncio.wait_for(self._close(pool), timeout=5))
                    continue
                except Exception:
                    pass
            self._terminate(pool)
