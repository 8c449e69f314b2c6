"""SQLite specifics of filter compilation: Python-backed regex/ilike, native JSON1 paths."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from dataflow.query.ast import FieldRef
from dataflow.sql.compiler import FilterCompiler

JSON_KINDS = {"str": ("text",), "number": ("integer", "real"), "bool": ("true", "false")}


def json_path(ref: FieldRef) -> str:
    """``meta.tags.0`` → ``$."tags"[0]``: digits index arrays, other segments are keys."""
    return "$" + "".join(f"[{s}]" if s.isdigit() else f'."{s}"' for s in ref.path)


class SQLiteFilterCompiler(FilterCompiler):
    def comparable(self, ref: FieldRef) -> Any:
        col = self.column(ref)
        return col.collate("dataflow_decimal") if ref.field.kind == "decimal" else col

    def ilike(self, col: Any, pattern: str) -> Any:
        return sa.func.dataflow_ilike(col, pattern) == 1

    def regex_match(self, col: Any, pattern: str, ignore_case: bool) -> Any:
        return sa.func.dataflow_regexp(col, pattern, "i" if ignore_case else "") == 1

    def text_contains(self, col: Any, value: str) -> Any:
        return sa.func.instr(col, value) > 0

    def _path(self, ref: FieldRef) -> Any:
        return sa.literal(json_path(ref), type_=sa.types.NullType())

    def json_present(self, ref: FieldRef) -> Any:
        return sa.func.coalesce(sa.func.json_type(self.column(ref), self._path(ref)), "null") != "null"

    def json_is_kind(self, ref: FieldRef, kind: str | None) -> Any:
        return sa.func.json_type(self.column(ref), self._path(ref)).in_(JSON_KINDS[kind])

    def json_scalar(self, ref: FieldRef, kind: str | None) -> Any:
        return sa.func.json_extract(self.column(ref), self._path(ref))

    def json_text(self, ref: FieldRef) -> Any:
        return sa.func.json_extract(self.column(ref), self._path(ref))

    def json_contains(self, ref: FieldRef, value: Any) -> Any:
        return sa.func.dataflow_json_contains(self.column(ref), ".".join(ref.path), sa.literal(json.dumps(value), type_=sa.types.NullType())) == 1
