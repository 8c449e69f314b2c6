"""The ``dataflow`` command line: inspect schemas, plan and apply migrations, list plugins.

    dataflow schema URL [--json] [--table NAME ...]
    dataflow migrate MODULE[:ATTR] [--plan | --apply] [--rename Model.old=new] [--backfill Model.field=JSON]
                     [--drop-columns]
    dataflow plugins [--json]
    dataflow recover URL [URL ...] [--log URL] [--coordinator NAME] [--table NAME] [--json]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from . import __version__
from .errors import ConfigurationError, DataFlowError
from .urls import parse_url


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    body = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def inspect_only(raw: str) -> str:
    """The URL ``dataflow schema`` opens: an SQLite file must exist, and is opened read-only.

    Opening a missing file would create it, and opening a file read-write may switch its journal mode;
    ``dataflow schema`` never changes anything.
    """
    url = parse_url(raw)
    if url.scheme != "sqlite" or url.is_memory or url.database.startswith("file:"):
        return raw
    path = Path(url.database)
    if not path.is_file():
        raise ConfigurationError(f"no SQLite database file at {url.database!r} ({path.resolve()}); "
                                 "`dataflow schema` inspects existing databases and never creates one")
    options = urlencode({**url.query, "mode": "ro"})
    return f"file:{quote(str(path.resolve()))}?{options}"


def cmd_schema(args: argparse.Namespace) -> int:
    from .dataflow import DataFlow

    db = DataFlow(inspect_only(args.url), existing_schema_mode=True)
    try:
        schema = db.discover_schema(tables=args.table or None)
    finally:
        db.close()
    if args.json:
        _print_json(schema)
        return 0
    if not schema:
        print(f"no tables in {parse_url(args.url).masked()}")
    for name, table in schema.items():
        print(
            f"{table['kind']} {name}"
            + (f"  (primary key: {', '.join(table['primary_key'])})" if table["primary_key"] else "")
        )
        rows = [[c["name"], c["type"], c["native_type"], "yes" if c["nullable"] else "no", c["default"] or ""]
                for c in table["columns"]]
        print(_table(rows, ["column", "type", "native", "null", "default"]))
        for index in table["indexes"]:
            print(f"  index {index['name']} ({', '.join(index['columns'])}){' unique' if index['unique'] else ''}")
        for fk in table["foreign_keys"]:
            print(
                f"  foreign key ({', '.join(fk['columns'])}) -> "
                f"{fk['referred_table']}({', '.join(fk['referred_columns'])})"
            )
        print()
    return 0


def _load_dataflow(target: str) -> Any:
    from .dataflow import DataFlow

    module_name, _, attr = target.partition(":")
    path = Path(module_name)
    if path.suffix == ".py" and path.exists():
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        sys.path.insert(0, str(Path.cwd()))
        module = importlib.import_module(module_name)
    if attr:
        found = getattr(module, attr, None)
        if not isinstance(found, DataFlow):
            raise SystemExit(f"dataflow: {target}: {attr!r} is not a DataFlow instance")
        return found
    candidates = [v for v in vars(module).values() if isinstance(v, DataFlow)]
    if len(candidates) != 1:
        names = [k for k, v in vars(module).items() if isinstance(v, DataFlow)]
        raise SystemExit(f"dataflow: {module_name} defines {len(candidates)} DataFlow instances {names}; "
                         f"name one as {module_name}:<attr>")
    return candidates[0]


def _pairs(items: Sequence[str], what: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for item in items:
        left, sep, right = item.partition("=")
        model, dot, field = left.partition(".")
        if not (sep and dot and model and field and right):
            raise SystemExit(f"dataflow: invalid {what} {item!r}; write Model.field=value")
        out.setdefault(model, {})[field] = right
    return out


def cmd_migrate(args: argparse.Namespace) -> int:
    db = _load_dataflow(args.target)
    renames = _pairs(args.rename, "--rename")
    backfill = {
        m: {f: json.loads(v) for f, v in fields.items()} for m, fields in _pairs(args.backfill, "--backfill").items()
    }
    try:
        steps = db.migrate(apply=args.apply, renames=renames, backfill=backfill, drop_columns=args.drop_columns)
    finally:
        db.close()
    if args.json:
        _print_json(steps)
    elif not steps:
        print("the database matches the models: nothing to do")
    else:
        print(("applied" if args.apply else "plan") + f" for {db.url_masked}:")
        for step in steps:
            where = f"{step['table']}.{step['column']}" if step["column"] else step["table"]
            auto = "automatic" if step["applied_automatically"] else "explicit"
            print(f"  {step['action']:16} {where:30} {auto:9} {step['detail']}")
        if not args.apply:
            print("run again with --apply to apply")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins import get_plugin_host

    host = get_plugin_host()
    rows = host.describe()
    backends = {cls.name: sorted(cls.schemes) for cls in host.backends}
    if args.json:
        _print_json({"plugins": rows, "backends": backends})
        return 0
    print(_table([[r["name"], r["source"], ", ".join(h.removeprefix("dataflow_") for h in r["hooks"])] for r in rows],
                 ["plugin", "distribution", "hooks"]))
    print()
    print(
        _table([[name, ", ".join(schemes)] for name, schemes in sorted(backends.items())], ["backend", "URL schemes"])
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dataflow", description="kailash-dataflow command line")
    parser.add_argument("--version", action="version", version=f"kailash-dataflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    schema = sub.add_parser("schema", help="show the tables of a database (discovered, never changed)")
    schema.add_argument("url", help="database URL, e.g. postgresql://user:pass@host/db")
    schema.add_argument("--json", action="store_true", help="print JSON instead of tables")
    schema.add_argument("--table", action="append", help="only this table (repeatable)")
    schema.set_defaults(func=cmd_schema)
    migrate = sub.add_parser("migrate", help="plan or apply the migration for the models of a module")
    migrate.add_argument("target", help="module or file that declares models on a DataFlow (module:attr to choose)")
    mode = migrate.add_mutually_exclusive_group()
    mode.add_argument("--plan", action="store_true", help="show the plan (default)")
    mode.add_argument("--apply", action="store_true", help="apply the whole plan in one transaction")
    migrate.add_argument("--rename", action="append", default=[], metavar="Model.old=new", help="rename a column")
    migrate.add_argument("--backfill", action="append", default=[], metavar="Model.field=JSON",
                         help="value for a new required field on a table with rows")
    migrate.add_argument("--drop-columns", action="store_true", help="also drop columns the models no longer declare")
    migrate.add_argument("--json", action="store_true")
    migrate.set_defaults(func=cmd_migrate)
    plugins = sub.add_parser("plugins", help="installed backends and extensions with versions and hooks")
    plugins.add_argument("--json", action="store_true")
    plugins.set_defaults(func=cmd_plugins)
    from .distributed.cli import add_recover

    add_recover(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DataFlowError as exc:
        print(f"dataflow: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
