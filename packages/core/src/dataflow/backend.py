"""The backend contract: what a dialect plugin implements, and what it declares.

A backend is a class registered through ``dataflow_register_backends``. Core
turns node parameters into validated, typed arguments (a parsed filter, coerced
rows) and calls the small set of primitives below; result shapes, defaults,
timestamps and soft delete are core's job, so every backend behaves the same.
"""

from __future__ import annotations

import contextvars
import importlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from .runner import IOThread

if TYPE_CHECKING:
    from .aggregates import AggregatePlan
    from .model import ModelSpec
    from .plugins import PluginHost
    from .query import Expr, OrderItem
    from .urls import DatabaseURL

BACKEND_API_VERSION = 1


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. The conformance suite skips tests that need a missing one."""

    transactions: bool = True
    """Can roll back a multi-statement unit of work."""
    returning: bool = False
    """INSERT/UPDATE can return the written rows in the same statement."""
    json_path: bool = True
    """Filters can reach inside JSON fields with dotted paths."""
    regex: bool = True
    """Supports ``$regex`` with Python-compatible syntax for common patterns."""
    native_upsert: bool = False
    """Upsert is one atomic statement (ON CONFLICT / ON DUPLICATE KEY)."""
    concurrent_writers: bool = True
    """Several connections may write at the same time."""
    vector_search: bool = False
    """Vector fields and similarity search (postgres with pgvector)."""
    schemas: bool = False
    """Supports named schemas / search_path."""
    savepoints: bool = True
    """Nested transactions roll back to a savepoint (MongoDB has none: a failure ends the whole transaction)."""
    text_nul: bool = True
    """Text values may contain NUL characters (PostgreSQL text cannot: such values are refused)."""
    row_level_security: bool = False
    """Can have the database itself enforce tenant isolation (``DataFlow(..., row_level_security=True)``)."""
    foreign_keys: bool = False
    """Declared many-to-one relations are foreign-key constraints enforcing ``on_delete`` (docs/relationships.md)."""
    aggregates: bool = False
    """Implements :meth:`Backend.aggregate` (group-by, count/sum/min/max; docs/aggregates.md)."""

    def names(self) -> list[str]:
        return [f.name for f in fields(self)]


@dataclass
class UpsertOutcome:
    """What an upsert did: the written rows (if asked for) and whether each was created."""

    rows: list[dict]
    created: list[bool]

    @property
    def inserted(self) -> int:
        return sum(self.created)

    @property
    def updated(self) -> int:
        return len(self.created) - self.inserted


class Backend(ABC):
    """Base class of every backend. Subclasses set the class variables."""

    name: ClassVar[str]
    """The entry-point name, e.g. ``"sqlite"``."""
    api_version: ClassVar[int] = BACKEND_API_VERSION
    capabilities: ClassVar[Capabilities] = Capabilities()
    schemes: ClassVar[tuple[str, ...]] = ()
    """URL schemes this backend claims (``("postgresql",)``)."""
    blocking: ClassVar[bool] = False
    """True when the driver never suspends (embedded SQLite): sync callers run operations inline."""

    def __init__(self, url: DatabaseURL, host: PluginHost, **options: Any) -> None:
        self.url = url
        self.host = host
        self.options = options
        self._bound: contextvars.ContextVar[Any] = contextvars.ContextVar(
            f"dataflow_tx_{type(self).__name__}_{id(self)}", default=None
        )
        self.io = IOThread(f"dataflow-io-{self.name}")
        """This backend's I/O thread (started at first use): the loop of connections shared by short-lived
        event loops, and where synchronous callers inside a running loop run (``dataflow.runner``)."""

    # --- lifecycle -----------------------------------------------------------------------

    @abstractmethod
    async def open(self) -> None:
        """Connect (idempotent). Raise ConnectionFailedError with the password masked."""

    @abstractmethod
    async def ensure_models(self, models: Sequence[ModelSpec], *, create: bool) -> None:
        """Create missing tables and indexes (``create``) or only check they exist."""

    @abstractmethod
    async def close(self) -> None:
        """Release every connection. Safe to call twice."""

    def close_sync(self) -> None:  # noqa: B027 - optional hook, a no-op for most backends
        """Release connections from synchronous code; backends with loops override."""

    def pool_stats(self) -> dict:
        """Connections held now, for metrics: SQL backends report ``pools``, ``size``, ``in_use`` and ``idle``
        (every pool together); ``{}`` when the backend has nothing to report."""
        return {}

    async def discover(self, tables: list[str] | None = None) -> dict:
        """Describe existing tables (the shape of :mod:`dataflow.discovery`)."""
        raise NotImplementedError(f"backend {self.name!r} cannot discover existing schemas")

    # --- transactions ------------------------------------------------------------------------------
    # A backend that declares capabilities.transactions implements begin(); binding a handle to the current
    # context (task or thread) is done here, once. Its primitives run on ``self.bound_handle()``'s
    # connection when there is one. Scopes, savepoints and all-or-nothing bulk operations are built on
    # these in dataflow.transactions.

    async def begin(self, isolation_level: str | None = None) -> Any:
        """Start a transaction on a dedicated connection; returns a TransactionHandle."""
        raise NotImplementedError(f"backend {self.name!r} does not support transactions")

    def bind(self, handle: Any) -> Any:
        """Make primitives in the current context use ``handle``'s connection; returns a reset token."""
        return self._bound.set(handle)

    def unbind(self, token: Any) -> None:
        self._bound.reset(token)

    def bound_handle(self) -> Any:
        """The handle bound to the current context, ended or not (a primitive then refuses an ended one)."""
        return self._bound.get()

    def current_transaction(self) -> Any:
        """The active handle bound to the current context, or None."""
        handle = self._bound.get()
        return handle if handle is not None and handle.active else None

    def transaction(self, isolation_level: str | None = None) -> AbstractAsyncContextManager[Any]:
        """A unit of work: begin, or a savepoint inside a transaction; commit or roll back."""
        from .transactions import scope

        return scope(self, isolation_level)

    two_phase_support: str | None = None
    """``"module:Class"`` of the backend's ``TwoPhaseSupport`` (built lazily by :meth:`two_phase`), or None."""

    def two_phase(self) -> Any:
        """This backend's prepared transactions (a ``dataflow.distributed.TwoPhaseSupport``), or None when it
        cannot prepare a transaction: then it cannot take part in a distributed transaction. The default builds
        :attr:`two_phase_support` once, on first use; a backend may override it instead."""
        if self.two_phase_support is None:
            return None
        if getattr(self, "_two_phase", None) is None:
            module, _, name = self.two_phase_support.partition(":")
            self._two_phase = getattr(importlib.import_module(module), name)(self)
        return self._two_phase

    # --- data primitives (each is atomic on its own) -------------------------------------------

    @abstractmethod
    async def insert(self, model: ModelSpec, rows: list[dict], *, returning: bool) -> list[dict]:
        """Insert rows (all or nothing). With ``returning``, give back the stored rows in order."""

    async def insert_columns(self, model: ModelSpec, columns: list[str], values: list[list]) -> None:
        """Bulk insert given column-wise (all or nothing). Backends override for speed."""
        rows = [dict(zip(columns, row)) for row in zip(*values)]
        await self.insert(model, rows, returning=False)

    @abstractmethod
    async def select(self, model: ModelSpec, where: Expr, order: list[OrderItem],
                     limit: int | None, offset: int) -> list[dict]:
        """Rows matching ``where``, sorted and paged."""

    @abstractmethod
    async def count(self, model: ModelSpec, where: Expr) -> int:
        """How many rows match ``where``."""

    @abstractmethod
    async def update(self, model: ModelSpec, where: Expr, values: dict, *, returning: bool) -> list[dict] | int:
        """Set ``values`` on matching rows; the updated rows with ``returning``, else the count."""

    @abstractmethod
    async def delete(self, model: ModelSpec, where: Expr) -> int:
        """Delete matching rows; the count."""

    async def aggregate(self, model: ModelSpec, where: Expr, plan: AggregatePlan) -> list[tuple]:
        """Rows matching ``where``, grouped and aggregated as ``plan`` says (see
        :class:`~dataflow.aggregates.AggregatePlan` for the values expected). Declare
        ``Capabilities(aggregates=True)`` when implemented; core refuses the call clearly otherwise."""
        from .errors import AggregatesNotSupportedError

        raise AggregatesNotSupportedError(f"backend {self.name!r} does not implement aggregates")

    @abstractmethod
    async def upsert(self, model: ModelSpec, rows: list[dict], updates: list[dict], conflict_on: tuple[str, ...],
                     *, returning: bool) -> UpsertOutcome:
        """Insert each row, or where ``conflict_on`` matches an existing row, apply ``updates[i]``."""

    async def upsert_columns(self, model: ModelSpec, columns: list[str], values: list[list],
                             update_cols: tuple[str, ...], conflict_on: tuple[str, ...]) -> UpsertOutcome:
        """BulkUpsert given column-wise: insert each row, or where ``conflict_on`` matches set ``update_cols`` to
        the row's values. Only the counts of the outcome matter (``rows`` empty, ``created`` in any order).
        Backends override for speed; this default builds rows and calls :meth:`upsert`."""
        rows = [dict(zip(columns, row)) for row in zip(*values)]
        updates = [{c: row[c] for c in update_cols} for row in rows]
        return await self.upsert(model, rows, updates, conflict_on, returning=False)

    async def update_rows(self, model: ModelSpec, columns: tuple[str, ...], keys: list, values: list[list],
                          scope: dict[str, Any]) -> int:
        """Set a value per row: the row of ``keys[i]`` gets ``values[c][i]`` in each of ``columns`` (values are
        given by column); only rows whose fields equal ``scope`` (tenant, ``deleted_at`` None) are reached. Keys
        are distinct. Returns how many rows matched.
        Backends override with one statement per chunk; this default updates row by row (all or nothing)."""
        from .query.ast import And, Cmp, FieldRef

        extra = tuple(Cmp(FieldRef(model.fields[name]), "eq", value) for name, value in scope.items())
        matched = 0
        async with self.transaction():
            for n, key in enumerate(keys):
                where = And((Cmp(FieldRef(model.pk), "eq", key), *extra))
                matched += await self.update(model, where, {c: col[n] for c, col in zip(columns, values)},
                                             returning=False)
        return matched
