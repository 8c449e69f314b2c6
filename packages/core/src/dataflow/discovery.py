"""Discovering existing tables with SQLAlchemy reflection: one dict shape on every SQL backend.

``discover(sa_connection)`` runs inside a backend-provided SQLAlchemy
connection (``SQLBackend.run_reflection``) and returns, per table or view::

    {"name": "users", "kind": "table" | "view",
     "columns": [{"name", "type", "native_type", "nullable", "primary_key", "default", "autoincrement"}],
     "primary_key": ["id"], "unique_constraints": [{"name", "columns"}],
     "indexes": [{"name", "columns", "unique"}],
     "foreign_keys": [{"name", "columns", "referred_table", "referred_columns"}]}

``type`` is portable (str int float bool datetime date decimal bytes json, or
``other``); ``native_type`` is what the database says.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import types as satypes

INTERNAL_TABLES = ("dataflow_migrations", "sqlite_sequence")


def portable_type(coltype: Any) -> str:
    """The DataFlow kind of a reflected column type."""
    name = type(coltype).__name__.upper()
    if isinstance(coltype, satypes.Boolean) or name in ("BOOLEAN", "BOOL", "BIT"):
        return "bool"
    if "TINYINT" in name and getattr(coltype, "display_width", None) == 1:
        return "bool"
    if isinstance(coltype, satypes.Integer):
        return "int"
    if isinstance(coltype, (satypes.Float,)) or name in ("REAL", "DOUBLE", "DOUBLE_PRECISION", "FLOAT"):
        return "float"
    if isinstance(coltype, satypes.Numeric):
        return "decimal"
    if isinstance(coltype, satypes.DateTime) or "TIMESTAMP" in name:
        return "datetime"
    if isinstance(coltype, satypes.Date):
        return "date"
    if isinstance(coltype, (satypes.LargeBinary, satypes._Binary)) or name in ("BLOB", "BYTEA", "VARBINARY"):
        return "bytes"
    if isinstance(coltype, satypes.JSON) or "JSON" in name:
        return "json"
    if isinstance(coltype, (satypes.String, satypes.Text)) or name in ("TEXT", "VARCHAR", "CHAR", "UUID"):
        return "str"
    return "other"


def _default(value: Any) -> Any:
    return None if value is None else str(value)


def describe_table(inspector: Any, name: str, kind: str) -> dict:
    pk = inspector.get_pk_constraint(name) or {}
    pk_cols = list(pk.get("constrained_columns") or [])
    columns = []
    for col in inspector.get_columns(name):
        columns.append({
            "name": col["name"],
            "type": portable_type(col["type"]),
            "native_type": str(col["type"]) if not isinstance(col["type"], satypes.NullType) else "",
            "nullable": bool(col.get("nullable", True)) and col["name"] not in pk_cols,
            "primary_key": col["name"] in pk_cols,
            "default": _default(col.get("default")),
            "autoincrement": col.get("autoincrement") not in (False, None) and col["name"] in pk_cols,
        })
    uniques = [
        {"name": u.get("name"), "columns": list(u["column_names"])}
        for u in _safe(inspector.get_unique_constraints, name)
    ]
    indexes = [{"name": i.get("name"), "columns": [c for c in i["column_names"] if c], "unique": bool(i.get("unique"))}
               for i in _safe(inspector.get_indexes, name)]
    fks = [{"name": f.get("name"), "columns": list(f["constrained_columns"]), "referred_table": f["referred_table"],
            "referred_columns": list(f["referred_columns"])} for f in _safe(inspector.get_foreign_keys, name)]
    return {"name": name, "kind": kind, "columns": columns, "primary_key": pk_cols, "unique_constraints": uniques,
            "indexes": indexes, "foreign_keys": fks}


def _safe(method: Any, name: str) -> list:
    try:
        return list(method(name))
    except NotImplementedError:
        return []


def discover(connection: sa.Connection, tables: list[str] | None = None, include_internal: bool = False) -> dict:
    """Describe the tables and views of the connection's default schema."""
    inspector = sa.inspect(connection)
    names = [(n, "table") for n in inspector.get_table_names()] + [(n, "view") for n in inspector.get_view_names()]
    result = {}
    for name, kind in sorted(names):
        if not include_internal and (name in INTERNAL_TABLES or name.startswith("sqlite_")):
            continue
        if tables is not None and name not in tables:
            continue
        result[name] = describe_table(inspector, name, kind)
    return result
