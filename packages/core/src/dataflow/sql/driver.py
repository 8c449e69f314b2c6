"""What a SQL backend supplies: driver calls, and nothing around them.

Core's statement path (:mod:`dataflow.sql.session`) does everything else once for every SQL backend:
observing, error translation through the hook, choosing the connection (the bound transaction's, under
its lock, or a pooled one on the right event loop), discarding broken connections, the transaction
handle and its savepoints. A driver implements the methods below on its database client; each statement
method receives the connection to use and the statement's ``timeout`` (seconds, or None for no limit). Core
bounds every call of a suspending driver by that timeout (:mod:`dataflow.sql.liveness`: on expiry it calls
:meth:`SQLDriver.interrupt`, then :meth:`SQLDriver.discard`); a blocking driver (SQLite) bounds its own calls.
Before a pooled connection is used, core checks its socket (:meth:`SQLDriver.socket_of`) and replaces a
connection the server closed while it was idle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..errors import DataFlowError
    from .backend import SQLBackend
    from .session import SQLTransaction


class SQLDriver(ABC):
    """The driver half of a SQL backend (``SQLBackend.driver_class``)."""

    param_limit: ClassVar[int] = 30000
    """Most bound parameters one statement may carry; core's chunking (``SQLBackend.chunks``) derives from it."""
    configures_pinned: ClassVar[bool] = False
    """Call :meth:`on_pinned` before each statement on a transaction's connection."""

    def __init__(self, backend: SQLBackend) -> None:
        self.backend = backend
        self.url = backend.url
        self.host = backend.host

    # --- connections ----------------------------------------------------------------------------------------

    @abstractmethod
    async def create_pool(self) -> Any:
        """A new pool (or, for an in-process database, its one connection). Raise ConnectionFailedError,
        URL masked, when the server cannot be reached. Runs on the event loop the pool will serve."""

    @abstractmethod
    async def close_pool(self, pool: Any) -> None:
        """Close a pool gracefully (on its own loop)."""

    @abstractmethod
    def terminate_pool(self, pool: Any) -> None:
        """Close a pool without awaiting, also when its event loop has closed (then close sockets directly)."""

    @abstractmethod
    async def acquire(self, pool: Any) -> Any:
        """A connection from ``pool`` for one statement or one transaction."""

    @abstractmethod
    async def release(self, pool: Any, conn: Any) -> None:
        """Give ``conn`` back to ``pool`` (after :meth:`discard`, when it was discarded)."""

    def is_disconnect(self, exc: BaseException) -> bool:
        """Whether ``exc`` may have left the connection unusable (lost, or interrupted mid-protocol)."""
        return False

    def discard(self, conn: Any) -> None:  # noqa: B027 - optional: an in-process database has nothing to discard
        """Close ``conn`` so that the pool never hands it out again (it is released afterwards)."""

    def socket_of(self, conn: Any) -> Any:
        """The socket (or file descriptor; -1 when closed) of a pooled connection, for core's liveness check
        before use; None skips the check."""
        return None

    def interrupt(self, conn: Any) -> None:  # noqa: B027 - optional: the connection is discarded either way
        """Ask the server to stop the statement running on ``conn`` (it timed out): start it, never wait for it
        (the server may be paused). ``conn`` is discarded right after."""

    def is_open(self, conn: Any) -> bool:
        """Whether ``conn`` is still open (plugins are told before an open connection closes)."""
        return True

    def pool_stats(self, pool: Any) -> dict[str, int]:
        """``{"size": …, "in_use": …, "idle": …}`` of one pool."""
        return {}

    # --- statements on a connection ----------------------------------------------------------------------

    @abstractmethod
    async def fetch(self, conn: Any, sql: str, params: Sequence[Any], timeout: float | None) -> list[tuple]:
        """Run a query; every row as a tuple."""

    @abstractmethod
    async def execute(self, conn: Any, sql: str, params: Sequence[Any], timeout: float | None) -> int:
        """Run a statement; the affected row count."""

    @abstractmethod
    async def execute_many(self, conn: Any, sql: str, rows: Sequence[Sequence[Any]], timeout: float | None) -> None:
        """Run one statement for many parameter rows."""

    # --- transactions ----------------------------------------------------------------------------------------

    @abstractmethod
    async def begin(self, conn: Any, isolation_level: str | None) -> Any:
        """BEGIN on ``conn`` (``isolation_level``: None or ``read_committed``…); returns the transaction's state
        (anything the driver needs later: :meth:`commit` and :meth:`rollback` receive it)."""

    @abstractmethod
    async def commit(self, conn: Any, state: Any) -> None:
        """COMMIT the transaction :meth:`begin` started."""

    @abstractmethod
    async def rollback(self, conn: Any, state: Any) -> None:
        """ROLLBACK the transaction :meth:`begin` started."""

    async def on_pinned(self, pinned: SQLTransaction) -> None:  # noqa: B027 - optional
        """Before a statement on a transaction's connection (only with :attr:`configures_pinned`)."""

    def rolled_back_to_savepoint(self, state: Any) -> None:  # noqa: B027 - optional
        """A transaction rolled back to a savepoint: forget session state set after it."""

    # --- read replicas (dataflow.replicas) ------------------------------------------------------------------
    replicas: ClassVar[bool] = False
    """This driver implements the four methods below, so ``DataFlow(url, read_urls=[...])`` is accepted."""

    def for_replica(self, url: Any) -> SQLDriver:
        """A driver like this one (same options) connecting to the replica at ``url`` instead."""
        raise NotImplementedError

    async def write_position(self, conn: Any, sql: str, arg: Any, timeout: float | None) -> int | None:
        """On the primary: its write position now (PostgreSQL: the WAL insert LSN), which a replica must reach
        to have every write committed before this call; None when it cannot be known."""
        return None

    async def replica_status(self, conn: Any, timeout: float | None) -> tuple[int, float, bool]:
        """On a replica: ``(position it has replayed, lag in seconds, still a replica)``; the lag is ``math.inf``
        when it cannot be known (a standby receiving nothing from its primary), which skips the replica."""
        raise NotImplementedError

    def replica_conflict(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a replica cancelling a read for its replay (then the primary answers instead)."""
        return False

    # --- errors ------------------------------------------------------------------------------------------------

    @abstractmethod
    def error(self, exc: BaseException, sql: str) -> DataFlowError:
        """This driver's exception as a DataFlowError (the ``dataflow_translate_error`` hook has already
        declined): unique violation → DuplicateKeyError naming columns, never values; NOT NULL, CHECK,
        foreign key → ConstraintError; connection lost or refused → ConnectionFailedError; else DatabaseError."""

    def cause(self, exc: BaseException) -> BaseException:
        """What the translated error is chained from (a copy without row values, where messages carry them)."""
        return exc
