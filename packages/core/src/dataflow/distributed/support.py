"""What a backend supplies for two-phase commit, and the branch transaction handle built on it.

A backend that can prepare transactions returns a :class:`TwoPhaseSupport` from ``Backend.two_phase()``
(PostgreSQL: ``PREPARE TRANSACTION`` / ``COMMIT PREPARED`` / ``pg_prepared_xacts``; MySQL and MariaDB:
``XA START … XA PREPARE … XA COMMIT`` / ``XA RECOVER``); every other backend returns None and is refused as
a participant. The support's methods receive a raw driver connection; core runs them on the right event
loop, observed and with driver errors translated (``SQLSession.run``).

:class:`BranchTransaction` is one participant's transaction: an ordinary SQL transaction (express calls,
workflow nodes and savepoints work inside) that cannot commit on its own: it is prepared, then committed
or rolled back as prepared, by the coordinator (:mod:`.coordinator`).
"""

from __future__ import annotations

import asyncio
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..runner import run_on
from ..sql.session import SQLTransaction
from ..transactions import TransactionError

GID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def check_gid(gid: str) -> str:
    """Transaction ids are written into SQL literals: letters, digits, ``_ . -``, at most 64 characters."""
    if not isinstance(gid, str) or not GID_PATTERN.match(gid):
        raise TransactionError(f"invalid global transaction id {gid!r}: 1-64 letters, digits, '_', '.', '-'")
    return gid


class TwoPhaseSupport(ABC):
    """One backend's prepared transactions. Subclasses implement the driver calls below."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.session = backend.session
        self.checked = False

    # --- what a backend implements ---------------------------------------------------------------------------

    @abstractmethod
    async def check(self, conn: Any) -> None:
        """Raise PreparedTransactionsDisabledError (with the fix) when the server cannot prepare transactions.
        Called once per backend, on the first branch's connection."""

    @abstractmethod
    async def start(self, conn: Any, isolation_level: str | None, gid: str) -> Any:
        """Begin the branch ``gid`` on ``conn``; returns the driver's transaction state."""

    @abstractmethod
    async def prepare(self, conn: Any, state: Any, gid: str) -> None:
        """Prepare the branch; raise PrepareFailedError when the database rolled it back instead."""

    @abstractmethod
    async def abort_active(self, conn: Any, state: Any, gid: str) -> None:
        """Roll back the branch before it was prepared."""

    @abstractmethod
    async def finish(self, conn: Any, gid: str, commit: bool) -> bool:
        """COMMIT or ROLLBACK the prepared branch ``gid`` (from any connection); False when no such prepared
        transaction exists (already finished)."""

    @abstractmethod
    async def in_doubt(self, conn: Any, prefix: str) -> list[str]:
        """Ids of the prepared transactions of this database whose id starts with ``prefix``."""

    # --- what core builds on them ------------------------------------------------------------------------------

    async def begin_branch(self, gid: str, isolation_level: str | None = None) -> BranchTransaction:
        """A new branch on a connection of its own (not bound)."""
        check_gid(gid)

        async def start(conn: Any, isolation: str | None) -> Any:
            if not self.checked:
                await self.check(conn)
                self.checked = True
            return await self.start(conn, isolation, gid)

        handle = await self.session.begin(isolation_level, start=start, handle=BranchTransaction)
        handle.gid, handle.support = gid, self
        if handle.loop is None:
            handle.loop = asyncio.get_running_loop()
        return handle

    async def on_pool(self, what: str, fn: Callable[[Any], Awaitable[Any]], timeout: float | None = None) -> Any:
        """``fn(conn)`` on a pooled connection outside any transaction (never the bound one, and not wrapped in
        one under row-level security: COMMIT PREPARED cannot run in a transaction block)."""
        session = self.session

        async def pooled(t: float | None) -> Any:
            loop = asyncio.get_running_loop()
            pool = session.pools.here(loop)
            if pool is None:
                pool = await session.pools.local(loop)
            if pool is None:
                return await session.io.call(pooled(t))
            return await session._pooled(pool, lambda conn, _s, _a, _t: fn(conn), what, None, t)

        return await session.run(what, (), pooled, timeout=timeout)

    async def finish_anywhere(self, gid: str, commit: bool) -> bool:
        """COMMIT/ROLLBACK PREPARED ``gid`` on a pooled connection."""
        what = f"{'COMMIT' if commit else 'ROLLBACK'} PREPARED '{gid}'"
        return await self.on_pool(what, lambda conn: self.finish(conn, gid, commit))

    async def list_in_doubt(self, prefix: str) -> list[str]:
        return await self.on_pool("list prepared transactions", lambda conn: self.in_doubt(conn, prefix))


