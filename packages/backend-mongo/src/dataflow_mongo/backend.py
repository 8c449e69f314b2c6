"""MongoBackend: models on collections, through pymongo's native async API (``AsyncMongoClient``).

* One ``AsyncMongoClient`` per DataFlow per event loop, created lazily (a
  client belongs to the loop it first ran on, like an asyncpg pool).
* A model is a collection named like its table. Its key is ``_id``: int keys
  come from an atomic ``$inc`` on a document in ``dataflow_counters`` (ids
  given explicitly move the counter past them with ``$max``), str keys are
  stored as given (core generates UUIDs). Results show it as ``id``.
* Values are stored as described in :mod:`dataflow_mongo.codec`; filters are
  compiled by :mod:`dataflow_mongo.compiler` to the reference semantics.
* ``begin()`` opens a client session with a multi-document transaction;
  ``bind()`` pins it in a ContextVar so every primitive of the context joins
  it (on the transaction's own loop). MongoDB has no savepoints: a failed
  nested scope ends the whole transaction (see :class:`MongoTransaction`).
  Writes of several documents run in a transaction of their own when none is
  open. On a server without transactions (a standalone mongod) the same calls
  run without one.
* Unique indexes from ``__dataflow__["indexes"]`` ignore records where an
  indexed field is null (a partial index), like SQL unique constraints.

This module composes the class from one mixin per role: :mod:`.connection` (URL, clients, open/close),
:mod:`.transactions` (sessions, ``begin``, ``atomic``, :class:`MongoTransaction`), :mod:`.errors`
(``_translate``), :mod:`.schema` (collections, indexes, counters), :mod:`.encoding` (per-model plans,
filters), :mod:`.reads` (select, count), :mod:`.writes` (insert, update, delete, upsert),
:mod:`.aggregate` and :mod:`.bulkwrite`; :mod:`.driver` imports pymongo lazily.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

from dataflow.backend import Backend, Capabilities
from dataflow.errors import ConfigurationError
from dataflow.model import ModelSpec
from dataflow.session import StatementPath

from . import driver, limits, targets
from .aggregate import MongoAggregates
from .bulkwrite import BulkWrites
from .connection import _DB_NAME_BAD, COUNTERS, PORTAL_THREAD, MongoConnections, _Conn
from .encoding import MongoEncoding, _Plan
from .errors import MongoErrors
from .reads import MongoReads
from .schema import MongoSchema
from .transactions import MongoTransaction, MongoTransactions
from .writes import MongoWrites

__all__ = ["COUNTERS", "PORTAL_THREAD", "MongoBackend", "MongoTransaction"]


class MongoBackend(
    MongoConnections,
    MongoTransactions,
    MongoErrors,
    MongoSchema,
    MongoEncoding,
    MongoReads,
    MongoWrites,
    MongoAggregates,
    BulkWrites,
    Backend,
):
    name = "mongo"
    schemes = ("mongodb",)
    capabilities = Capabilities(
        transactions=True,
        savepoints=False,
        returning=False,
        json_path=True,
        regex=True,
        native_upsert=False,
        concurrent_writers=True,
        vector_search=False,
        schemas=False,
        aggregates=True,
    )

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)
        driver.load()
        if url.driver not in (None, "srv"):
            raise ConfigurationError(
                f"unsupported MongoDB URL scheme 'mongodb+{url.driver}' in {url.masked()}; "
                "use mongodb://host:27017/db or mongodb+srv://cluster.example.net/db"
            )
        if not url.database:
            raise ConfigurationError(
                f"MongoDB URL {url.masked()} names no database; put it in the path, "
                "e.g. mongodb://host:27017/app or mongodb+srv://cluster.example.net/app"
            )
        if _DB_NAME_BAD.search(url.database) or len(url.database.encode()) > 63:
            raise ConfigurationError(
                f"invalid MongoDB database name {url.database!r} in {url.masked()}: at most 63 bytes, "
                "without / \\ . space \" $"
            )
        self.database = url.database
        self.connect_timeout = float(options.get("connect_timeout") or 10)
        self.pool_size = options.get("pool_size")
        self.echo = bool(options.get("echo"))
        self.statements = StatementPath(self, lambda exc, _sql: self._translate(exc))
        self.default_limit = limits.default_limit(url.query, self.statements.timeout)
        """The limit of an operation outside any ``query_timeout()`` scope (:mod:`.limits`)."""
        self.target = self._target()
        self.closed = False
        self.dataflow_ref: Any = None
        self.server_transactions: bool | None = None
        self._conns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Conn] = weakref.WeakKeyDictionary()
        self._conns_lock = threading.Lock()
        self._plans: dict[str, _Plan] = {}
        self._compilers: dict[str, driver.FilterCompiler] = {}
        self._runner: Any = None
        self._warned_no_tx = False
        targets.register_backend(self)
        from .documents import register_document_nodes

        register_document_nodes()

    def _observe(self, what: str, model: ModelSpec, query: Any) -> None:
        """Through core's statement path: echo and the query hook see the same description."""
        if self.statements.watching:  # the hook's params are a sequence: the query's parts
            params = list(query) if isinstance(query, (list, tuple)) else [query]
            self.statements.observe(f"mongo {what} {model.table} {query!r}", params)
