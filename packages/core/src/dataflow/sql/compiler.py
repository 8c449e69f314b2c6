"""Filter expressions → SQLAlchemy Core expressions.

The generic translation lives here; a dialect overrides the few methods whose
SQL differs (regex, case-insensitive like, substring, JSON access). Semantics
follow :mod:`dataflow.query.evaluate` exactly: a negation is two-valued
(``NOT COALESCE(x, FALSE)``), so ``$not``/``$ne``/``$nin`` match nulls.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import UnsupportedOperatorError
from ..query.ast import And, Cmp, Expr, FieldRef, Not, Or
from ..query.evaluate import kind_of
from ..query.operators import field_operator_names

if TYPE_CHECKING:
    from .backend import SQLBackend

_ORDERING = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


class FilterCompiler:
    """Compile one filter for one table. Subclass per dialect; override the ``op_*`` hooks."""

    def __init__(self, backend: SQLBackend, table: sa.Table) -> None:
        self.backend = backend
        self.table = table
        self.encode: Callable[[str, Any], Any] = backend.encode_value

    # --- entry point ------------------------------------------------------------------------

    def compile(self, expr: Expr) -> sa.ColumnElement[bool] | None:
        """The WHERE clause, or None when the filter matches everything."""
        if isinstance(expr, And) and not expr.items:
            return None
        return self.visit(expr)

    def visit(self, expr: Expr) -> sa.ColumnElement[bool]:
        if isinstance(expr, Cmp):
            return self.cmp(expr)
        if isinstance(expr, And):
            return sa.and_(*(self.visit(e) for e in expr.items)) if expr.items else sa.true()
        if isinstance(expr, Or):
            return sa.or_(*(self.visit(e) for e in expr.items))
        if isinstance(expr, Not):
            return self.negate(self.visit(expr.item))
        raise TypeError(f"not a filter expression: {expr!r}")

    def negate(self, clause: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        return sa.not_(sa.func.coalesce(clause, sa.false()))

    # --- operands -------------------------------------------------------------------------------

    def column(self, ref: FieldRef) -> sa.ColumnElement[Any]:
        return self.table.c[ref.name]

    def comparable(self, ref: FieldRef) -> sa.ColumnElement[Any]:
        """The column as it should be compared and ordered (a dialect may cast)."""
        return self.column(ref)

    def bind(self, ref: FieldRef, value: Any) -> Any:
        return sa.literal(self.encode(ref.field.kind, value), type_=sa.types.NullType())

    # --- comparisons ----------------------------------------------------------------------------------

    def cmp(self, c: Cmp) -> sa.ColumnElement[bool]:
        if c.ref.is_json_path:
            return self.json_cmp(c)
        col = self.comparable(c.ref)
        op, value = c.op, c.value
        if op == "eq":
            return col.is_(None) if value is None else col == self.bind(c.ref, value)
        if op == "ne":
            return col.is_not(None) if value is None else sa.or_(col.is_(None), col != self.bind(c.ref, value))
        if op in ("gt", "gte", "lt", "lte"):
            return _ORDERING[op](col, self.bind(c.ref, value))
        if op in ("in", "nin"):
            return self.membership(c.ref, col, op, value)
        if op == "like":
            return self.op_like(col, value)
        if op == "ilike":
            return self.op_ilike(col, value)
        if op == "regex":
            return self.op_regex(col, value, "i" in c.options)
        if op == "contains":
            if c.ref.field.kind == "str":
                return self.op_text_contains(col, value)
            return self.json_contains(c.ref, value)
        if op in ("exists", "null"):
            present = col.is_not(None)
            return present if value == (op == "exists") else col.is_(None)
        return self.plugin_op(c, col)

    def membership(self, ref: FieldRef, col: Any, op: str, values: tuple) -> sa.ColumnElement[bool]:
        concrete = [v for v in values if v is not None]
        has_null = len(concrete) != len(values)
        # one bound parameter per value (not an "expanding" list): the statement's compiled form is cacheable
        clause = col.in_([self.bind(ref, v) for v in concrete]) if concrete else sa.false()
        if op == "in":
            return sa.or_(clause, col.is_(None)) if has_null else clause
        if has_null:
            return sa.and_(col.is_not(None), sa.not_(clause)) if concrete else col.is_not(None)
        return sa.or_(col.is_(None), sa.not_(clause)) if concrete else sa.true()

    def plugin_op(self, c: Cmp, col: Any) -> sa.ColumnElement[bool]:
        spec = self.backend.host.operators.get(c.op)
        fn = spec.compilers.get(self.backend.name) if spec else None
        if fn is None:
            raise UnsupportedOperatorError(
                "$" + c.op, c.ref.dotted, field_operator_names(self.backend.host.operators), backend=self.backend.name
            )
        return fn(col, c.value, c.ref)

    # --- JSON paths -----------------------------------------------------------------------------------------

    def json_cmp(self, c: Cmp) -> sa.ColumnElement[bool]:
        op, value = c.op, c.value
        if op in ("exists", "null"):
            present = self.json_present(c.ref)
            return present if value == (op == "exists") else sa.not_(present)
        if op == "eq" and value is None:
            return sa.not_(self.json_present(c.ref))
        if op == "ne":
            if value is None:
                return self.json_present(c.ref)
            return self.negate(self.json_typed_cmp(c.ref, "eq", value))
        if op in ("in", "nin"):
            parts = [sa.not_(self.json_present(c.ref)) if v is None else self.json_typed_cmp(c.ref, "eq", v) for v in value]
            clause = sa.or_(*parts) if parts else sa.false()
            return clause if op == "in" else self.negate(clause)
        if op in ("eq", "gt", "gte", "lt", "lte"):
            return self.json_typed_cmp(c.ref, op, value)
        if op in ("like", "ilike", "regex"):
            text = self.json_text(c.ref)
            clause = {"like": lambda: self.op_like(text, value), "ilike": lambda: self.op_ilike(text, value),
                      "regex": lambda: self.op_regex(text, value, "i" in c.options)}[op]()
            return sa.and_(self.json_is_kind(c.ref, "str"), clause)
        if op == "contains":
            return self.json_contains(c.ref, value)
        return self.plugin_op(c, self.json_text(c.ref))

    def json_typed_cmp(self, ref: FieldRef, op: str, value: Any) -> sa.ColumnElement[bool]:
        kind = kind_of(value)
        scalar = self.json_scalar(ref, kind)
        operand = self.json_operand(value, kind)
        compare = {"eq": scalar == operand, "gt": scalar > operand, "gte": scalar >= operand,
                   "lt": scalar < operand, "lte": scalar <= operand}[op]
        return sa.and_(self.json_is_kind(ref, kind), compare)

    def json_operand(self, value: Any, kind: str | None) -> Any:
        """The bound right-hand side of a JSON scalar comparison."""
        return sa.literal(int(value) if isinstance(value, bool) else value, type_=sa.types.NullType())

    # --- dialect hooks -----------------------------------------------------------------------------------------

    def op_like(self, col: Any, pattern: str) -> sa.ColumnElement[bool]:
        return col.like(pattern, escape="\\")

    def op_ilike(self, col: Any, pattern: str) -> sa.ColumnElement[bool]:
        return sa.func.lower(col).like(pattern.lower(), escape="\\")

    def op_regex(self, col: Any, pattern: str, ignore_case: bool) -> sa.ColumnElement[bool]:
        return col.regexp_match(pattern, flags="i" if ignore_case else None)

    def op_text_contains(self, col: Any, value: str) -> sa.ColumnElement[bool]:
        return col.contains(value, autoescape=True)

    def json_present(self, ref: FieldRef) -> sa.ColumnElement[bool]:
        raise NotImplementedError

    def json_is_kind(self, ref: FieldRef, kind: str | None) -> sa.ColumnElement[bool]:
        raise NotImplementedError

    def json_scalar(self, ref: FieldRef, kind: str | None) -> sa.ColumnElement[Any]:
        raise NotImplementedError

    def json_text(self, ref: FieldRef) -> sa.ColumnElement[Any]:
        raise NotImplementedError

    def json_contains(self, ref: FieldRef, value: Any) -> sa.ColumnElement[bool]:
        raise NotImplementedError
