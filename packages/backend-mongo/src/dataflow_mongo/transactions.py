"""Transactions on MongoDB: client sessions bound to a context, atomic work, and MongoTransaction."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import warnings
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from dataflow.errors import DatabaseError
from dataflow.transactions import TransactionError, TransactionHandle, check_savepoint

from . import driver
from .connection import _Conn
from .limits import limited

if TYPE_CHECKING:
    from .backend import MongoBackend

log = logging.getLogger("dataflow.mongo")
_BACKGROUND: set[asyncio.Task] = set()  # aborts of stalled transactions, kept until done


class MongoTransactions:
    """Mixin of :class:`~dataflow_mongo.backend.MongoBackend`: sessions, begin, atomic work, cross-loop calls."""

    def session(self, conn: _Conn) -> Any:
        """The session of the transaction bound to this context (None outside one, or on a server without
        transactions). Raises when that transaction can no longer be used."""
        handle = self.bound_handle()
        if handle is None:
            return None
        handle.usable()
        if handle.conn is not conn:  # pragma: no cover - primitives move to the transaction's loop first
            raise TransactionError("this MongoDB transaction belongs to another event loop")
        return handle.session

    async def supports_transactions(self) -> bool:
        if self.server_transactions is None:
            await self.open()
        return bool(self.server_transactions)

    async def begin(self, isolation_level: str | None = None) -> MongoTransaction:
        """A multi-document transaction on this loop's client (snapshot isolation, MongoDB's only kind)."""
        if isolation_level == "serializable":
            raise TransactionError(
                "MongoDB transactions run at snapshot isolation, not serializable (write skew is possible); "
                "use read_committed or repeatable_read, which snapshot isolation provides")
        conn = await self._conn()
        if not await self.supports_transactions():
            if not self._warned_no_tx:
                self._warned_no_tx = True
                warnings.warn(f"MongoDB at {self.target} is not a replica set: no transactions, so writes of several "
                              "documents are not atomic and cannot be rolled back", RuntimeWarning, stacklevel=3)
            return MongoTransaction(self, conn, None, isolation_level)
        session = conn.client.start_session()
        try:
            await session.start_transaction()
        except driver.perr.PyMongoError as exc:
            await session.end_session()
            raise TransactionError(f"cannot begin a MongoDB transaction: {self._describe(exc)}") from exc
        return MongoTransaction(self, conn, session, isolation_level)


    async def atomic(self, work: Callable[[_Conn, Any], Awaitable[Any]], attempts: int = 3) -> Any:
        """Run ``work(conn, session)`` all or nothing: in a transaction of its own, retried on a transient write
        conflict; inside the bound transaction as a nested scope (a failure there ends that whole transaction:
        MongoDB has no savepoints)."""
        for attempt in range(attempts):
            nested = self.current_transaction() is not None
            try:
                async with self.transaction():
                    conn = await self._conn()
                    return await work(conn, self.session(conn))
            except (DatabaseError, driver.perr.PyMongoError) as exc:
                orig = getattr(exc, "orig", None) if isinstance(exc, DatabaseError) else exc
                transient = isinstance(orig, driver.perr.PyMongoError) and orig.has_error_label(
                    "TransientTransactionError"
                ) and not orig.timeout  # a timeout is labelled transient too, but its deadline has passed
                if nested or not transient or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _elsewhere(self, handle: MongoTransaction, coro: Any) -> Any:
        """Run a primitive on the loop of the bound transaction (its session belongs to that loop's client)."""
        if handle.loop.is_closed() or not handle.loop.is_running():
            coro.close()
            raise TransactionError("this MongoDB transaction's event loop is not running; use it from the loop "
                                   "that began it")

        async def bound() -> Any:
            token = self.bind(handle)
            try:
                return await coro
            finally:
                self.unbind(token)

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(bound(), handle.loop))

    def _foreign(self) -> MongoTransaction | None:
        """The bound transaction, when it lives on another event loop than this call."""
        handle = self.bound_handle()
        if handle is not None and handle.loop is not asyncio.get_running_loop():
            return handle
        return None


