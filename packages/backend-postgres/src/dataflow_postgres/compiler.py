"""PostgreSQL specifics of filter compilation: regex operators, ILIKE, JSONB paths."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from dataflow.query.ast import FieldRef
from dataflow.sql.compiler import FilterCompiler

JSON_KINDS = {"str": "string", "number": "number", "bool": "boolean"}


class PostgresFilterCompiler(FilterCompiler):
    def op_ilike(self, col: Any, pattern: str) -> Any:
        return col.ilike(pattern, escape="\\")

    def op_regex(self, col: Any, pattern: str, ignore_case: bool) -> Any:
        return col.op("~*" if ignore_case else "~")(sa.literal(pattern, type_=sa.Text))

    def op_text_contains(self, col: Any, value: str) -> Any:
        return sa.func.strpos(col, sa.literal(value, type_=sa.Text)) > 0

    def _path(self, ref: FieldRef) -> Any:
        return sa.literal(list(ref.path), type_=ARRAY(sa.Text))

    def _node(self, ref: FieldRef) -> Any:
        return self.column(ref).op("#>")(self._path(ref))

    def json_present(self, ref: FieldRef) -> Any:
        return sa.func.coalesce(sa.func.jsonb_typeof(self._node(ref)), "null") != "null"

    def json_is_kind(self, ref: FieldRef, kind: str | None) -> Any:
        return sa.func.jsonb_typeof(self._node(ref)) == JSON_KINDS[kind]

    def json_scalar(self, ref: FieldRef, kind: str | None) -> Any:
        if kind == "str":
            return self.json_text(ref).collate("C")
        return self._node(ref)

    def json_operand(self, value: Any, kind: str | None) -> Any:
        if kind == "str":
            return sa.literal(value, type_=sa.Text)
        return sa.cast(sa.literal(json.dumps(value), type_=sa.Text), JSONB)

    def json_text(self, ref: FieldRef) -> Any:
        return self.column(ref).op("#>>")(self._path(ref))

    def json_contains(self, ref: FieldRef, value: Any) -> Any:
        node = self._node(ref) if ref.path else self.column(ref)
        wanted = sa.cast(sa.literal(json.dumps([value]), type_=sa.Text), JSONB)
        return sa.and_(sa.func.jsonb_typeof(node) == "array", node.op("@>")(wanted))
