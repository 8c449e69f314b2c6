"""Read replicas: reads outside transactions go to standby servers, everything else to the primary.

``DataFlow(url, read_urls=[standby1, standby2])`` (or the reference's ``read_url=standby``) keeps the
primary for writes and sends the statements of Read, List and Count (nodes and express) to a replica when:

* the call is not inside a transaction (a workflow transaction, ``db.transaction()``, or a unit of work):
  a bound transaction pins every statement to its primary connection (:mod:`dataflow.sql.session`);
* the call did not ask for ``use_primary=True``;
* a replica is usable: not marked down (a failed connection marks it down for ``replica_retry_after``
  seconds), not lagging more than ``replica_max_lag`` seconds (measured on the replica, at most once per
  :data:`CHECK_EVERY` seconds; a standby whose WAL receiver is not streaming lags by an unknown amount,
  infinity), and caught up with this DataFlow's own writes (below).

**Read-your-writes, per DataFlow instance.** The context is the DataFlow instance: once a write made
through it has returned (or a transaction through it has committed), every later read through the same
instance, from any task, thread or runtime, sees that write. After a write the next routed read asks the
primary for its WAL insert position (``pg_current_wal_insert_lsn()``, which covers commits made with
``synchronous_commit=off`` too), then waits up to ``replica_wait`` seconds for a replica whose
``pg_last_wal_replay_lsn()`` has passed it, and otherwise reads from the primary. Reads with no write
since the last check pay nothing. Writes made by other processes or other DataFlow instances are seen as
soon as the replica has replayed them, bounded by ``replica_max_lag``.

Replicas are chosen round-robin (``read_policy="round_robin"``, the default) or by the smallest measured
lag (``read_policy="least_lag"``). A replica that has been promoted (no longer in recovery) keeps serving
reads that need none of this DataFlow's later writes (during a failover, reads stay available while the
old primary is gone): its position stays where its replay stopped, so a write through this DataFlow after
the promotion is read from the primary. Tenancy holds unchanged:
DataFlow's tenant scoping is part of every statement, and under row-level security a routed read runs in
a transaction on the replica that sets ``dataflow.tenant_id`` first, as on the primary.

Backends: PostgreSQL (its driver implements :meth:`~dataflow.sql.driver.SQLDriver.for_replica` and the
two WAL positions). Other backends refuse ``read_urls`` with a :class:`ConfigurationError` (see
docs/scaling.md): SQLite has no servers to replicate to, MongoDB routes reads itself with
``readPreference=`` in its URL, and MariaDB routing is not implemented.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import itertools
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, DataFlowError, QueryTimeoutError, ValidationError
from .pools import LoopPools
from .urls import parse_url

if TYPE_CHECKING:
    from .dataflow import DataFlow
    from .sql.session import SQLSession

#: seconds between two status checks of a replica (lag, position, recovery)
CHECK_EVERY = 1.0
#: the options DataFlow accepts for replicas, with what they mean
OPTIONS = {
    "read_urls": "read replicas (standby servers of the primary): reads outside transactions go there "
                 "(PostgreSQL; see docs/scaling.md)",
    "read_url": "one read replica (the 2.x name); same as read_urls=[read_url]",
    "read_policy": "'round_robin' (default) or 'least_lag': how a replica is chosen for a read",
    "replica_max_lag": "seconds a replica may lag behind the primary before it is skipped (default 5)",
    "replica_wait": "seconds a read waits for a replica to replay this DataFlow's own writes before it "
                    "reads from the primary instead (default 0.5)",
    "replica_retry_after": "seconds a replica that failed is skipped before it is tried again (default 5)",
}
POLICIES = ("round_robin", "least_lag")

READING: contextvars.ContextVar[bool] = contextvars.ContextVar("dataflow_routed_read", default=False)
"""True while a Read/List/Count operation that may use a replica runs (set by :func:`reads`)."""

_MISS = object()  # a replica could not serve this read: try the next, then the primary
_log = logging.getLogger("dataflow.replicas")


@dataclass
class Replica:
    """One standby: its driver, its pools, and what its last status check said."""

    url: Any
    driver: Any
    pools: LoopPools
    position: int = -1
    """The primary's WAL position it has replayed (where replay stopped, once promoted); -1 before the first
    check."""
    lag: float = 0.0
    in_recovery: bool = True
    checked: float = float("-inf")
    down_until: float = float("-inf")
    behind_until: float = float("-inf")
    """Until then, a read needing a position it has not reached skips it without waiting (it just made one wait)."""
    reads: int = 0
    failures: int = 0
    busy: int = 0
    """Reads that found its pool full for half their limit and went elsewhere."""

    def usable(self, now: float, max_lag: float, need: int) -> bool:
        """Not down; not lagging past the bound (checked again once its status is due); not known to be
        behind ``need`` after a wait that just ran out."""
        if now < self.down_until or (self.position < need and now < self.behind_until):
            return False
        return self.lag <= max_lag or now - self.checked >= CHECK_EVERY


class ReadRouter:
    """Routes one SQL backend's reads to its replicas (``session.router``); see the module."""

    def __init__(self, session: SQLSession, urls: Sequence[Any], *, policy: str, max_lag: float, wait: float,
                 retry_after: float) -> None:
        self.session = session
        self.policy, self.max_lag, self.wait, self.retry_after = policy, max_lag, wait, retry_after
        self.replicas = [self._replica(url) for url in urls]
        self._turn = itertools.count()
        self.writes = 0
        """Writes (and commits) through this DataFlow that have returned."""
        self.synced = 0
        """How many of them :attr:`target` covers."""
        self.target = -1
        """The primary's WAL position after the writes counted in :attr:`synced`: a replica must reach it."""
        self.fallbacks = 0
        self.waits = 0

    def _replica(self, url: Any) -> Replica:
        driver = self.session.driver.for_replica(url)
        pools = LoopPools(driver.create_pool, driver.close_pool, driver.terminate_pool,
                          f"{self.session.backend.name} replica", self.session.io)
        return Replica(url, driver, pools)

    # --- the hooks the session calls -----------------------------------------------------------------------

    def wrote(self) -> None:
        """A statement that may have written, or a commit, has returned on the primary."""
        self.writes += 1

    async def read(self, fn: Any, sql: str, arg: Any, timeout: float | None) -> Any:
        """Run a read statement on a replica that can serve it, else on the primary, within ``timeout`` in all."""
        from .sql.liveness import left  # dataflow.sql imports this module
        if self.writes > self.synced:
            if not await self._sync():
                return await self._primary(fn, sql, arg, timeout)
        need, now, replicas = self.target, time.monotonic(), self.replicas
        started = now
        if len(replicas) == 1:  # the common case, without building lists
            candidates = replicas if replicas[0].usable(now, self.max_lag, need) else []
        else:
            candidates = self._ordered([r for r in replicas if r.usable(now, self.max_lag, need)])
        last = len(candidates) - 1
        for index, replica in enumerate(candidates):
            wait = self.wait if index == last else 0.0  # only the last one is waited for
            result = await self._on(replica, fn, sql, arg, left(timeout, started), need, wait, now)
            if result is not _MISS:
                replica.reads += 1
                return result
        return await self._primary(fn, sql, arg, left(timeout, started))

    # --- choosing ------------------------------------------------------------------------------------------------

    def _ordered(self, candidates: list[Replica]) -> list[Replica]:
        """Those caught up with :attr:`target` first; among them by policy (round-robin or least lag)."""
        start = next(self._turn) % len(candidates)
        rotated = candidates[start:] + candidates[:start]
        if self.policy == "least_lag":
            rotated.sort(key=lambda r: r.lag)
        return sorted(rotated, key=lambda r: r.position < self.target)  # stable: keeps the policy's order

    async def _sync(self) -> bool:
        """Learn the primary's WAL position now, which covers every write counted so far; False if it failed."""
        seen = self.writes
        driver = self.session.driver
        try:
            position = await self.session._primary(driver.write_position, "SELECT pg_current_wal_insert_lsn()",
                                                   None, self.wait or None)
        except Exception as exc:  # the read itself goes to the primary, which reports what is wrong
            _log.debug("cannot read the primary's WAL position (%s): reading from the primary", type(exc).__name__)
            return False
        if position is None:
            return False
        self.target = max(self.target, position)
        self.synced = max(self.synced, seen)
        return True

    async def _primary(self, fn: Any, sql: str, arg: Any, timeout: float | None) -> Any:
        self.fallbacks += 1
        return await self.session._primary(fn, sql, arg, timeout)

    # --- one replica ------------------------------------------------------------------------------------------

    async def _on(self, replica: Replica, fn: Any, sql: str, arg: Any, timeout: float | None, need: int,
                  wait: float, now: float) -> Any:
        loop = asyncio.get_running_loop()
        pool = replica.pools.here(loop)
        if pool is None:
            try:
                pool = await replica.pools.local(loop)
            except Exception as exc:
                return self._down(replica, exc)
            if pool is None:  # a short-lived loop: the I/O thread's pool serves it
                return await self.session.io.call(self._on(replica, fn, sql, arg, timeout, need, wait, now))
        from .sql.liveness import acquired, left

        driver = replica.driver
        begun = time.monotonic()
        try:  # a replica whose pool stays full for half the limit is busy, not down: the primary answers instead
            conn = await acquired(driver, pool, driver.acquire(pool), None if timeout is None else timeout / 2, sql)
        except QueryTimeoutError:
            replica.busy += 1
            return _MISS
        except Exception as exc:
            return self._down(replica, exc)
        timeout = left(timeout, begun)
        try:
            if replica.position < need or now - replica.checked >= CHECK_EVERY:
                try:
                    ready = await self._ready(replica, conn, need, wait)
                except Exception as exc:  # the status query failed or timed out: skip this replica for a while
                    if driver.is_disconnect(exc):
                        driver.discard(conn)
                    return self._down(replica, exc)
                if not ready:
                    return _MISS
            if self.session.implicit_transactions:  # row-level security: the tenant is set in the transaction
                state = await driver.begin(conn, None)
                try:
                    result = await fn(conn, sql, arg, timeout)
                except BaseException:
                    await driver.rollback(conn, state)
                    raise
                await driver.commit(conn, state)
                return result
            return await fn(conn, sql, arg, timeout)
        except Exception as exc:
            if driver.is_disconnect(exc):
                driver.discard(conn)
                return self._down(replica, exc)
            if driver.replica_conflict(exc):  # cancelled by the replay of WAL: the primary answers instead
                return _MISS
            raise
        finally:
            await driver.release(pool, conn)

    async def _ready(self, replica: Replica, conn: Any, need: int, wait: float) -> bool:
        """Check the replica's status (due, or it must reach ``need``); wait up to ``wait`` for it to reach it."""
        deadline, pause = time.monotonic() + wait, 0.001
        while True:
            await self._check(replica, conn)
            if replica.lag > self.max_lag:
                return False
            if replica.position >= need:
                return True
            now = time.monotonic()
            if now >= deadline:
                replica.behind_until = now + CHECK_EVERY  # reads needing as much skip it until its next check
                return False
            self.waits += 1
            await asyncio.sleep(min(pause, deadline - now))
            pause = min(pause * 2, 0.02)

    async def _check(self, replica: Replica, conn: Any) -> None:
        position, lag, in_recovery = await replica.driver.replica_status(conn, CHECK_EVERY + self.wait)
        if lag == math.inf and replica.lag != math.inf:
            _log.warning("read replica %s receives no WAL from its primary (its WAL receiver is not streaming): "
                         "skipped until it streams again", replica.url.masked())
        replica.position, replica.lag, replica.checked = position, lag, time.monotonic()
        if replica.in_recovery and not in_recovery:
            _log.warning("read replica %s is no longer in recovery (promoted): it keeps serving reads, and what this "
                         "DataFlow writes from now on is read from the primary", replica.url.masked())
        replica.in_recovery = in_recovery

    def _down(self, replica: Replica, exc: BaseException) -> Any:
        replica.down_until = time.monotonic() + self.retry_after
        replica.failures += 1
        replica.checked = float("-inf")
        message = exc.message if isinstance(exc, DataFlowError) else type(exc).__name__
        _log.warning("read replica %s is skipped for %g s: %s", replica.url.masked(), self.retry_after, message)
        return _MISS

    # --- reporting and lifecycle -----------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Reads served by each replica (and its connections), reads that fell back to the primary, waits for
        replay."""
        now = time.monotonic()
        return {
            "fallbacks_to_primary": self.fallbacks, "replay_waits": self.waits,
            "replicas": [{"url": r.url.masked(), "reads": r.reads, "failures": r.failures, "busy": r.busy,
                          "lag_seconds": None if r.lag == math.inf else r.lag,  # unknown: not receiving
                          "in_recovery": r.in_recovery, "down": now < r.down_until, "pool": _pool_stats(r)}
                         for r in self.replicas],
        }

    async def close(self) -> None:
        for replica in self.replicas:
            await replica.pools.close()

    def close_sync(self) -> None:
        for replica in self.replicas:
            replica.pools.close_sync()


def _pool_stats(replica: Replica) -> dict[str, int]:
    pools = replica.pools.pools()
    total = {"pools": len(pools), "size": 0, "in_use": 0, "idle": 0}
    for pool in pools:
        for key, value in replica.driver.pool_stats(pool).items():
            total[key] = total.get(key, 0) + value
    return total


# --- configuration ----------------------------------------------------------------------------------------------


def _number(options: dict, name: str, default: float) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigurationError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def configure(df: DataFlow, options: dict) -> ReadRouter | None:
    """The router for ``read_urls``/``read_url`` (None without replicas), attached to the backend's session."""
    urls = options.get("read_urls")
    single = options.get("read_url")
    if urls is not None and single is not None:
        raise ConfigurationError("pass read_urls=[...] or read_url=..., not both")
    if single is not None:
        urls = [single]
    if isinstance(urls, str):
        raise ConfigurationError("read_urls must be a list of URLs, e.g. read_urls=['postgresql://…@standby/db']")
    unused = [k for k in ("read_policy", "replica_max_lag", "replica_wait", "replica_retry_after") if k in options]
    if not urls:
        if unused:
            raise ConfigurationError(f"{', '.join(unused)} need read replicas: pass read_urls=[...]")
        return None
    policy = options.get("read_policy", "round_robin")
    if policy not in POLICIES:
        raise ConfigurationError(f"read_policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    parsed = [parse_url(u) if isinstance(u, str) else u for u in urls]
    backend = df.backend
    session = getattr(backend, "session", None)
    driver = getattr(session, "driver", None)
    if driver is None or not getattr(driver, "replicas", False):
        raise ConfigurationError(
            f"read replicas need a backend that routes reads to them (PostgreSQL); the {backend.name!r} backend "
            f"does not ({_why_not(backend.name)}). Drop read_urls/read_url, or see docs/scaling.md")
    for url in parsed:
        if df.host.backends.for_scheme(url.scheme, url.masked()) is not type(backend):
            raise ConfigurationError(f"read replica {url.masked()} is not a {backend.name} URL like the primary's "
                                     f"({df.url.masked()})")
    router = ReadRouter(session, parsed, policy=policy, max_lag=_number(options, "replica_max_lag", 5.0),
                        wait=_number(options, "replica_wait", 0.5),
                        retry_after=_number(options, "replica_retry_after", 5.0))
    session.router = router
    return router


def _why_not(name: str) -> str:
    return {"sqlite": "an embedded database file has no servers to read from",
            "mongo": "put readPreference=secondaryPreferred in the MongoDB URL: the driver routes reads itself",
            "mysql": "MariaDB/MySQL read routing is not implemented yet"}.get(name, "it has no read routing")


# --- the operations that may read from a replica --------------------------------------------------------------------


def reads(method: Any) -> Any:
    """Mark a read operation ``(self, model, params)`` as routable; ``params["use_primary"]`` opts out.

    The model's table is ensured first (DDL always runs on the primary), then the operation runs with
    :data:`READING` set, which the session honours only outside transactions."""

    @functools.wraps(method)
    async def wrapper(self: Any, model: Any, params: dict, *args: Any, **kwargs: Any) -> Any:
        use_primary = params.get("use_primary", False)
        if not isinstance(use_primary, bool):
            raise ValidationError(f"{model.name}: use_primary must be True or False, got {use_primary!r}")
        if use_primary or self.df.read_replicas is None or READING.get():
            return await method(self, model, params, *args, **kwargs)
        if model.name not in self.df._ready_models or self.df.closed:
            await self._backend(model)
        token = READING.set(True)
        try:
            return await method(self, model, params, *args, **kwargs)
        finally:
            READING.reset(token)

    return wrapper


__all__ = ["OPTIONS", "READING", "ReadRouter", "Replica", "configure", "reads"]
