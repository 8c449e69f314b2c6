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
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import warnings
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from dataflow.backend import Backend, Capabilities, UpsertOutcome
from dataflow.errors import (
    BackendDependencyError,
    ConfigurationError,
    ConnectionFailedError,
    DatabaseError,
    DataFlowError,
    DuplicateKeyError,
    FieldTypeError,
    QueryTimeoutError,
    SchemaError,
    TransactionConflictError,
    ValidationError,
)
from dataflow.model import ModelSpec
from dataflow.query.ast import And, Cmp, Expr
from dataflow.query.order import OrderItem
from dataflow.query.related import resolved
from dataflow.session import StatementPath
from dataflow.transactions import TransactionError, TransactionHandle, check_savepoint
from dataflow.urls import mask_secrets

from . import targets
from .aggregate import MongoAggregates
from .bulkwrite import BulkWrites

# The driver and the modules that need it (bson) are imported when the first Mongo DataFlow is constructed,
# not when the plugin registers this class: a process that only uses SQLite never pays for pymongo.
pymongo: Any = None
perr: Any = None
ReturnDocument: Any = None
UpdateOne: Any = None
DECODERS: Any = None
ENCODERS: Any = None
codec_options: Any = None
FilterCompiler: Any = None
mongo_name: Any = None


def _load_driver() -> None:
    global pymongo, perr, ReturnDocument, UpdateOne, DECODERS, ENCODERS, codec_options, FilterCompiler, mongo_name
    if pymongo is not None:
        return
    try:
        import pymongo as driver
        from pymongo import ReturnDocument as return_document
        from pymongo import UpdateOne as update_one
        from pymongo import errors
    except ImportError as exc:  # pragma: no cover - pymongo is a hard dependency
        raise BackendDependencyError(
            f"mongo backend cannot import {exc.name!r}; pip install -U kailash-dataflow-mongo"
        ) from exc
    from . import codec, compiler

    DECODERS, ENCODERS, codec_options = codec.DECODERS, codec.ENCODERS, codec.codec_options
    FilterCompiler, mongo_name = compiler.FilterCompiler, compiler.mongo_name
    perr, ReturnDocument, UpdateOne = errors, return_document, update_one
    pymongo = driver


log = logging.getLogger("dataflow.mongo")

COUNTERS = "dataflow_counters"
PORTAL_THREAD = "dataflow-portal"  # dataflow.runner.SyncRunner's thread for sync calls made inside a running loop
_DB_NAME_BAD = re.compile(r'[/\\. "$\x00]')
_TIMEOUT_KEYS = {"serverselectiontimeoutms", "connecttimeoutms"}
DUPLICATE_KEY = 11000
AUTH_CODES = {18, 13, 11}  # AuthenticationFailed, Unauthorized, UserNotFound
INDEX_CONFLICT_CODES = {85, 86}  # IndexOptionsConflict, IndexKeySpecsConflict
NAMESPACE_EXISTS = 48
#: $type of a stored value, per field kind (what a partial unique index covers)
STORED_TYPE = {"str": "string", "int": "number", "float": "number", "bool": "bool", "datetime": "string",
               "date": "string", "decimal": "decimal", "bytes": "string"}


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_copy_json(v) for v in value]
    return value


async def _guard(conn: _Conn, host: Any, backend: Any) -> None:
    """Close a loop's client when the loop shuts down: ``asyncio.run`` and kailash's runtimes cancel the tasks
    left on a loop before closing it, and this one then closes the client (no unclosed sockets). It holds the
    backend only weakly, so a DataFlow dropped without close() is still collected."""
    try:
        await asyncio.Event().wait()
    finally:
        try:
            owner = backend()
            if owner is not None:
                host.connection_closing(conn.client, owner)
            await conn.client.close()
        except Exception:  # pragma: no cover - the loop is going away
            log.debug("closing a MongoDB client at loop shutdown failed", exc_info=True)


def _pins_key(expr: Expr) -> bool:
    """Whether ``expr`` selects at most one document: an equality on the key, alone or in a conjunction."""
    if isinstance(expr, Cmp):
        return expr.op == "eq" and expr.ref.field.primary_key and not expr.ref.path and expr.value is not None
    if isinstance(expr, And):
        return any(_pins_key(e) for e in expr.items)
    return False


