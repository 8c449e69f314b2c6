"""Transactions: in code (``async with db.transaction():``) and across workflow nodes.

A backend supplies :class:`TransactionHandle` (begin, commit, rollback,
savepoints) and binds a handle to the current context; everything here is
built on that:

* :func:`scope` — a unit of work. Outermost: BEGIN … COMMIT, or ROLLBACK on an
  exception. Nested: a savepoint, released on success and rolled back to on an
  exception, so a failed inner block leaves the outer transaction usable.
* Every multi-statement operation (bulk writes, upserts) runs in a scope, so
  it is all-or-nothing and, inside a user's transaction, a savepoint.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from .errors import DataFlowError, ValidationError

ISOLATION_LEVELS = ("read_uncommitted", "read_committed", "repeatable_read", "serializable")
_names = itertools.count(1)
_log = logging.getLogger("dataflow.transactions")

AfterCommit = Callable[[], Any]
"""A callback run once the transaction's changes are committed; it may return an awaitable."""


class TransactionError(DataFlowError):
    """A transaction could not begin, commit or roll back, or was used after it ended."""

    code = "DF-510"


def check_savepoint(name: Any) -> str:
    """Savepoint names are identifiers (they are written into SQL)."""
    import re

    if not isinstance(name, str) or not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", name):
        raise ValidationError(f"invalid savepoint name {name!r}: letters, digits and '_', starting with a letter")
    return name


def check_isolation(level: Any) -> str | None:
    """Normalise ``"READ COMMITTED"`` / ``"read-committed"`` to ``read_committed``; refuse anything else."""
    if level is None:
        return None
    key = str(level).strip().lower().replace(" ", "_").replace("-", "_")
    if key not in ISOLATION_LEVELS:
        raise ValidationError(f"invalid isolation level {level!r}; valid: {', '.join(ISOLATION_LEVELS)}")
    return key


class TransactionHandle:
    """One open transaction on one pinned connection. Backends subclass it and implement ``_commit`` and
    ``_rollback``; :meth:`commit` and :meth:`rollback` add what every backend shares (callbacks after commit).
    """

    loop: Any = None
    """The event loop whose connection this transaction holds (None for loop-free backends)."""

    def __init__(self, isolation_level: str | None = None) -> None:
        self.isolation_level = isolation_level
        self.active = True
        self.failed = False
        self._after_commit: list[AfterCommit] = []
        self._marks: dict[str, int] = {}

    async def commit(self) -> None:
        """Commit; then run the :meth:`after_commit` callbacks (never when the commit failed, but those marked
        ``run_on_failed_commit``: cache invalidation, since a failed COMMIT may still have committed)."""
        try:
            await self._commit()
        except BaseException as error:
            callbacks, self._after_commit = self._after_commit, []
            if isinstance(error, Exception):  # the COMMIT may have reached the server: invalidate caches anyway
                self._after_commit = [c for c in callbacks if getattr(c, "run_on_failed_commit", False)]
                await self._run_after_commit()
            raise
        await self._run_after_commit()

    async def rollback(self) -> None:
        """Roll back; the :meth:`after_commit` callbacks are dropped."""
        self._after_commit.clear()
        await self._rollback()

    async def _commit(self) -> None:
        raise NotImplementedError

    async def _rollback(self) -> None:
        raise NotImplementedError

    def after_commit(self, callback: AfterCommit) -> None:
        """Run ``callback`` after this transaction commits; dropped on rollback, and on a rollback to a
        savepoint made before it was registered. Events and cache invalidation use this."""
        self.check_active()
        self._after_commit.append(callback)

    def _mark(self, name: str) -> None:
        self._marks[name] = len(self._after_commit)

    def _forget_since(self, name: str) -> None:
        mark = self._marks.get(name)
        if mark is not None:
            del self._after_commit[mark:]

    async def _run_after_commit(self) -> None:
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                result = callback()
                if inspect.isawaitable(result):
                    await result
            except Exception:  # the data is committed: a failing listener must not turn that into an error
                _log.exception("a callback after commit failed")

    async def savepoint(self, name: str | None = None) -> str:
        raise NotImplementedError

    async def rollback_to(self, name: str) -> None:
        raise NotImplementedError

    async def release(self, name: str) -> None:
        raise NotImplementedError

    def check_active(self) -> None:
        if not self.active:
            raise TransactionError("the transaction has already ended")

    @staticmethod
    def new_savepoint_name() -> str:
        return f"dataflow_sp_{next(_names)}"


async def after_commit(backend: Any, callback: AfterCommit) -> None:
    """Run ``callback`` once what was just written is committed: at the commit of the transaction bound to
    this context, or now when there is none (the statement has already committed on its own)."""
    handle = backend.current_transaction()
    if handle is not None:
        handle.after_commit(callback)
        return
    result = callback()
    if inspect.isawaitable(result):
        await result


async def begin(backend: Any, isolation_level: str | None = None) -> TransactionHandle:
    """``backend.begin``, remembering the loop the transaction's connection belongs to."""
    handle = await backend.begin(check_isolation(isolation_level))
    if not backend.blocking and getattr(handle, "loop", None) is None:
        import asyncio

        handle.loop = asyncio.get_running_loop()
    return handle


def foreign_loop(handle: Any) -> bool:
    """Whether ``handle``'s connection lives on another event loop than the running one."""
    if handle is None or handle.loop is None:
        return False
    import asyncio

    return handle.loop is not asyncio.get_running_loop()


async def on_home_loop(backend: Any, handle: Any, coro: Any) -> Any:
    """Run ``coro`` on the loop of ``handle`` (running in another thread), with the handle bound there."""
    import asyncio

    if not handle.loop.is_running():
        coro.close()
        raise TransactionError("this transaction's event loop is not running; use it from the code that began it")

    async def bound() -> Any:
        token = backend.bind(handle)
        try:
            return await coro
        finally:
            backend.unbind(token)

    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(bound(), handle.loop))


class SQLTransactionHandle(TransactionHandle):
    """A SQL transaction: savepoints are the standard statements, run by the backend's ``_run(sql)``."""

    async def _run(self, sql: str) -> None:
        raise NotImplementedError

    async def savepoint(self, name: str | None = None) -> str:
        name = check_savepoint(name or self.new_savepoint_name())
        await self._run(f"SAVEPOINT {name}")
        self._mark(name)
        return name

    async def rollback_to(self, name: str) -> None:
        await self._run(f"ROLLBACK TO SAVEPOINT {check_savepoint(name)}")
        self._forget_since(name)

    async def release(self, name: str) -> None:
        await self._run(f"RELEASE SAVEPOINT {check_savepoint(name)}")


@asynccontextmanager
async def scope(backend: Any, isolation_level: str | None = None) -> AsyncIterator[TransactionHandle]:
    """Begin (or, inside a transaction, a savepoint); commit on success, roll back on an exception."""
    current = backend.current_transaction()
    if current is not None:
        current.check_active()
        name = await current.savepoint()
        try:
            yield current
        except BaseException:
            if current.active:
                try:
                    await current.rollback_to(name)
                except DataFlowError:
                    pass  # the database already ended the transaction (a deadlock, say): the original error says why
            raise
        else:
            await current.release(name)
        return
    handle = await begin(backend, isolation_level)
    token = backend.bind(handle)
    try:
        try:
            yield handle
        except BaseException:
            if handle.active:
                await handle.rollback()
            raise
        else:
            if handle.active:
                await handle.commit()
    finally:
        backend.unbind(token)
