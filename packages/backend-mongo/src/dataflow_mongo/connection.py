"""Client lifecycle of MongoBackend: the URL, one AsyncMongoClient per event loop, open and close."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import threading
import weakref
from typing import Any
from urllib.parse import quote, urlencode

from dataflow.errors import ConfigurationError, ConnectionFailedError, DatabaseError

from . import driver
from .limits import operation

log = logging.getLogger("dataflow.mongo")

COUNTERS = "dataflow_counters"
PORTAL_THREAD = "dataflow-portal"  # dataflow.runner.SyncRunner's thread for sync calls made inside a running loop
_DB_NAME_BAD = re.compile(r'[/\\. "$\x00]')
_TIMEOUT_KEYS = {"serverselectiontimeoutms", "connecttimeoutms"}
CLOSE_WAIT = 1.0  # seconds a closing client waits for the server to take its goodbye


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
            await closed(conn.client, owner.connect_timeout if owner is not None else 10)
        except Exception:  # pragma: no cover - the loop is going away
            log.debug("closing a MongoDB client at loop shutdown failed", exc_info=True)


async def closed(client: Any, seconds: float) -> None:
    """Close a client. Its goodbye to the server (endSessions, a courtesy: the server expires sessions itself) waits
    at most ``seconds`` and a second, and not at all when no server is known: the server may be paused or gone."""
    known = client.topology_description.has_writable_server()
    with driver.pymongo.timeout(min(seconds, CLOSE_WAIT) if known else 0.001):
        await client.close()


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


class MongoConnections:
    """Mixin of :class:`~dataflow_mongo.backend.MongoBackend`: URL, clients, open and close."""

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
        # no socketTimeoutMS: each operation's limit reaches pymongo as its client-side timeout (.limits)
        return kwargs

    def _make_client(self) -> Any:
        options = driver.codec_options()
        try:
            return driver.pymongo.AsyncMongoClient(self._uri(), tz_aware=True, tzinfo=options.tzinfo,
                                            type_registry=options.type_registry, uuidRepresentation="standard",
                                            **self._client_kwargs())
        except driver.perr.ConfigurationError as exc:
            raise ConfigurationError(f"invalid MongoDB URL {self.url.masked()}: {self._describe(exc)}") from None
        except driver.perr.PyMongoError as exc:
            raise ConnectionFailedError(
                f"cannot connect to MongoDB at {self.url.masked()}: {self._describe(exc)}"
            ) from None

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
                    # in an empty context: the task must not inherit the deadline of the operation that made it
                    guard = _guard(conn, self.host, weakref.ref(self))
                    conn.guard = contextvars.Context().run(loop.create_task, guard, name="dataflow-mongo-client-guard")
                    fresh = None
            if fresh is not None:  # another task of this loop published its client first
                self.host.connection_closing(fresh.client, self)
                await closed(fresh.client, self.connect_timeout)
        return conn

    async def _shutdown(self, conn: _Conn) -> None:
        guard = conn.guard
        if guard is not None and not guard.done():
            guard.cancel()
            await asyncio.gather(guard, return_exceptions=True)
        else:
            await closed(conn.client, self.connect_timeout)

    @operation("connect")
    async def open(self) -> None:
        conn = await self._conn()
        if self.server_transactions is not None:
            return
        try:
            hello = await conn.client.admin.command("hello")
            await conn.db.command("ping")
        except driver.perr.PyMongoError as exc:
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
