"""Filter expressions → SQLAlchemy Core expressions: the SQL family's compile functions.

Every core operator of the table (:mod:`dataflow.query.operators`) compiles here in one method,
``op_<name>(c)``, for a column and for a JSON path alike. A dialect overrides the few hooks whose SQL
differs (``like``, ``ilike``, ``regex_match``, ``text_contains``, the ``json_*`` accessors) and rarely an
``op_*`` method. Semantics follow :mod:`dataflow.query.evaluate` exactly: a negation is two-valued
(``NOT COALESCE(x, FALSE)``), so ``$not``/``$ne``/``$nin`` match nulls.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement

from ..errors import FilterError, UnsupportedOperatorError
from ..query.ast import And, Cmp, Expr, FieldRef, Not, Or
from ..query.operators import CORE_FIELD_OPS, field_operator_names
from ..query.semantics import kind_of

if TYPE_CHECKING:
    from .backend import SQLBackend

FAMILY = "sql"
"""The key a plugin operator's ``compilers`` uses for every SQL backend (a backend's own name wins)."""
_ORDERING = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


class FilterCompiler:
    """Compile one filter for one table. Subclass per dialect; override the hooks."""

    max_bind_params: int | None = None
    """The most parameters the driver passes in one statement (None: no limit, e.g. interpolated)."""
    STATEMENT_RESERVE = 2000
    """Parameters left for the rest of a statement (SET values, LIMIT): a filter may use the others."""

    def __init__(self, backend: SQLBackend, table: sa.Table) -> None:
        self.backend = backend
        self.table = table
        self.encode: Callable[[str, Any], Any] = backend.encode_value
        self.operands = 0

    # --- entry point ------------------------------------------------------------------------

    def compile(self, expr: Expr) -> sa.ColumnElement[bool] | None:
        """The WHERE clause, or None when the filter matches everything."""
        if isinstance(expr, And) and not expr.items:
            return None
        if self.max_bind_params is not None:
            self.refuse_too_many(_fewest_parameters(expr), at_least=True)
        clause = self.visit(expr)
        if self.max_bind_params is not None and self.operands * 64 >= self.max_bind_params - self.STATEMENT_RESERVE:
            # maybe near the limit (a leaf binds at most ~45 parameters per operand: a 20-segment path on
            # PostgreSQL): count them
            self.refuse_too_many(sum(1 for e in sa.sql.visitors.iterate(clause)
                                     if isinstance(e, sa.sql.elements.BindParameter)))
        return clause

    def refuse_too_many(self, count: int, at_least: bool = False) -> None:
        """A filter too big for one statement is a clear FilterError, never a driver or connection error."""
        limit = self.max_bind_params
        if limit is None or count <= limit - self.STATEMENT_RESERVE:
            return
        raise FilterError(
            f"this filter needs {'at least ' if at_least else ''}{count} query parameters; {self.backend.name} "
            f"takes at most {limit} in one statement, {self.STATEMENT_RESERVE} of them kept for the rest of it. "
            f"Split it into several calls ($in on a field that is not JSON takes one parameter however long its "
            f"list)", path="filter")

    def visit(self, expr: Expr) -> sa.ColumnElement[bool]:
        if isinstance(expr, Cmp):
            return self.cmp(expr)
        if isinstance(expr, And):
            return _balanced(sa.and_, [self.visit(e) for e in expr.items]) if expr.items else sa.true()
        if isinstance(expr, Or):
            return _balanced(sa.or_, [self.visit(e) for e in _equalities_as_lists(expr.items)])
        if isinstance(expr, Not):
            return self.negate(self.visit(expr.item))
        from ..query.related import Related  # a filter across a relationship: EXISTS (sql/related.py)

        if isinstance(expr, Related):
            from .related import compile_related

            return compile_related(self, expr)
        raise TypeError(f"not a filter expression: {expr!r}")

    def negate(self, clause: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        return sa.not_(sa.func.coalesce(clause, sa.false()))

    def cmp(self, c: Cmp) -> sa.ColumnElement[bool]:
        self.operands += len(c.value) if isinstance(c.value, tuple) else 1
        compile_one = self.compiler_for(c.op)
        if compile_one is None:
            supported = [n for n in field_operator_names(self.backend.host.operators) if self.supports(n[1:])]
            raise UnsupportedOperatorError("$" + c.op, c.ref.dotted, supported, backend=self.backend.name)
        return compile_one(c)

    def compiler_for(self, name: str) -> Callable[[Cmp], sa.ColumnElement[bool]] | None:
        """A core operator's ``op_<name>`` method, or a plugin operator's compile function for this backend."""
        spec = self.backend.host.operators.get(name)
        if spec is None:
            return None
        if name in CORE_FIELD_OPS:
            return getattr(self, "op_" + name, None)
        fn = spec.compilers.get(self.backend.name) or spec.compilers.get(FAMILY)
        if fn is None:
            return None
        return lambda c: fn(self.json_text(c.ref) if c.ref.is_json_path else self.comparable(c.ref), c.value, c.ref)

    def supports(self, name: str) -> bool:
        return name in ("not", "options") or self.compiler_for(name) is not None

    # --- operands -------------------------------------------------------------------------------

    def column(self, ref: FieldRef) -> sa.ColumnElement[Any]:
        return self.table.c[ref.name]

    def comparable(self, ref: FieldRef) -> sa.ColumnElement[Any]:
        """The column as it should be compared and ordered (a dialect may cast)."""
        return self.column(ref)

    def bind(self, ref: FieldRef, value: Any) -> Any:
        return sa.literal(self.encode(ref.field.kind, value), type_=sa.types.NullType())

    # --- the core operators, one method each ---------------------------------------------------------

    def op_eq(self, c: Cmp) -> sa.ColumnElement[bool]:
        if c.ref.is_json_path:
            return sa.not_(self.json_present(c.ref)) if c.value is None else self.json_typed_cmp(c.ref, "eq", c.value)
        col = self.comparable(c.ref)
        return col.is_(None) if c.value is None else col == self.bind(c.ref, c.value)

    def op_ne(self, c: Cmp) -> sa.ColumnElement[bool]:
        if c.ref.is_json_path:
            if c.value is None:
                return self.json_present(c.ref)
            return self.negate(self.json_typed_cmp(c.ref, "eq", c.value))
        col = self.comparable(c.ref)
        return col.is_not(None) if c.value is None else sa.or_(col.is_(None), col != self.bind(c.ref, c.value))

    def _ordering(self, c: Cmp) -> sa.ColumnElement[bool]:
        if c.ref.is_json_path:
            return self.json_typed_cmp(c.ref, c.op, c.value)
        return _ORDERING[c.op](self.comparable(c.ref), self.bind(c.ref, c.value))

    op_gt = op_gte = op_lt = op_lte = _ordering

    def op_in(self, c: Cmp) -> sa.ColumnElement[bool]:
        if c.ref.is_json_path:
            return self.json_any_of(c.ref, c.value)
        return self.membership(c.ref, self.comparable(c.ref), "in", c.value)

    def op_nin(self, c: Cmp) -> sa.ColumnElement[bool]:
        if c.ref.is_json_path:
            return self.negate(self.json_any_of(c.ref, c.value))
        return self.membership(c.ref, self.comparable(c.ref), "nin", c.value)

    def op_like(self, c: Cmp) -> sa.ColumnElement[bool]:
        return self.text_op(c.ref, lambda text: self.like(text, c.value))

    def op_ilike(self, c: Cmp) -> sa.ColumnElement[bool]:
        return self.text_op(c.ref, lambda text: self.ilike(text, c.value))

    def op_regex(self, c: Cmp) -> sa.ColumnElement[bool]:
        return self.text_op(c.ref, lambda text: self.regex_match(text, c.value, "i" in c.options))

    def op_contains(self, c: Cmp) -> sa.ColumnElement[bool]:
        if not c.ref.is_json_path and c.ref.field.kind == "str":
            return self.text_contains(self.comparable(c.ref), c.value)
        return self.json_contains(c.ref, c.value)

    def op_exists(self, c: Cmp) -> sa.ColumnElement[bool]:
        return self.present(c.ref) if c.value else self.absent(c.ref)

    def op_null(self, c: Cmp) -> sa.ColumnElement[bool]:
        return self.absent(c.ref) if c.value else self.present(c.ref)

    # --- building blocks of the operators ------------------------------------------------------------

    def present(self, ref: FieldRef) -> sa.ColumnElement[bool]:
        return self.json_present(ref) if ref.is_json_path else self.comparable(ref).is_not(None)

    def absent(self, ref: FieldRef) -> sa.ColumnElement[bool]:
        return sa.not_(self.json_present(ref)) if ref.is_json_path else self.comparable(ref).is_(None)

    def text_op(self, ref: FieldRef, match: Callable[[Any], Any]) -> sa.ColumnElement[bool]:
        """A text operator on a column, or on a JSON path (which must then hold a string)."""
        if ref.is_json_path:
            return sa.and_(self.json_is_kind(ref, "str"), match(self.json_text(ref)))
        return match(self.comparable(ref))

    def membership(self, ref: FieldRef, col: Any, op: str, values: tuple) -> sa.ColumnElement[bool]:
        """``$in`` / ``$nin`` on a column: the list's values by :meth:`in_list`, its null by IS NULL."""
        concrete = [v for v in values if v is not None]
        has_null = len(concrete) != len(values)
        clause = self.in_list(ref, col, concrete) if concrete else sa.false()
        if op == "in":
            return sa.or_(clause, col.is_(None)) if has_null else clause
        if has_null:
            return sa.and_(col.is_not(None), sa.not_(clause)) if concrete else col.is_not(None)
        return sa.or_(col.is_(None), sa.not_(clause)) if concrete else sa.true()

    def in_list(self, ref: FieldRef, col: Any, values: list) -> sa.ColumnElement[bool]:
        """``col`` equals one of ``values`` (none of them null). One bound parameter per value, not an
        "expanding" list, so the statement's compiled form is cacheable; a dialect may bind the list whole."""
        return col.in_([self.bind(ref, v) for v in values])

    def json_any_of(self, ref: FieldRef, values: tuple) -> sa.ColumnElement[bool]:
        """``$in`` on a JSON path: per kind of value, the kind test and one list (a null item: absent)."""
        by_kind: dict[str | None, list] = {}
        for value in values:
            by_kind.setdefault(kind_of(value), []).append(value)
        parts = [sa.and_(self.json_is_kind(ref, kind), self.json_in(ref, kind, same_kind))
                 for kind, same_kind in by_kind.items() if kind is not None]
        if None in by_kind:
            parts.append(sa.not_(self.json_present(ref)))
        return _balanced(sa.or_, parts) if parts else sa.false()

    def json_in(self, ref: FieldRef, kind: str | None, values: list) -> sa.ColumnElement[bool]:
        """The JSON scalar at ``ref`` (of ``kind``) equals one of ``values`` (a dialect may bind the list whole)."""
        scalar = self.json_scalar(ref, kind)
        if len(values) == 1:
            return scalar == self.json_operand(values[0], kind)
        return scalar.in_([self.json_operand(v, kind) for v in values])

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

    def like(self, col: Any, pattern: str) -> sa.ColumnElement[bool]:
        return col.like(pattern, escape="\\")

    def ilike(self, col: Any, pattern: str) -> sa.ColumnElement[bool]:
        return sa.func.lower(col).like(pattern.lower(), escape="\\")

    def regex_match(self, col: Any, pattern: str, ignore_case: bool) -> sa.ColumnElement[bool]:
        return col.regexp_match(pattern, flags="i" if ignore_case else None)

    def text_contains(self, col: Any, value: str) -> sa.ColumnElement[bool]:
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


