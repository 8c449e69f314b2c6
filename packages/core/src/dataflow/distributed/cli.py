"""``dataflow recover URL… [--log URL]``: resolve the in-doubt distributed transactions of databases."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any


def add_recover(sub: Any) -> None:
    """The ``recover`` subcommand of :mod:`dataflow.cli`."""
    parser = sub.add_parser("recover", help="commit or roll back in-doubt distributed transactions from the "
                                            "coordinator log")
    parser.add_argument("urls", nargs="+", metavar="URL", help="participant database (PostgreSQL, MySQL/MariaDB)")
    parser.add_argument("--log", help="database URL of the coordinator log (default: the first URL)")
    parser.add_argument("--table", default=None, help="table of the coordinator log (default dataflow_2pc_log)")
    parser.add_argument("--coordinator", default=None, help="only the transactions of this coordinator name")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before giving up (default 60)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=cmd_recover)


def cmd_recover(args: argparse.Namespace) -> int:
    return asyncio.run(_recover(args))


async def _recover(args: argparse.Namespace) -> int:
    from ..dataflow import DataFlow
    from .log import DEFAULT_TABLE, CoordinatorLog
    from .recovery import recover

    dbs = [DataFlow(url, existing_schema_mode=True) for url in args.urls]
    log_db = DataFlow(args.log, existing_schema_mode=True) if args.log else dbs[0]
    try:
        log = CoordinatorLog(log_db, args.table or DEFAULT_TABLE)
        report = await recover(*dbs, log=log, coordinator=args.coordinator, timeout=args.timeout)
    finally:
        for db in {id(d): d for d in [*dbs, log_db]}.values():
            await db.close_async()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"committed {len(report['committed'])}, rolled back {len(report['rolled_back'])} in-doubt "
              f"transaction branch(es) on {', '.join(report['databases'])}")
        for gid in report["committed"]:
            print(f"  committed    {gid}")
        for gid in report["rolled_back"]:
            print(f"  rolled back  {gid}")
    return 0
