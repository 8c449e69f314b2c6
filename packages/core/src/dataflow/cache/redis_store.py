"""The shared store: results and per-table version counters in Redis, for every process using it.

One round trip per read: a Lua script reads the table's version and the value stored under it together.
A bump increments the version (or, when the key is gone, evicted or never made, sets a new random one:
a counter restarting at 1 could meet results stored under an old 1). See docs/caching.md for why a read
can never return a result older than a write whose call has returned.

Clients: a blocking backend (SQLite) never suspends, so it uses the ``redis`` package's synchronous client
(bounded by the socket timeouts, as its own SQLite calls block). Other backends use ``redis.asyncio``: a client
per long-lived event loop, and one on DataFlow's I/O thread for short-lived loops
(:class:`dataflow.pools.LoopPools`, the rule the database pools follow). Every call is bounded by
``timeout``; every failure becomes :class:`StoreUnavailable`, which the cache turns into a database read.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from ..pools import LoopPools
from ..runner import IOThread

GET = """
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[2], 'NX')
  v = redis.call('GET', KEYS[1])
end
return {v, redis.call('GET', ARGV[1] .. ':' .. v)}
"""

BUMP = """
for i, k in ipairs(KEYS) do
  if redis.call('EXISTS', k) == 1 then redis.call('INCR', k) else redis.call('SET', k, ARGV[i]) end
end
return #KEYS
"""


class StoreUnavailable(Exception):
    """Redis did not answer in time, refused, or failed; ``kind`` is ``timeout``, ``connection`` or ``error``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def _seed() -> str:
    return str(secrets.randbits(60))


def _unavailable(exc: BaseException) -> StoreUnavailable:
    import redis.exceptions as rx

    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, rx.TimeoutError)):
        return StoreUnavailable("timeout", type(exc).__name__)
    if isinstance(exc, (rx.ConnectionError, ConnectionError, OSError)):
        return StoreUnavailable("connection", type(exc).__name__)
    return StoreUnavailable("error", type(exc).__name__)


class RedisStore:
    """Results under ``{base}:{version}`` with a TTL; versions under their own keys, without one."""

    kind = "redis"
    shared = True

    def __init__(self, url: str, *, timeout: float, blocking: bool, io: IOThread | None, options: dict) -> None:
        try:
            import redis  # noqa: F401
        except ImportError:
            from ..errors import ConfigurationError

            raise ConfigurationError(
                'a Redis cache needs the redis package: pip install "kailash-dataflow[redis]"'
            ) from None
        self._url = url
        self._timeout = timeout
        self._options = {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retry_on_timeout": False,
                         "health_check_interval": 0, **options}
        self._sync: Any = None
        self._sync_scripts: tuple[Any, Any] | None = None
        self._pools: LoopPools | None = None
        if blocking:
            import redis

            self._sync = redis.Redis.from_url(url, retry=_no_retry(), **self._options)
            self._sync_scripts = (self._sync.register_script(GET), self._sync.register_script(BUMP))
        else:
            self._pools = LoopPools(self._new_client, _aclose, _drop, "redis cache", io)

    async def _new_client(self) -> Any:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self._url, retry=_no_retry(), **self._options)
        client._dataflow_scripts = (client.register_script(GET), client.register_script(BUMP))
        return client

    async def _run(self, work: Any, timeout: float | None = None) -> Any:
        """``await work(client, scripts)`` on a client of this loop (or the I/O loop's), bounded by the timeout."""
        try:
            if self._sync is not None:
                return work(self._sync, self._sync_scripts)
            loop = asyncio.get_running_loop()
            assert self._pools is not None
            client = self._pools.here(loop) or await self._pools.local(loop)
            if client is None:
                return await self._pools.io.call(self._run(work, timeout))
            return await asyncio.wait_for(work(client, client._dataflow_scripts), timeout or self._timeout)
        except StoreUnavailable:
            raise
        except Exception as exc:
            raise _unavailable(exc) from None

    async def get(self, version_key: str, base: str) -> tuple[str, Any]:
        reply = await self._run(lambda c, s: s[0](keys=[version_key], args=[base, _seed()], client=c))
        version, value = reply
        return (version.decode() if isinstance(version, bytes) else str(version)), value

    async def put(self, base: str, version: str, value: bytes, ttl: float) -> None:
        await self._run(lambda c, s: c.set(f"{base}:{version}", value, px=max(1, int(ttl * 1000))))

    async def bump(self, version_keys: list[str]) -> None:
        if version_keys:
            await self._run(lambda c, s: s[1](keys=version_keys, args=[_seed() for _ in version_keys], client=c))

    async def clear(self, pattern: str) -> None:
        """Delete the keys matching ``pattern`` (SCAN, never KEYS); used by ``db.cache.clear()``."""

        def scan(client: Any, scripts: Any) -> Any:
            if self._sync is not None:
                for key in client.scan_iter(match=pattern, count=500):
                    client.delete(key)
                return None

            async def run() -> None:
                async for key in client.scan_iter(match=pattern, count=500):
                    await client.delete(key)

            return run()

        await self._run(scan, timeout=30)

    async def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
        elif self._pools is not None:
            await self._pools.close()

    def close_sync(self) -> None:
        if self._sync is not None:
            self._sync.close()
        elif self._pools is not None:
            self._pools.close_sync()


def _no_retry() -> Any:
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), 0)


async def _aclose(client: Any) -> None:
    await client.aclose()


def _drop(client: Any) -> None:
    """A client of a closed loop: its sockets go with it (nothing can run on that loop any more)."""


__all__ = ["RedisStore", "StoreUnavailable"]
