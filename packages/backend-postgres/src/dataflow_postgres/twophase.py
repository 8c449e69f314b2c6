"""Prepared transactions on PostgreSQL: ``PREPARE TRANSACTION``, ``COMMIT PREPARED``, ``pg_prepared_xacts``.

The server must allow them (``max_prepared_transactions`` > 0, set at server start). A branch begins as any
transaction (row-level security included); ``PREPARE TRANSACTION`` on a transaction an error has aborted
rolls it back instead, which is reported as a failed prepare. Prepared transactions belong to one database
of the cluster: recovery lists and finishes those of the database it is connected to.
"""

from __future__ import annotations

from typing import Any

from dataflow.distributed import PreparedTransactionsDisabledError, PrepareFailedError, TwoPhaseSupport

from .client import asyncpg


class PostgresTwoPhase(TwoPhaseSupport):
    async def check(self, conn: Any) -> None:
        limit = int(await conn.fetchval("SHOW max_prepared_transactions"))
        if limit <= 0:
            raise PreparedTransactionsDisabledError(
                f"PostgreSQL at {self.backend.url.masked()} has max_prepared_transactions = 0, so it cannot prepare "
                "transactions (two-phase commit). Start the server with max_prepared_transactions set to at least "
                "max_connections (postgresql.conf, or -c max_prepared_transactions=100) and restart it")

    async def start(self, conn: Any, isolation_level: str | None, gid: str) -> Any:
        return await self.backend.driver.begin(conn, isolation_level)

    async def prepare(self, conn: Any, state: Any, gid: str) -> None:
        status = await conn.execute(f"PREPARE TRANSACTION '{gid}'")
        if status != "PREPARE TRANSACTION":  # "ROLLBACK": the transaction had failed
            raise PrepareFailedError("PostgreSQL rolled the transaction back instead of preparing it: a statement "
                                     "in it had failed")

    async def abort_active(self, conn: Any, state: Any, gid: str) -> None:
        await conn.execute("ROLLBACK")

    async def finish(self, conn: Any, gid: str, commit: bool) -> bool:
        try:
            await conn.execute(f"{'COMMIT' if commit else 'ROLLBACK'} PREPARED '{gid}'")
        except asyncpg.UndefinedObjectError:  # no such prepared transaction: already finished
            return False
        return True

    async def in_doubt(self, conn: Any, prefix: str) -> list[str]:
        pattern = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
        rows = await conn.fetch("SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE $1",
                                pattern)
        return [r[0] for r in rows]
