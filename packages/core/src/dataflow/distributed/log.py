"""The coordinator log: where the decision of each distributed transaction is recorded, durably, before
any participant commits.

One table (``dataflow_2pc_log`` by default) in a SQL database the user names: a row per decided
transaction, written exactly once (the primary key is the transaction id). The coordinator writes
``commit`` after every participant prepared; a recovery writes ``abort`` for an in-doubt transaction that
has no row. Whoever writes first wins and the other obeys, so a recovery racing a live coordinator never
splits a transaction. No row means abort (presumed abort): nothing is written for a transaction that
rolls back.

The log has an identity, a random id kept in a row of its own (``gid = '~log'``): every transaction id it
hands out embeds it, and recovery only ever touches transactions carrying the id of the log it reads.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from ..errors import DuplicateKeyError
from .errors import CoordinatorLogError
from .support import unbound

DEFAULT_TABLE = "dataflow_2pc_log"
IDENTITY_ROW = "~log"
COMMIT, ABORT = "commit", "abort"


class CoordinatorLog:
    """The decisions of distributed transactions, in table ``table`` of the DataFlow ``db``."""

    def __init__(self, db: Any, table: str = DEFAULT_TABLE, *, owned: bool = False) -> None:
        if not table.isidentifier():
            raise CoordinatorLogError(f"coordinator log table must be an identifier, got {table!r}")
        backend = db.backend
        if not hasattr(backend, "placeholder") or not hasattr(backend, "fetch"):
            raise CoordinatorLogError(f"the coordinator log needs a SQL database (PostgreSQL, MySQL/MariaDB, SQLite); "
                                      f"{db.url_masked} is a {backend.name!r} database")
        self.db, self.table, self.owned = db, table, owned
        self.log_id: str | None = None

    @classmethod
    def of(cls, log: Any, default: Any = None) -> CoordinatorLog:
        """A log from what users pass: a CoordinatorLog, a DataFlow, a URL (opened here), or None (``default``)."""
        if isinstance(log, CoordinatorLog):
            return log
        if log is None:
            log = default
        if isinstance(log, str):
            from ..dataflow import DataFlow

            return cls(DataFlow(log), owned=True)
        if log is None or not hasattr(log, "backend"):
            raise CoordinatorLogError(f"log= must be a DataFlow, a database URL or a CoordinatorLog, got {log!r}")
        return cls(log)

    def __repr__(self) -> str:
        return f"CoordinatorLog({self.db.url_masked!r}, table={self.table!r}, id={self.log_id!r})"

    # --- statements --------------------------------------------------------------------------------------------

    def _sql(self, text: str) -> str:
        backend = self.db.backend
        count = 0

        def mark(_: Any) -> str:
            nonlocal count
            count += 1
            return backend.placeholder(count)

        import re

        return re.sub(r"\?", mark, text.replace("{t}", backend.quote(self.table)))

    async def _fetch(self, text: str, params: tuple) -> list[tuple]:
        backend = self.db.backend
        with unbound(backend):
            return await backend.fetch(self._sql(text), params)

    async def _execute(self, text: str, params: tuple) -> int:
        backend = self.db.backend
        with unbound(backend):
            return await backend.execute(self._sql(text), params)

    # --- the log ---------------------------------------------------------------------------------------------------

    async def ensure(self) -> str:
        """Create the table when missing and learn (or give) the log's identity; returns it."""
        if self.log_id is not None:
            return self.log_id
        await self.db.backend.open()
        await self._execute("CREATE TABLE IF NOT EXISTS {t} (gid VARCHAR(80) NOT NULL PRIMARY KEY, "
                            "decision VARCHAR(16) NOT NULL, coordinator VARCHAR(80) NOT NULL, "
                            "participants TEXT NOT NULL, decided_at DOUBLE PRECISION NOT NULL, "
                            "completed_at DOUBLE PRECISION)", ())
        rows = await self._fetch("SELECT coordinator FROM {t} WHERE gid = ?", (IDENTITY_ROW,))
        if not rows:
            try:
                await self._execute(
                    "INSERT INTO {t} (gid, decision, coordinator, participants, decided_at) VALUES (?, ?, ?, ?, ?)",
                    (IDENTITY_ROW, "identity", secrets.token_hex(4), "[]", time.time()),
                )
            except DuplicateKeyError:
                pass  # another process gave it first
            rows = await self._fetch("SELECT coordinator FROM {t} WHERE gid = ?", (IDENTITY_ROW,))
        self.log_id = str(rows[0][0])
        return self.log_id

    async def record(self, gid: str, decision: str, coordinator: str, participants: list[str]) -> str:
        """Record ``decision`` for ``gid`` unless one is recorded already; returns the decision in force."""
        try:
            await self._execute(
                "INSERT INTO {t} (gid, decision, coordinator, participants, decided_at) VALUES (?, ?, ?, ?, ?)",
                (gid, decision, coordinator, json.dumps(participants), time.time()),
            )
            return decision
        except DuplicateKeyError:
            found = await self.decision(gid)
            return found or decision

    async def decision(self, gid: str) -> str | None:
        rows = await self._fetch("SELECT decision FROM {t} WHERE gid = ?", (gid,))
        return str(rows[0][0]) if rows else None

    async def complete(self, gid: str) -> None:
        """Every participant has finished: the row stays, for tracing, until :meth:`purge`."""
        await self._execute("UPDATE {t} SET completed_at = ? WHERE gid = ?", (time.time(), gid))

    async def entries(self, limit: int = 100) -> list[dict]:
        """The latest decisions, newest first."""
        rows = await self._fetch("SELECT gid, decision, coordinator, participants, decided_at, completed_at FROM {t} "
                                 "WHERE gid <> ? ORDER BY decided_at DESC", (IDENTITY_ROW,))
        keys = ("gid", "decision", "coordinator", "participants", "decided_at", "completed_at")
        out = [dict(zip(keys, row)) for row in rows[:limit]]
        for entry in out:
            entry["participants"] = json.loads(entry["participants"])
        return out

    async def purge(self, older_than: float = 7 * 86400) -> int:
        """Delete decisions completed more than ``older_than`` seconds ago; the number deleted."""
        return await self._execute("DELETE FROM {t} WHERE completed_at IS NOT NULL AND completed_at < ? AND gid <> ?",
                                   (time.time() - older_than, IDENTITY_ROW))

    async def close(self) -> None:
        if self.owned:
            await self.db.close_async()
