"""Recovery: finish the in-doubt transactions a dead coordinator left prepared, from the coordinator log.

For each database: list its prepared transactions carrying the log's identity (``df2pc_<log id>_``, and the
coordinator name when given), then for each transaction read the decision, writing ``abort`` first when
there is none (presumed abort; the log's primary key makes the first writer win, so a coordinator still
running learns the abort and rolls back too), and commit or roll back every branch accordingly.
Transactions prepared by other logs, other coordinators or other software are never touched.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .coordinator import check_coordinator, gid_prefix, label, support_of
from .log import ABORT, COMMIT, CoordinatorLog


async def recover(*dbs: Any, log: Any = None, coordinator: str | None = None, timeout: float = 60.0) -> dict:
    """Resolve the in-doubt transactions of ``dbs``; ``{"committed": [...], "rolled_back": [...]}`` (branch ids).

    ``log``: the coordinator log the transactions were decided in (a DataFlow, a URL or a CoordinatorLog;
    default the first database, as for :func:`~dataflow.distributed.distributed_transaction`)."""
    if coordinator is not None:
        check_coordinator(coordinator)
    logbook = CoordinatorLog.of(log, default=dbs[0] if dbs else None)
    try:
        return await asyncio.wait_for(_recover(dbs, logbook, coordinator), timeout)
    finally:
        await logbook.close()


async def _recover(dbs: tuple[Any, ...], logbook: CoordinatorLog, coordinator: str | None) -> dict:
    prefix = gid_prefix(await logbook.ensure(), coordinator)
    report: dict[str, list[str]] = {"committed": [], "rolled_back": [], "databases": [label(db) for db in dbs]}
    decisions: dict[str, str] = {}
    for db in dbs:
        support = support_of(db)
        await db.backend.open()
        for branch in sorted(await support.list_in_doubt(prefix)):
            gid = branch.rsplit("_", 1)[0]
            if gid not in decisions:
                decisions[gid] = await logbook.record(gid, ABORT, "recover", [])
            commit = decisions[gid] == COMMIT
            if await support.finish_anywhere(branch, commit):
                report["committed" if commit else "rolled_back"].append(branch)
    return report


def recover_sync(*dbs: Any, log: Any = None, coordinator: str | None = None, timeout: float = 60.0) -> dict:
    """:func:`recover` from synchronous code."""
    return dbs[0]._runner.run(recover(*dbs, log=log, coordinator=coordinator, timeout=timeout))