class MongoTransaction(TransactionHandle):
    """A multi-document transaction on one event loop's client session.

    MongoDB has no savepoints. A nested scope therefore shares the transaction, and when a nested block fails
    (or any operation in the transaction fails: the server aborts the transaction then) the whole transaction
    is rolled back at once; every later use of it, commit included, raises TransactionError saying so.
    """

    def __init__(self, backend: MongoBackend, conn: _Conn, session: Any, isolation_level: str | None) -> None:
        super().__init__(isolation_level)
        self.backend, self.conn, self.session = backend, conn, session
        self.loop = asyncio.get_running_loop()
        self.doomed: str | None = None
        self.stalled = False
        """An operation in it timed out: the server may be hung, so its abort is sent in the background."""

    def usable(self) -> None:
        self.check_active()
        if self.doomed:
            raise TransactionError(f"this MongoDB transaction was rolled back: {self.doomed}")

    def doom(self, reason: str, stalled: bool = False) -> None:
        self.stalled = self.stalled or stalled
        if self.doomed is None:
            self.doomed = reason
            self.failed = True

    async def _end(self, commit: bool) -> None:
        session, self.session = self.session, None
        self.active = False
        if session is None:
            return
        if self.stalled and not commit:
            # asked of the server, never waited for (it may be the thing that hangs), like a SQL cancel request; in an
            # empty context, so under the DataFlow's own limit, not the timed-out operation's
            task = contextvars.Context().run(asyncio.get_running_loop().create_task, self._finish(session),
                                             name="dataflow-mongo-abort")
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)
            return
        await self._finish(session, commit)

    async def _finish(self, session: Any, commit: bool = False) -> None:
        """Commit (``commit``) or abort the transaction of ``session``, under the operation limit; end the session."""
        try:
            async with limited(self.backend, "commit" if commit else "abort"):
                if commit:
                    await session.commit_transaction()
                elif session.in_transaction:
                    await session.abort_transaction()
        except (driver.perr.PyMongoError, DatabaseError) as exc:  # DatabaseError: the server was not found
            if commit:
                raise self.backend._translate(exc) from exc
            log.debug("aborting a MongoDB transaction failed", exc_info=True)
        finally:
            await session.end_session()

    async def _here(self, coro: Any) -> Any:
        if asyncio.get_running_loop() is not self.loop:
            return await self.backend._elsewhere(self, coro)
        return await coro

    async def _commit(self) -> None:
        self.check_active()
        if self.doomed:
            await self._here(self._end(commit=False))
            raise TransactionError(f"cannot commit: this MongoDB transaction was rolled back: {self.doomed}")
        await self._here(self._end(commit=True))

    async def _rollback(self) -> None:
        self.check_active()
        await self._here(self._end(commit=False))

    async def savepoint(self, name: str | None = None) -> str:
        self.usable()
        return check_savepoint(name) if name else self.new_savepoint_name()

    async def release(self, name: str) -> None:
        self.usable()

    async def rollback_to(self, name: str) -> None:
        """No savepoints in MongoDB: abort the whole transaction now; it stays open only to say so."""
        self.check_active()
        self.doom(f"a block inside it (savepoint {name!r}) was rolled back, and MongoDB has no savepoints, so "
                  "everything since the transaction began was rolled back")
        session = self.session
        if session is not None and session.in_transaction and not self.stalled:  # stalled: aborted at its end
            try:
                await self._here(self._bounded_abort(session))
            except (driver.perr.PyMongoError, DatabaseError):  # pragma: no cover - aborted by the server, or gone
                log.debug("aborting a MongoDB transaction failed", exc_info=True)

    async def _bounded_abort(self, session: Any) -> None:
        async with limited(self.backend, "abort"):
            await session.abort_transaction()