class _Conn:
    """One event loop's client, database handle and collection handles."""

    __slots__ = ("client", "db", "colls", "counters", "guard")

    def __init__(self, client: Any, database: str) -> None:
        self.guard: Any = None
        self.client = client
        self.db = client[database]
        self.colls: dict[str, Any] = {}
        self.counters = self.db[COUNTERS]

    def coll(self, name: str) -> Any:
        coll = self.colls.get(name)
        if coll is None:
            coll = self.colls[name] = self.db[name]
        return coll


class _Plan:
    """Per-model encode/decode tables, built once."""

    def __init__(self, model: ModelSpec) -> None:
        self.model = model
        self.pk = model.primary_key
        self.auto_id = model.pk.kind == "int"
        self.encode = [(f.name, mongo_name(f), ENCODERS.get(f.kind)) for f in model.fields.values() if not f.primary_key]
        self.keys = {f.name: mongo_name(f) for f in model.fields.values()}
        self.encoders = {f.name: ENCODERS.get(f.kind) for f in model.fields.values()}
        self.decode = [(f.name, mongo_name(f), DECODERS.get(f.kind)) for f in model.fields.values()]
        self.json = [f.name for f in model.fields.values() if f.kind == "json"]


class MongoBackend(MongoAggregates, BulkWrites, Backend):
    name = "mongo"
    schemes = ("mongodb",)
    capabilities = Capabilities(transactions=True, savepoints=False, returning=False, json_path=True, regex=True, native_upsert=False,
                                concurrent_writers=True, vector_search=False, schemas=False, aggregates=True)

    def __init__(self, url, host, **options) -> None:
        super().__init__(url, host, **options)
        _load_driver()
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
        self.target = self._target()
        self.closed = False
        self.dataflow_ref: Any = None
        self.server_transactions: bool | None = None
        self._conns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Conn] = weakref.WeakKeyDictionary()
        self._conns_lock = threading.Lock()
        self._plans: dict[str, _Plan] = {}
        self._compilers: dict[str, FilterCompiler] = {}
        self._runner: Any = None
        self._warned_no_tx = False
        targets.register_backend(self)
        from .documents import register_document_nodes

        register_document_nodes()

    # --- URL and client ----------------------------------------------------------------------------------------------

    def _host_part(self) -> str:
        url = self.url
        host = url.host or "localhost"
        if ":" in host and "," not in host and not host.startswith("["):
            host = f"[{host}]"
        return host + (f":{url.port}" if url.port else "")

    def _target(self) -> str:
        scheme = "mongodb+srv" if self.url.driver == "srv" else "mongodb"
        return f"{scheme}://{self._host_part()}/{self.database}"

    def _uri(self) -> str:
        scheme = "mongodb+srv" if self.url.driver == "srv" else "mongodb"
        query = f"?{urlencode(dict(self.url.query))}" if self.url.query else ""
        return f"{scheme}://{self._host_part()}/{quote(self.database)}{query}"

    def _client_kwargs(self) -> dict:
        kwargs: dict[str, Any] = {"appname": "kailash-dataflow"}
        given = {k.lower() for k in self.url.query}
        if not given & _TIMEOUT_KEYS:
            ms = int(self.connect_timeout * 1000)
            kwargs.update(serverSelectionTimeoutMS=ms, connectTimeoutMS=ms)
        if self.url.username is not None:
            kwargs["username"] = self.url.username
        if self.url.password is not None:
            kwargs["password"] = self.url.password
        if self.pool_size:
            kwargs["maxPoolSize"] = int(self.pool_size)
        if not given & {"timeoutms", "sockettimeoutms"} and self.statements.timeout is not None:
            # query_timeout bounds each wait for the server (not timeoutMS: it would replace the server selection
            # bound, so an unreachable server would take query_timeout instead of connect_timeout to report)
            kwargs["socketTimeoutMS"] = int(self.statements.timeout * 1000)
        return kwargs

    def _make_client(self) -> Any:
        options = codec_options()
        try:
            return pymongo.AsyncMongoClient(self._uri(), tz_aware=True, tzinfo=options.tzinfo,
                                            type_registry=options.type_registry, uuidRepresentation="standard",
                                            **self._client_kwargs())
        except perr.ConfigurationError as exc:
            raise ConfigurationError(f"invalid MongoDB URL {self.url.masked()}: {self._describe(exc)}") from None
        except perr.PyMongoError as exc:
            raise ConnectionFailedError(f"cannot connect to MongoDB at {self.url.masked()}: {self._describe(exc)}") from None

    async def _conn(self) -> _Conn:
        if self.closed:
            raise DatabaseError(f"the MongoDB backend ({self.target}) is closed")
        loop = asyncio.get_running_loop()
        conn = self._conns.get(loop)
        if conn is None:
            fresh: _Conn | None = _Conn(self._make_client(), self.database)
            await self.host.connection_opened(fresh.client, self)  # prepared before any other task can use it
            with self._conns_lock:
                conn = self._conns.get(loop)
                if conn is None:
                    conn = self._conns[loop] = fresh
                    conn.guard = loop.create_task(_guard(conn, self.host, weakref.ref(self)),
                                                  name="dataflow-mongo-client-guard")
                    fresh = None
            if fresh is not None:  # another task of this loop published its client first
                self.host.connection_closing(fresh.client, self)
                await fresh.client.close()
        return conn

    @staticmethod
    async def _shutdown(conn: _Conn) -> None:
        guard = conn.guard
        if guard is not None and not guard.done():
            guard.cancel()
            await asyncio.gather(guard, return_exceptions=True)
        else:
            await conn.client.close()

    def _describe(self, exc: BaseException) -> str:
        text = str(getattr(exc, "details", None) and exc.details.get("errmsg") or exc)
        text = text.split(", Timeout:")[0].split(", full error:")[0]
        return mask_secrets(f"{type(exc).__name__}: {text}", self.url).strip()

    # --- lifecycle ---------------------------------------------------------------------------------------------------

    async def open(self) -> None:
        conn = await self._conn()
        if self.server_transactions is not None:
            return
        try:
            hello = await conn.client.admin.command("hello")
            await conn.db.command("ping")
        except perr.PyMongoError as exc:
            raise self._translate(exc) from exc
        self.server_transactions = bool(hello.get("setName") or hello.get("msg") == "isdbgrid") and bool(
            hello.get("logicalSessionTimeoutMinutes"))

    async def close(self) -> None:
        self.closed = True
        conns = list(self._conns.items())
        self._conns.clear()
        current = asyncio.get_running_loop()
        # a portal thread's loop may be closing on behalf of a thread whose own loop waits for it: never block there
        wait = threading.current_thread().name != PORTAL_THREAD
        for loop, conn in conns:
            if loop is current:
                try:
                    await self._shutdown(conn)
                except Exception:  # pragma: no cover - closing must not fail
                    log.debug("closing a MongoDB client failed", exc_info=True)
            else:
                await asyncio.to_thread(self._shutdown_elsewhere, loop, conn, wait)
        self._close_runner()

    def close_sync(self) -> None:
        self.closed = True
        conns = list(self._conns.items())
        self._conns.clear()
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        for loop, conn in conns:
            self._shutdown_elsewhere(loop, conn, wait=loop is not here)
        self._close_runner()

    def _shutdown_elsewhere(self, loop: Any, conn: _Conn, wait: bool = True) -> None:
        """Close a client that belongs to another event loop: on it, if it runs (a portal thread; waited for a
        few seconds unless that could block), else by running it here for a moment (an idle per-thread loop).
        A closed loop already closed its client (see _guard)."""
        try:
            if loop.is_closed():
                return
            if loop.is_running():
                future = asyncio.run_coroutine_threadsafe(self._shutdown(conn), loop)
                if wait:
                    future.result(5)
                return
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                loop.run_until_complete(self._shutdown(conn))
                return
            worker = threading.Thread(target=loop.run_until_complete, args=(self._shutdown(conn),), daemon=True)
            worker.start()
            worker.join(5)
        except Exception:  # pragma: no cover - closing must not fail
            log.debug("closing a MongoDB client failed", exc_info=True)

    def _close_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()

    @property
    def runner(self) -> Any:
        """A sync bridge for document nodes run by synchronous callers (a thread loop, or a portal thread)."""
        if self._runner is None:
            from dataflow.runner import SyncRunner

            self._runner = SyncRunner(inline=False)
        return self._runner

    # --- transactions --------------------------------------------------------------------------------------------------

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
        except perr.PyMongoError as exc:
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
            except (DatabaseError, perr.PyMongoError) as exc:
                orig = getattr(exc, "orig", None) if isinstance(exc, DatabaseError) else exc
                transient = isinstance(orig, perr.PyMongoError) and orig.has_error_label("TransientTransactionError")
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

    # --- errors ---------------------------------------------------------------------------------------------------------

    def _translate(self, exc: BaseException, model: ModelSpec | None = None) -> DataFlowError:
        handle = self.bound_handle()
        if (handle is not None and handle.session is not None and isinstance(exc, perr.PyMongoError)
                and not isinstance(exc, (perr.InvalidDocument, perr.InvalidName, perr.ConfigurationError))):
            handle.doom(f"an operation in it failed ({type(exc).__name__}), and MongoDB aborts a whole transaction "
                        "on a failed operation (it has no savepoints to return to)")
        custom = self.host.hook.dataflow_translate_error(error=exc, backend=self)
        if custom is not None:
            return custom
        if isinstance(exc, DataFlowError):
            return exc
        where = f" in {model.table}" if model is not None else ""
        if isinstance(exc, perr.BulkWriteError):
            errors = exc.details.get("writeErrors") or []
            first = errors[0] if errors else {}
            if first.get("code") == DUPLICATE_KEY:
                cols = self._key_columns(first)
                index = first.get("index")
                at = f"record at index {index}: " if index is not None else ""
                return DuplicateKeyError(f"{at}duplicate key: a record with the same {cols} already exists{where}",
                                         orig=exc, columns=cols, index=index)
            text = mask_secrets(str(first.get("errmsg") or exc), self.url)
            return DatabaseError(f"MongoDB bulk write failed{where}: {text}", orig=exc)
        if isinstance(exc, perr.DuplicateKeyError) or (isinstance(exc, perr.OperationFailure) and exc.code == DUPLICATE_KEY):
            cols = self._key_columns(exc.details or {})
            return DuplicateKeyError(f"duplicate key: a record with the same {cols} already exists{where}",
                                     orig=exc, columns=cols)
        if isinstance(exc, perr.ExecutionTimeout) or (
                isinstance(exc, perr.NetworkTimeout) and not isinstance(exc, perr.ServerSelectionTimeoutError)):
            seconds = self.statements.timeout or 0
            return QueryTimeoutError(f"MongoDB{where}: the operation got no answer within its timeout of {seconds:g} s "
                                     f"(the server is slow, paused or unreachable): {self._describe(exc)}. Retry if the "
                                     "operation is safe to repeat, or raise query_timeout", orig=exc, timeout=seconds)
        if isinstance(exc, (perr.ServerSelectionTimeoutError, perr.ConnectionFailure, perr.AutoReconnect,
                            perr.NetworkTimeout)):
            return ConnectionFailedError(f"cannot connect to MongoDB at {self.url.masked()}: {self._describe(exc)}",
                                         orig=exc)
        if isinstance(exc, perr.OperationFailure) and exc.code in AUTH_CODES:
            return ConnectionFailedError(
                f"MongoDB at {self.url.masked()} refused the credentials (authentication failed): {self._describe(exc)}",
                orig=exc)
        if isinstance(exc, perr.PyMongoError) and exc.has_error_label("TransientTransactionError"):
            return TransactionConflictError(f"MongoDB transaction conflict{where} (a concurrent write touched the same "
                                 f"documents); nothing was written, retry: {self._describe(exc)}", orig=exc,
                                 retryable=True)
        if isinstance(exc, OverflowError):
            return FieldTypeError(f"a value{where} holds an integer beyond MongoDB's 64-bit range: {exc}")
        if isinstance(exc, (perr.InvalidDocument, perr.InvalidName)) or type(exc).__name__ == "InvalidStringData":
            return ValidationError(f"MongoDB cannot store this value{where}: {mask_secrets(str(exc), self.url)}")
        if isinstance(exc, perr.ConfigurationError):
            return ConfigurationError(f"MongoDB configuration ({self.url.masked()}): {self._describe(exc)}")
        return DatabaseError(f"MongoDB error{where}: {self._describe(exc)}", orig=exc)

    @staticmethod
    def _key_columns(details: dict) -> str:
        pattern = details.get("keyPattern")
        if isinstance(pattern, dict) and pattern:
            return ", ".join("id" if k == "_id" else k for k in pattern)
        match = re.search(r"index: (\S+)", str(details.get("errmsg") or ""))
        return f"key (index {match[1]})" if match else "key"

    def _observe(self, what: str, model: ModelSpec, query: Any) -> None:
        """Through core's statement path: echo and the query hook see the same description."""
        if self.statements.watching:  # the hook's params are a sequence: the query's parts
            params = list(query) if isinstance(query, (list, tuple)) else [query]
            self.statements.observe(f"mongo {what} {model.table} {query!r}", params)

    # --- schema --------------------------------------------------------------------------------------------------------

    async def ensure_models(self, models: Sequence[ModelSpec], *, create: bool) -> None:
        conn = await self._conn()
        model = None
        try:
            existing = set(await conn.db.list_collection_names())
        except perr.PyMongoError as exc:
            raise self._translate(exc) from exc
        missing = [m for m in models if m.table not in existing]
        if not create and missing:
            names = ", ".join(f"{m.name} ({m.table})" for m in missing)
            raise SchemaError(f"collection(s) missing and auto_migrate is off: {names}; create them or set "
                              "auto_migrate=True")
        try:
            for model in models:
                if create and model.table not in existing:
                    self._observe("create_collection", model, {})
                    try:
                        await conn.db.create_collection(model.table)
                    except perr.CollectionInvalid:
                        pass  # created concurrently
                    except perr.OperationFailure as exc:
                        if exc.code != NAMESPACE_EXISTS:
                            raise
                if create:
                    for index in model.indexes:
                        await self._create_index(conn, model, index)
                if model.pk.kind == "int":
                    await self._seed_counter(conn, model)
        except perr.PyMongoError as exc:
            error = self._translate(exc, model)
            raise SchemaError(f"creating collections and indexes failed: {error.message}", orig=exc) from exc

    async def _create_index(self, conn: _Conn, model: ModelSpec, index: Any) -> None:
        fields = [model.fields[name] for name in index.fields]
        keys = [(mongo_name(f), 1) for f in fields]
        options: dict[str, Any] = {"name": index.name}
        if index.unique:
            options["unique"] = True
            nullable = [f for f in fields if (f.nullable or f.managed) and not f.primary_key]
            if nullable:
                conds = [{mongo_name(f): ({"$type": STORED_TYPE[f.kind]} if f.kind in STORED_TYPE else {"$exists": True})}
                         for f in fields]
                options["partialFilterExpression"] = conds[0] if len(conds) == 1 else {"$and": conds}
        try:
            await conn.coll(model.table).create_index(keys, **options)
        except perr.OperationFailure as exc:
            if exc.code in INDEX_CONFLICT_CODES:
                raise SchemaError(
                    f"model {model.name}: index {index.name!r} exists on {model.table} with different keys or "
                    f"options; drop it or rename the index in __dataflow__['indexes']", orig=exc) from exc
            raise

    async def _seed_counter(self, conn: _Conn, model: ModelSpec) -> None:
        """Start the id counter past the largest int id already stored (data written by others)."""
        if await conn.counters.find_one({"_id": model.table}) is not None:
            return
        top = await conn.coll(model.table).find_one({"_id": {"$type": "number"}}, {"_id": 1}, sort=[("_id", -1)])
        start = int(top["_id"]) if top else 0
        await conn.counters.update_one({"_id": model.table}, {"$max": {"seq": start}}, upsert=True)

    async def drop_tables(self, models: Sequence[ModelSpec]) -> None:
        """Drop the models' collections and id counters (test cleanup)."""
        conn = await self._conn()
        for model in models:
            await conn.db.drop_collection(model.table)
            await conn.counters.delete_one({"_id": model.table})

    # --- encoding -------------------------------------------------------------------------------------------------------

    def plan(self, model: ModelSpec) -> _Plan:
        plan = self._plans.get(model.name)
        if plan is None or plan.model is not model:
            plan = self._plans[model.name] = _Plan(model)
            self._compilers[model.name] = FilterCompiler(model, self.host.operators)
        return plan

    def where(self, model: ModelSpec, expr: Expr) -> dict:
        self.plan(model)
        return self._compilers[model.name].compile(expr)

    def _encode_docs(self, plan: _Plan, rows: Sequence[dict], ids: Sequence[Any]) -> list[dict]:
        """Documents for ``rows``: nulls left out; values shared between rows (one timestamp) encoded once."""
        docs = []
        last: dict[str, tuple[Any, Any]] = {}
        encode = plan.encode
        for row, key in zip(rows, ids, strict=True):
            doc = {"_id": key}
            for name, mkey, enc in encode:
                value = row.get(name)
                if value is None:
                    continue
                if enc is not None:
                    seen = last.get(name)
                    if seen is not None and seen[0] is value:
                        value = seen[1]
                    else:
                        encoded = enc(value)
                        last[name] = (value, encoded)
                        value = encoded
                doc[mkey] = value
            docs.append(doc)
        return docs

    def _encode_values(self, plan: _Plan, values: dict) -> dict:
        """An update document: ``$set`` for values, ``$unset`` for nulls."""
        sets, unsets = {}, {}
        for name, value in values.items():
            key = plan.keys[name]
            if value is None:
                unsets[key] = ""
            else:
                enc = plan.encoders[name]
                sets[key] = value if enc is None else enc(value)
        update: dict[str, Any] = {}
        if sets:
            update["$set"] = sets
        if unsets:
            update["$unset"] = unsets
        return update

    def decode(self, model: ModelSpec, doc: dict) -> dict:
        plan = self._plans.get(model.name)
        if plan is None or plan.model is not model:
            plan = self.plan(model)
        row = {}
        for name, key, dec in plan.decode:
            value = doc.get(key)
            row[name] = value if value is None or dec is None else dec(value)
        return row

    def _output(self, model: ModelSpec, plan: _Plan, row: dict, key: Any) -> dict:
        out = {}
        for name in plan.keys:
            out[name] = key if name == plan.pk else row.get(name)
        for name in plan.json:
            if out[name] is not None:
                out[name] = _copy_json(out[name])
        return out

    # --- ids -------------------------------------------------------------------------------------------------------------

    async def _ids(self, conn: _Conn, model: ModelSpec, plan: _Plan, rows: Sequence[dict]) -> list[Any]:
        pk = plan.pk
        ids = [row.get(pk) for row in rows]
        if not plan.auto_id:
            return ids
        missing = [i for i, key in enumerate(ids) if key is None]
        if missing:
            doc = await conn.counters.find_one_and_update(
                {"_id": model.table}, {"$inc": {"seq": len(missing)}}, upsert=True,
                return_document=ReturnDocument.AFTER)
            first = int(doc["seq"]) - len(missing) + 1
            for offset, i in enumerate(missing):
                ids[i] = first + offset
        if len(missing) < len(ids):
            top = max(key for i, key in enumerate(ids) if key is not None)
            await conn.counters.update_one({"_id": model.table}, {"$max": {"seq": top}}, upsert=True)
        return ids

    # --- primitives ------------------------------------------------------------------------------------------------------

    async def insert(self, model: ModelSpec, rows: list[dict], *, returning: bool) -> list[dict]:
        if not rows:
            return []
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.insert(model, rows, returning=returning))
        plan = self.plan(model)
        conn = await self._conn()
        try:
            ids = await self._ids(conn, model, plan, rows)
            docs = self._encode_docs(plan, rows, ids)
            self._observe("insert", model, len(docs))
            coll = conn.coll(model.table)
            if len(docs) == 1:
                await coll.insert_one(docs[0], session=self.session(conn))
            else:
                async def work(c: _Conn, session: Any) -> None:
                    await c.coll(model.table).insert_many(docs, ordered=True, session=session)

                await self.atomic(work)
        except DataFlowError:
            raise
        except (perr.PyMongoError, OverflowError) as exc:
            error = self._translate(exc, model)
            if isinstance(exc, perr.BulkWriteError) and self.server_transactions is False:
                written = exc.details.get("nInserted", 0)
                error.message += (f"; records 0-{written - 1} were written before it (this server has no "
                                  "transactions)" if written else "; nothing was written")
                error.args = (error.message,)
            raise error from exc
        if returning:
            return [self._output(model, plan, row, key) for row, key in zip(rows, ids, strict=True)]
        return []

    def _sort(self, plan: _Plan, order: list[OrderItem]) -> list[tuple[str, int]]:
        return [(plan.keys[item.field], -1 if item.descending else 1) for item in order]

    async def select(self, model, where, order, limit, offset) -> list[dict]:
        if limit == 0:
            return []
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.select(model, where, order, limit, offset))
        where = await resolved(self, where)  # relationship filters: key lists (query/related.py)
        plan = self.plan(model)
        query = self.where(model, where)
        self._observe("find", model, query)
        conn = await self._conn()
        try:
            cursor = conn.coll(model.table).find(query, sort=self._sort(plan, order) or None, skip=offset or 0,
                                                 limit=limit or 0, session=self.session(conn))
            docs = await cursor.to_list(None)
        except perr.PyMongoError as exc:
            raise self._translate(exc, model) from exc
        decode = self.decode
        return [decode(model, d) for d in docs]

    async def count(self, model, where) -> int:
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.count(model, where))
        where = await resolved(self, where)  # relationship filters: key lists (query/related.py)
        query = self.where(model, where)
        self._observe("count", model, query)
        conn = await self._conn()
        try:
            return await conn.coll(model.table).count_documents(query, session=self.session(conn))
        except perr.PyMongoError as exc:
            raise self._translate(exc, model) from exc

    async def update(self, model, where, values, *, returning: bool):
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.update(model, where, values, returning=returning))
        where = await resolved(self, where)  # relationship filters: key lists (query/related.py)
        plan = self.plan(model)
        query = self.where(model, where)
        update = self._encode_values(plan, values)
        self._observe("update", model, (query, update))
        single = _pins_key(where)
        try:
            if not update:
                rows = await self.select(model, where, [OrderItem(plan.pk)], None, 0)
                return rows if returning else len(rows)
            if single:
                conn = await self._conn()
                coll = conn.coll(model.table)
                if returning:
                    doc = await coll.find_one_and_update(query, update, return_document=ReturnDocument.AFTER,
                                                         session=self.session(conn))
                    return [] if doc is None else [self.decode(model, doc)]
                result = await coll.update_one(query, update, session=self.session(conn))
                return result.matched_count

            async def work(c: _Conn, session: Any) -> Any:
                coll = c.coll(model.table)
                if not returning:
                    return (await coll.update_many(query, update, session=session)).matched_count
                keys = [d["_id"] async for d in coll.find(query, {"_id": 1}, session=session)]
                if not keys:
                    return []
                await coll.update_many({"_id": {"$in": keys}}, update, session=session)
                docs = await coll.find({"_id": {"$in": keys}}, sort=[("_id", 1)], session=session).to_list(None)
                return [self.decode(model, d) for d in docs]

            return await self.atomic(work)
        except DataFlowError:
            raise
        except perr.PyMongoError as exc:
            raise self._translate(exc, model) from exc

    async def delete(self, model, where) -> int:
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.delete(model, where))
        where = await resolved(self, where)  # relationship filters: key lists (query/related.py)
        query = self.where(model, where)
        self._observe("delete", model, query)
        conn = await self._conn()
        coll = conn.coll(model.table)
        try:
            if _pins_key(where):
                return (await coll.delete_one(query, session=self.session(conn))).deleted_count
            return (await coll.delete_many(query, session=self.session(conn))).deleted_count
        except perr.PyMongoError as exc:
            raise self._translate(exc, model) from exc

    async def upsert(self, model, rows, updates, conflict_on, *, returning: bool) -> UpsertOutcome:
        """Insert each row, or apply its update where ``conflict_on`` matches.

        When every update holds the row's own values (BulkUpsert), one ``bulk_write`` of ``UpdateOne(…,
        upsert=True)`` with ``$set`` + ``$setOnInsert`` does it, atomically per record; otherwise each row is
        an update-or-insert. Several rows run in one transaction.
        """
        if not rows:
            return UpsertOutcome([], [])
        if (handle := self._foreign()) is not None:
            return await self._elsewhere(handle, self.upsert(model, rows, updates, conflict_on, returning=returning))
        plan = self.plan(model)
        conn = await self._conn()
        keys = [plan.keys[c] for c in conflict_on]
        try:
            ids = await self._ids(conn, model, plan, rows) if plan.auto_id and plan.pk not in conflict_on else [
                row.get(plan.pk) for row in rows]
            docs = self._encode_docs(plan, rows, ids)
            from_row = all(
                all(name in row and row[name] is not None and type(row[name]) is type(value) and row[name] == value
                    for name, value in update.items())
                for row, update in zip(rows, updates, strict=True))
            filters = [{k: doc[k] for k in keys} for doc in docs]
            self._observe("upsert", model, filters[:3])

            async def bulk(c: _Conn, session: Any) -> list[bool]:
                ops = []
                for doc, filt, update in zip(docs, filters, updates, strict=True):
                    change = self._encode_values(plan, update)
                    on_insert = {k: v for k, v in doc.items() if k not in filt and k not in change.get("$set", ())}
                    if on_insert:
                        change["$setOnInsert"] = on_insert
                    if not change:
                        change = {"$setOnInsert": dict(filt)}
                    ops.append(UpdateOne(filt, change, upsert=True))
                result = await c.coll(model.table).bulk_write(ops, ordered=True, session=session)
                return [i in result.upserted_ids for i in range(len(ops))]

            async def each(c: _Conn, session: Any) -> list[bool]:
                coll = c.coll(model.table)
                created = []
                for doc, filt, update in zip(docs, filters, updates, strict=True):
                    change = self._encode_values(plan, update)
                    if change:
                        found = await coll.find_one_and_update(filt, change, projection={"_id": 1}, session=session)
                    else:
                        found = await coll.find_one(filt, {"_id": 1}, session=session)
                    if found is None:
                        await coll.insert_one(doc, session=session)
                    created.append(found is None)
                return created

            work = bulk if from_row else each
            created = await (work(conn, self.session(conn)) if len(rows) == 1 else self.atomic(work))
            out_rows: list[dict] = []
            if returning:
                coll = conn.coll(model.table)
                for filt in filters:
                    found = await coll.find_one(filt, session=self.session(conn))
                    out_rows.append(self.decode(model, found))
        except DataFlowError:
            raise
        except (perr.PyMongoError, OverflowError) as exc:
            raise self._translate(exc, model) from exc
        return UpsertOutcome(out_rows, created)


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

    def usable(self) -> None:
        self.check_active()
        if self.doomed:
            raise TransactionError(f"this MongoDB transaction was rolled back: {self.doomed}")

    def doom(self, reason: str) -> None:
        if self.doomed is None:
            self.doomed = reason
            self.failed = True

    async def _end(self, commit: bool) -> None:
        session, self.session = self.session, None
        self.active = False
        if session is None:
            return
        try:
            if commit:
                await session.commit_transaction()
            elif session.in_transaction:
                await session.abort_transaction()
        except perr.PyMongoError as exc:
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
        if session is not None and session.in_transaction:
            try:
                await self._here(session.abort_transaction())
            except perr.PyMongoError:  # pragma: no cover - already aborted by the server
                log.debug("aborting a MongoDB transaction failed", exc_info=True)