WIDE = 64


class Parenthesized(ColumnElement[bool]):
    """``(clause)``, kept as one operand: SQLAlchemy flattens ``a OR (b OR c)`` and drops its own groupings."""

    inherit_cache = True
    _traverse_internals = [("clause", sa.sql.visitors.InternalTraversal.dp_clauseelement)]

    def __init__(self, clause: Any) -> None:
        self.clause = clause
        self.type = sa.Boolean()


@compiles(Parenthesized)
def _compile_parenthesized(element: Parenthesized, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clause, **kw)})"


def _balanced(combine: Callable[..., Any], clauses: list[Any]) -> Any:
    """``a AND b AND …`` as groups of at most :data:`WIDE`: a database parses a long chain as a tree as deep
    as the chain (SQLite refuses depth 1,000), parenthesized groups keep it shallow."""
    while len(clauses) > WIDE:
        clauses = [Parenthesized(combine(*clauses[i:i + WIDE])) for i in range(0, len(clauses), WIDE)]
    return combine(*clauses)


def _equalities_as_lists(items: tuple[Expr, ...]) -> list[Expr]:
    """``$or`` of many equalities on one field (more than :data:`WIDE`) as one ``$in``: the same rows, one
    list instead of thousands of terms (which SQLite plans in quadratic time)."""
    groups: dict[str, list[Cmp]] = {}
    for item in items:
        if isinstance(item, Cmp) and item.op == "eq" and item.value is not None and not item.ref.is_json_path:
            groups.setdefault(item.ref.name, []).append(item)
    merged = {name: same for name, same in groups.items() if len(same) > WIDE}
    if not merged:
        return list(items)
    taken = {id(c) for same in merged.values() for c in same}
    out: list[Expr] = [i for i in items if id(i) not in taken]
    out += [Cmp(same[0].ref, "in", tuple(c.value for c in same)) for same in merged.values()]
    return out


def _fewest_parameters(expr: Expr) -> int:
    """A lower bound of the parameters any SQL dialect binds for ``expr`` (checked before compiling it)."""
    if isinstance(expr, And):
        return sum(_fewest_parameters(e) for e in expr.items)
    if isinstance(expr, Or):
        return sum(_fewest_parameters(e) for e in _equalities_as_lists(expr.items))
    if isinstance(expr, Not):
        return _fewest_parameters(expr.item)
    if not isinstance(expr, Cmp):  # a relationship filter: counted when compiled
        return 0
    if expr.op not in CORE_FIELD_OPS:
        return 0  # a plugin's compile function may bind nothing
    values = expr.value if isinstance(expr.value, tuple) else (expr.value,)
    concrete = sum(1 for v in values if v is not None)
    if expr.ref.is_json_path:
        return 3 if concrete else 1  # the path, and a kind and a value (a list binds whole per kind)
    if expr.op in ("in", "nin"):
        return min(concrete, 1)
    return 0 if expr.op in ("exists", "null") else concrete
