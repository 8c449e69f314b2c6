"""The coordinator: one transaction over several databases, all-or-nothing, with two-phase commit.

``async with distributed_transaction(db_a, db_b, log=db_a) as tx:`` begins a branch on every database and
binds it, so express calls and workflow runs inside write through each database's own transaction. At the
end of the block:

1. every branch is prepared (concurrently, within ``prepare_timeout``); a failure or a timeout rolls every
   branch back and raises (PrepareFailedError, TwoPhaseTimeoutError);
2. the decision ``commit`` is written to the coordinator log — the point of no return;
3. every branch commits as prepared (within ``commit_timeout``); a branch that cannot be reached stays
   prepared, and InDoubtError says that ``recover()`` finishes it from the log.

An exception inside the block rolls every branch back. Transaction ids are
``df2pc_<log id>_<coordinator>_<24 hex>`` (the branch adds ``_<n>``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager, asynccontextmanager, contextmanager
from typing import Any

from ..errors import DataFlowError, ValidationError
from ..transactions import TransactionError, check_isolation
from .errors import (
    InDoubtError,
    PrepareFailedError,
    TwoPhaseAbortedError,
    TwoPhaseTimeoutError,
    TwoPhaseUnsupportedError,
)
from .log import COMMIT, CoordinatorLog
from .support import BranchTransaction

_log = logging.getLogger("dataflow.distributed")
OPEN: dict[str, DistributedTransaction] = {}
"""Distributed transactions open in this process, by id (the workflow transport finds them here)."""


def gid_prefix(log_id: str, coordinator: str | None = None) -> str:
    """The id prefix of every transaction of a log (and coordinator): what recovery may touch."""
    return f"df2pc_{log_id}_" + (f"{coordinator}_" if coordinator else "")


def check_coordinator(name: Any) -> str:
    if not isinstance(name, str) or not name.isalnum() or len(name) > 16:
        raise ValidationError(f"coordinator name must be 1-16 letters or digits, got {name!r}")
    return name


def support_of(db: Any) -> Any:
    """The backend's two-phase support, or a clear refusal."""
    two_phase = getattr(db.backend, "two_phase", None)
    support = two_phase() if two_phase is not None else None
    if support is None:
        raise TwoPhaseUnsupportedError(
            f"{db.url_masked} ({db.backend.name}) cannot prepare transactions, so it cannot take part in a "
            "distributed transaction; participants must be PostgreSQL (max_prepared_transactions > 0) or "
            "MySQL/MariaDB (XA) databases")
    return support


def label(db: Any) -> str:
    return db.namespace or db.url_masked


