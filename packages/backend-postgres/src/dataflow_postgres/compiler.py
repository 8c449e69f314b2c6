"""PostgreSQL specifics of filter compilation: regex operators, ILIKE, JSONB paths."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from dataflow.query.ast import FieldRef
from dataflow.sql.compiler import FilterCompiler
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

JSON_KINDS = {"str": "string", "number": "number", "bool": "boolean"}


def python_regex(pattern: str) -> str:
    """Python's ``.`` does not match a newline; PostgreSQL's does. Rewrite bare dots as ``[^\n]``."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = ch != "]" or (out and out[-1] in ("[", "[^"))
            out.append(ch)
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                out.append("[^")
                i += 2
                continue
            out.append(ch)
        elif ch == ".":
            out.append("[^\n]")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


class PostgresFilterCompiler(FilterCompiler):
    max_bind_params = 32767  # the wire protocol counts parameters in 16 bits

    def in_list(self, ref: FieldRef, col: Any, values: list) -> Any:
        """``col = ANY($1)``: the whole list is one array parameter (whose type PostgreSQL infers from the
        column), so 100,000 values pass and the statement's text does not depend on the list's length."""
        encoded = [self.encode(ref.field.kind, v) for v in values]
        return col == sa.any_(sa.literal(encoded, type_=sa.types.NullType()))

    def json_in(self, ref: FieldRef, kind: str | None, values: list) -> Any:
        """One array parameter too: text for strings, JSON texts cast to ``jsonb[]`` otherwise."""
        if len(values) == 1:
            return super().json_in(ref, kind, values)
        scalar = self.json_scalar(ref, kind)
        if kind == "str":
            return scalar == sa.any_(sa.literal(values, type_=sa.types.NullType()))
        texts = sa.literal([json.dumps(v) for v in values], type_=ARRAY(sa.Text))
        return scalar == sa.any_(sa.cast(texts, ARRAY(JSONB)))

    def _unicode(self, expr: Any) -> Any:
        """Case-insensitive matching needs Unicode case rules: PostgreSQL 17+'s builtin pg_c_utf8."""
        collation = self.backend.unicode_collation
        return expr.collate(collation) if collation else expr

    def ilike(self, col: Any, pattern: str) -> Any:
        lowered = sa.func.lower(self._unicode(sa.literal(pattern, type_=sa.Text)))
        return sa.func.lower(self._unicode(col)).like(lowered, escape="\\")

    def regex_match(self, col: Any, pattern: str, ignore_case: bool) -> Any:
        operand = sa.literal(python_regex(pattern), type_=sa.Text)
        if ignore_case:
            return self._unicode(col).op("~*")(operand)
        return col.op("~")(operand)

    def text_contains(self, col: Any, value: str) -> Any:
        return sa.func.strpos(col, sa.literal(value, type_=sa.Text)) > 0

    def _node(self, ref: FieldRef, text: bool = False) -> Any:
        """Walk the path with ``->``: a digit segment is an integer, which indexes arrays only (as the evaluator)."""
        node = self.column(ref)
        last = len(ref.path) - 1
        for i, seg in enumerate(ref.path):
            key = sa.literal(int(seg), type_=sa.Integer) if seg.isdigit() else sa.literal(seg, type_=sa.Text)
            node = node.op("->>" if text and i == last else "->", return_type=sa.Text if text and i == last else JSONB)(
                key
            )
        return node

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
        return self._node(ref, text=True)

    def json_contains(self, ref: FieldRef, value: Any) -> Any:
        node = self._node(ref) if ref.path else self.column(ref)
        wanted = sa.cast(sa.literal(json.dumps([value]), type_=sa.Text), JSONB)
        return sa.and_(sa.func.jsonb_typeof(node) == "array", node.op("@>")(wanted))