class BranchTransaction(SQLTransaction):
    """One participant's transaction in a distributed transaction.

    ``phase``: ``active`` (statements run), ``prepared``, ``unknown`` (a prepare that failed or timed out
    midway), ``committed``, ``rolled_back``. It never commits by itself: :meth:`commit` is refused.
    """

    gid: str = ""
    support: TwoPhaseSupport
    phase = "active"

    async def _commit(self) -> None:
        raise TransactionError("a participant of a distributed transaction commits with the others, at the end of "
                               "the distributed transaction, never alone")

    async def _rollback(self) -> None:
        self.check_active()
        self.active = False
        self.phase = "rolled_back"
        await self.session.run("ROLLBACK", (), self.session.end, self,
                               lambda conn, state: self.support.abort_active(conn, state, self.gid))

    async def prepare(self, timeout: float | None) -> None:
        """Prepare on the branch's own connection, which stays pinned for the second phase."""
        self.check_active()
        self.active = False  # nothing else may run on it now
        self.phase = "unknown"
        try:
            await self.session.run(f"PREPARE '{self.gid}'", (), self._on_conn,
                                   lambda conn: self.support.prepare(conn, self.state, self.gid), timeout=timeout)
        except BaseException:
            self._drop()
            raise
        self.phase = "prepared"

    async def finish(self, commit: bool, timeout: float | None) -> None:
        """COMMIT/ROLLBACK PREPARED on the branch's connection (or, when that fails, once on a pooled one);
        the connection goes back to its pool."""
        what = f"{'COMMIT' if commit else 'ROLLBACK'} PREPARED '{self.gid}'"
        try:
            await self.session.run(what, (), self.session.end, self,
                                   lambda conn, _state: self.support.finish(conn, self.gid, commit), timeout=timeout)
        except Exception:  # the connection may be gone: another one can still finish it
            await self.support.finish_anywhere(self.gid, commit)
        self.phase = "committed" if commit else "rolled_back"

    async def _on_conn(self, fn: Callable[[Any], Awaitable[Any]], timeout: float | None) -> Any:
        if self.loop is not None and self.loop is not asyncio.get_running_loop():
            if not self.loop.is_running():
                raise TransactionError(
                    "this transaction's event loop is not running; use it from the code that began it"
                )
            return await run_on(self.loop, self._on_conn(fn, timeout))
        async with self.lock:
            return await fn(self.conn)

    def _drop(self) -> None:
        """Close the connection of a branch in an unknown state (the server rolls back what is not prepared)."""
        driver = self.session.driver
        try:
            driver.discard(self.conn)
        except Exception:  # noqa: S110 - closing a broken connection is best effort
            pass
        pool, conn = self.pool, self.conn
        if self.loop is not None and not self.loop.is_closed():
            try:
                if self.loop is asyncio.get_running_loop():
                    asyncio.ensure_future(driver.release(pool, conn))
                    return
            except RuntimeError:
                pass
            asyncio.run_coroutine_threadsafe(driver.release(pool, conn), self.loop)


@contextmanager
def unbound(backend: Any) -> Iterator[None]:
    """Statements in this block run outside the transaction bound to the context (the coordinator log)."""
    token = backend.bind(None)
    try:
        yield
    finally:
        backend.unbind(token)
