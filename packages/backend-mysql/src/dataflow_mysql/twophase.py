"""XA transactions on MySQL and MariaDB: ``XA START … XA END, XA PREPARE``, ``XA COMMIT/ROLLBACK``, ``XA RECOVER``.

A branch is an XA transaction from its first statement (``XA START 'gid'`` instead of ``BEGIN``); savepoints
work inside. A prepared XA transaction survives its connection (MariaDB 10.5 and later, MySQL 5.7.7 and
later) and is committed by id from any connection. ``XA RECOVER`` lists the server's prepared transactions
(every database of the server); recovery keeps to the ids of its own log.
"""

from __future__ import annotations

from typing import Any

from dataflow.distributed import TwoPhaseSupport

from .client import pymysql
from .connection import ISOLATION

XAER_NOTA = 1397  # the XID is not known
XAER_RMFAIL = 1399  # the command cannot run in this XA state


async def _run(conn: Any, sql: str) -> list[tuple]:
    async with conn.cursor() as cur:
        await cur.execute(sql, ())
        return list(await cur.fetchall()) if cur.description else []


class MySQLTwoPhase(TwoPhaseSupport):
    async def check(self, conn: Any) -> None:
        return None  # InnoDB always supports XA

    async def start(self, conn: Any, isolation_level: str | None, gid: str) -> Any:
        if isolation_level:
            await _run(conn, f"SET TRANSACTION ISOLATION LEVEL {ISOLATION[isolation_level]}")
        await _run(conn, f"XA START '{gid}'")
        return None

    async def prepare(self, conn: Any, state: Any, gid: str) -> None:
        await _run(conn, f"XA END '{gid}'")
        await _run(conn, f"XA PREPARE '{gid}'")

    async def abort_active(self, conn: Any, state: Any, gid: str) -> None:
        try:
            await _run(conn, f"XA END '{gid}'")
        except pymysql.err.MySQLError as exc:
            if exc.args[0] not in (XAER_RMFAIL, XAER_NOTA):  # already ended (or rolled back by a deadlock)
                raise
        try:
            await _run(conn, f"XA ROLLBACK '{gid}'")
        except pymysql.err.MySQLError as exc:
            if exc.args[0] != XAER_NOTA:
                raise

    async def finish(self, conn: Any, gid: str, commit: bool) -> bool:
        try:
            await _run(conn, f"XA {'COMMIT' if commit else 'ROLLBACK'} '{gid}'")
        except pymysql.err.MySQLError as exc:
            if exc.args[0] == XAER_NOTA:
                return False
            raise
        return True

    async def in_doubt(self, conn: Any, prefix: str) -> list[str]:
        found = []
        for _format, gtrid_length, _bqual, data in await _run(conn, "XA RECOVER"):
            text = data.decode() if isinstance(data, (bytes, bytearray)) else str(data)
            gid = text[: int(gtrid_length)]
            if gid.startswith(prefix):
                found.append(gid)
        return found