class DistributedTransaction:
    """One transaction over several DataFlow databases (see the module docstring)."""

    def __init__(
        self,
        dbs: tuple[Any, ...],
        log: Any = None,
        *,
        coordinator: str = "main",
        isolation_level: str | None = None,
        prepare_timeout: float = 30.0,
        commit_timeout: float = 30.0,
    ) -> None:
        if len(dbs) < 1:
            raise ValidationError("a distributed transaction needs at least one DataFlow")
        if len({id(db) for db in dbs}) != len(dbs):
            raise ValidationError("the same DataFlow is named twice; name each database once")
        for timeout in (prepare_timeout, commit_timeout):
            if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
                raise ValidationError(f"timeouts must be positive numbers of seconds, got {timeout!r}")
        self.dbs = dbs
        self.supports = [support_of(db) for db in dbs]
        self.log = CoordinatorLog.of(log, default=dbs[0])
        self.coordinator = check_coordinator(coordinator)
        self.isolation_level = check_isolation(isolation_level)
        self.prepare_timeout, self.commit_timeout = float(prepare_timeout), float(commit_timeout)
        self.gid = ""
        self.branches: list[BranchTransaction] = []
        self.state = "new"
        self._tokens: list[Any] = []
        self._aliases: list[str] = []
        self._decision_lock = asyncio.Lock()
        self.decision: str | None = None

    def __repr__(self) -> str:
        return (
            f"DistributedTransaction({self.gid!r}, state={self.state!r}, participants={[label(d) for d in self.dbs]})"
        )

    @property
    def participants(self) -> list[str]:
        return [label(db) for db in self.dbs]

    def branch_for(self, db: Any) -> BranchTransaction:
        for candidate, branch in zip(self.dbs, self.branches):
            if candidate is db:
                return branch
        raise TransactionError(f"{label(db)} is not a participant of distributed transaction {self.gid}")

    # --- phase 0: begin -----------------------------------------------------------------------------------------

    async def begin(self) -> None:
        """Begin a branch on every database (not bound: :meth:`bind`)."""
        if self.state != "new":
            raise TransactionError(f"distributed transaction {self.gid} has already begun")
        for db in self.dbs:
            db._check_open()
            if db.backend.current_transaction() is not None:
                raise TransactionError(f"{label(db)} is already in a transaction here; a distributed transaction "
                                       "must be the outermost one")
        log_id = await self.log.ensure()
        self.gid = f"{gid_prefix(log_id, self.coordinator)}{uuid.uuid4().hex[:24]}"
        self.state = "active"
        try:
            for i, (db, support) in enumerate(zip(self.dbs, self.supports)):
                await db._prepare_all()  # no DDL inside the branches
                self.branches.append(await support.begin_branch(f"{self.gid}_{i}", self.isolation_level))
        except BaseException:
            await self._abort_all()
            raise
        OPEN[self.gid] = self

    def alias(self, name: str) -> None:
        """Also find this transaction in :data:`OPEN` by ``name`` (kailash's coordinator id), while it is open."""
        OPEN[name] = self
        self._aliases.append(name)

    def _forget(self) -> None:
        for name in [self.gid, *self._aliases]:
            if OPEN.get(name) is self:
                del OPEN[name]

    def bind(self) -> None:
        """Make each database's statements in this context run in its branch."""
        self._tokens = [db.backend.bind(branch) for db, branch in zip(self.dbs, self.branches)]

    def unbind(self) -> None:
        for db, token in zip(self.dbs, self._tokens):
            db.backend.unbind(token)
        self._tokens = []

    # --- the end: commit or roll back -------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Phase 1: prepare every branch; any failure rolls back everything and raises."""
        if self.state != "active":
            raise TransactionError(f"distributed transaction {self.gid} is {self.state}, it cannot prepare")
        self.state = "preparing"
        for db, branch in zip(self.dbs, self.branches):
            if not branch.active:
                await self._abort_all()
                raise PrepareFailedError(f"distributed transaction {self.gid}: the branch on {label(db)} was already "
                                         "rolled back (a failed statement or a rollback inside); every participant "
                                         "was rolled back")
        tasks = [asyncio.ensure_future(b.prepare(self.prepare_timeout)) for b in self.branches]
        done, pending = await asyncio.wait(tasks, timeout=self.prepare_timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        failures = [(db, t.exception()) for db, t in zip(self.dbs, tasks) if t in done and t.exception() is not None]
        if pending or failures:
            await self._abort_all()
            if pending:
                slow = ", ".join(label(db) for db, t in zip(self.dbs, tasks) if t in pending)
                raise TwoPhaseTimeoutError(f"distributed transaction {self.gid}: {slow} did not prepare within "
                                           f"{self.prepare_timeout:g} s (prepare_timeout); every participant was "
                                           "rolled back")
            db, error = failures[0]
            why = error.message if isinstance(error, DataFlowError) else f"{type(error).__name__}: {error}"
            raise PrepareFailedError(f"distributed transaction {self.gid}: {label(db)} failed to prepare ({why}); "
                                     "every participant was rolled back") from error
        self.state = "prepared"

    async def decide(self) -> str:
        """Record the decision ``commit`` in the log (once); returns the decision in force, which a recovery may
        have written first (then ``abort``)."""
        async with self._decision_lock:
            if self.decision is not None:
                return self.decision
            try:
                decision = await asyncio.wait_for(
                    self.log.record(self.gid, COMMIT, self.coordinator, self.participants), self.commit_timeout)
            except (Exception, asyncio.TimeoutError) as exc:  # did the write happen? Ask the log once more
                try:
                    decision = await asyncio.wait_for(self.log.decision(self.gid), self.commit_timeout)
                except (Exception, asyncio.TimeoutError):
                    decision = None
                if decision is None:
                    self.state = "in_doubt"
                    self._forget()
                    for branch in self.branches:  # detached, so that recovery can finish them (MySQL XA)
                        branch._drop()
                    raise InDoubtError(
                        f"distributed transaction {self.gid}: the decision could not be written to the coordinator "
                        f"log ({exc}); every participant stays prepared, and recover() (db.recover(), `dataflow "
                        "recover`) rolls them back", gid=self.gid) from exc
            self.decision = decision
            return decision

    async def commit(self) -> None:
        """Prepare, decide, commit: the whole protocol."""
        await self.prepare()
        decision = await self.decide()
        if decision != COMMIT:
            await self._abort_all()
            raise TwoPhaseAbortedError(f"distributed transaction {self.gid}: a recovery recorded 'abort' before this "
                                       "coordinator could record 'commit'; every participant was rolled back")
        await self.commit_prepared()

    async def commit_prepared(self) -> None:
        """Phase 2: commit every prepared branch; a branch not reached within ``commit_timeout`` stays in doubt."""
        self.state = "committing"
        todo = [b for b in self.branches if b.phase == "prepared"]
        tasks = [asyncio.ensure_future(b.finish(True, self.commit_timeout)) for b in todo]
        done, pending = await asyncio.wait(tasks, timeout=self.commit_timeout) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        left = [db for db, b in zip(self.dbs, self.branches) if b.phase != "committed"]
        self._forget()
        for branch in self.branches:
            if branch.phase == "prepared":  # let go of it: a prepared XA branch is recoverable once detached
                branch._drop()
        if left:
            self.state = "in_doubt"
            names = ", ".join(label(db) for db in left)
            errors = "; ".join(str(t.exception()) for t in tasks if t in done and t.exception() is not None)
            raise InDoubtError(
                f"distributed transaction {self.gid} is decided 'commit', but {names} did not confirm within "
                f"{self.commit_timeout:g} s (commit_timeout){': ' + errors if errors else ''}; recover() "
                "(db.recover(), `dataflow recover`) commits what is left", gid=self.gid, decision=COMMIT)
        await self.completed()

    async def completed(self) -> None:
        """Every branch committed: mark the log entry complete, run the callbacks after commit."""
        self.state = "committed"
        self._forget()
        try:
            await asyncio.wait_for(self.log.complete(self.gid), self.commit_timeout)
        except (Exception, asyncio.TimeoutError):
            _log.warning("distributed transaction %s committed; marking it complete in the log failed", self.gid)
        for branch in self.branches:
            await branch._run_after_commit()

    async def rollback(self) -> None:
        """Roll back every branch (before the decision)."""
        if self.decision == COMMIT:
            raise TransactionError(f"distributed transaction {self.gid} is decided 'commit'; it cannot roll back")
        await self._abort_all()

    async def abort_branch(self, branch: BranchTransaction) -> None:
        """Roll back one branch, whatever its phase (never after the decision 'commit')."""
        if self.decision == COMMIT:
            raise TransactionError(f"distributed transaction {self.gid} is decided 'commit'; it cannot roll back")
        if branch.phase == "active" and branch.active:
            await branch.rollback()
        elif branch.phase == "prepared":
            await branch.finish(False, self.commit_timeout)
        elif branch.phase == "unknown":  # its connection was dropped; it may have prepared meanwhile
            await branch.support.finish_anywhere(branch.gid, False)
            branch.phase = "rolled_back"

    async def _abort_all(self) -> None:
        """Roll back every branch, whatever its phase; failures leave a branch in doubt for recover()."""
        results = await asyncio.wait_for(
            asyncio.gather(*(self.abort_branch(b) for b in self.branches), return_exceptions=True),
            self.commit_timeout) if self.branches else []
        for branch, result in zip(self.branches, results):
            if isinstance(result, BaseException):
                _log.warning("distributed transaction %s: rolling back branch %s failed (%s); recover() rolls it back",
                             self.gid, branch.gid, result)
        self.state = "rolled_back"
        self._forget()


# --- the context managers ------------------------------------------------------------------------------------------

def distributed_transaction(*dbs: Any, log: Any = None, coordinator: str = "main", isolation_level: str | None = None,
                            prepare_timeout: float = 30.0,
                            commit_timeout: float = 30.0) -> AbstractAsyncContextManager[DistributedTransaction]:
    """``async with distributed_transaction(db_a, db_b, log=db_a) as tx:`` — all-or-nothing across databases.

    ``log``: where decisions are recorded (a DataFlow, a URL or a CoordinatorLog; default the first database).
    ``coordinator``: a short name embedded in transaction ids (recovery can be limited to it). Databases that
    cannot prepare transactions are refused here, before anything begins."""
    return _async_scope(DistributedTransaction(dbs, log, coordinator=coordinator, isolation_level=isolation_level,
                                               prepare_timeout=prepare_timeout, commit_timeout=commit_timeout))


@asynccontextmanager
async def _async_scope(tx: DistributedTransaction) -> AsyncIterator[DistributedTransaction]:
    try:
        await tx.begin()
        tx.bind()
        try:
            yield tx
        except BaseException:
            tx.unbind()
            if tx.state == "active":
                await tx._abort_all()
            raise
        tx.unbind()
        if tx.state == "active":
            await tx.commit()
    finally:
        await tx.log.close()  # the log's DataFlow when this transaction opened it (log=URL)


def distributed_transaction_sync(*dbs: Any, log: Any = None, coordinator: str = "main",
                                 isolation_level: str | None = None, prepare_timeout: float = 30.0,
                                 commit_timeout: float = 30.0) -> AbstractContextManager[DistributedTransaction]:
    """The synchronous twin of :func:`distributed_transaction` (``with …:``)."""
    return _sync_scope(DistributedTransaction(dbs, log, coordinator=coordinator, isolation_level=isolation_level,
                                              prepare_timeout=prepare_timeout, commit_timeout=commit_timeout))


@contextmanager
def _sync_scope(tx: DistributedTransaction) -> Iterator[DistributedTransaction]:
    run = tx.dbs[0]._runner.run_on_portal
    try:
        run(tx.begin())
        tx.bind()
        try:
            yield tx
        except BaseException:
            tx.unbind()
            if tx.state == "active":
                run(tx._abort_all())
            raise
        tx.unbind()
        if tx.state == "active":
            run(tx.commit())
    finally:
        run(tx.log.close())  # on the loop that opened it
