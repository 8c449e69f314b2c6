"""Parsed filters (``dataflow.query``) → MongoDB query documents with the reference semantics.

The Mongo family's compile functions: every core operator of the table (``dataflow.query.operators``)
compiles in one method ``op_<name>`` written over the building blocks of :mod:`.fields`, which deal with
where the comparison looks. Mongo's own query language is close to DataFlow's but not equal
(``dataflow.query.evaluate`` is the oracle):

* null is absent: stored nulls are left out of the document, ``{f: null}``
  matches missing, ``$ne``/``$nin`` match missing, as in Mongo.
* Kinds never mix: typed fields hold one BSON type; inside JSON, Mongo's type
  bracketing already keeps ``"3"`` from ``3`` and ``true`` from ``1``.
* Arrays: Mongo compares a scalar with every element of an array and walks
  arrays of documents implicitly (``a.b`` on ``[{b: 1}]``). The reference does
  neither, so JSON comparisons carry guards (:mod:`.fields`).
* ``$like``/``$ilike`` become anchored regexes (``\\A…(?![\\s\\S])``, ``_`` is
  ``[\\s\\S]``: it matches a newline), ``$contains`` on text an escaped regex,
  on a JSON array an ``$elemMatch``.
* ``$not`` is ``$nor: [e]``, which (unlike field-level ``$not``) negates any
  expression and matches documents where the field is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dataflow.errors import UnsupportedOperatorError
from dataflow.model import ModelSpec
from dataflow.query.ast import And, Cmp, Expr, Not, Or
from dataflow.query.operators import CORE_FIELD_OPS, CORE_REGISTRY, OperatorRegistry, field_operator_names

from .fields import FALSE, conjunction, mongo_name, target

__all__ = ["FilterCompiler", "like_to_regex", "mongo_name", "regex_escape"]

_REGEX_META = set("\\^$.|?*+()[]{}/")
BACKEND = "mongo"


def regex_escape(text: str) -> str:
    """Escape ``text`` for both PCRE (MongoDB) and Python ``re`` (SecantusDB)."""
    out = []
    for ch in text:
        if ch in _REGEX_META:
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\x00")
        else:
            out.append(ch)
    return "".join(out)


def like_to_regex(pattern: str) -> str:
    """A ``$like`` pattern as an anchored regex: ``%`` any run, ``_`` any one character, ``\\`` escapes."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(regex_escape(pattern[i + 1]))
            i += 2
            continue
        out.append("[\\s\\S]*" if ch == "%" else "[\\s\\S]" if ch == "_" else regex_escape(ch))
        i += 1
    return "\\A(?:" + "".join(out) + ")(?![\\s\\S])"


class FilterCompiler:
    """Compiles one model's filter expressions."""

    def __init__(self, model: ModelSpec, operators: OperatorRegistry | None = None) -> None:
        self.model = model
        self.operators = operators or CORE_REGISTRY

    def compile(self, expr: Expr) -> dict:
        if isinstance(expr, Cmp):
            return self.cmp(expr)
        if isinstance(expr, And):
            parts = [p for p in (self.compile(e) for e in expr.items) if p]
            if not parts:
                return {}
            if FALSE in parts:
                return FALSE
            return parts[0] if len(parts) == 1 else conjunction(parts)
        if isinstance(expr, Or):
            parts = [self.compile(e) for e in expr.items]
            if not parts:
                return FALSE
            if any(not p for p in parts):
                return {}
            parts = [p for p in parts if p != FALSE]
            if not parts:
                return FALSE
            return parts[0] if len(parts) == 1 else {"$or": parts}
        if isinstance(expr, Not):
            inner = self.compile(expr.item)
            if not inner:
                return FALSE
            if inner == FALSE:
                return {}
            return {"$nor": [inner]}
        raise TypeError(f"not a filter expression: {expr!r}")

    def cmp(self, c: Cmp) -> dict:
        compile_one = self.compiler_for(c.op)
        if compile_one is None:
            supported = [n for n in field_operator_names(self.operators) if self.supports(n[1:])]
            raise UnsupportedOperatorError("$" + c.op, c.ref.dotted, supported, backend=BACKEND)
        return compile_one(c)

    def compiler_for(self, name: str) -> Callable[[Cmp], dict] | None:
        """A core operator's ``op_<name>`` method, or a plugin operator's compile function for MongoDB."""
        spec = self.operators.get(name)
        if spec is None:
            return None
        if name in CORE_FIELD_OPS:
            return getattr(self, "op_" + name, None)
        fn = spec.compilers.get(BACKEND)
        if fn is None:
            return None
        return lambda c: fn(mongo_name(c.ref.field) if not c.ref.path else c.ref.dotted, c.value, c.ref)

    def supports(self, name: str) -> bool:
        return name in ("not", "options") or self.compiler_for(name) is not None

    # --- the core operators, one method each -------------------------------------------------------------

    def op_eq(self, c: Cmp) -> dict:
        where = target(c.ref)
        return where.absent() if c.value is None else where.equal(c.value)

    def op_ne(self, c: Cmp) -> dict:
        where = target(c.ref)
        return where.present() if c.value is None else where.not_equal(c.value)

    def _ordering(self, c: Cmp) -> dict:
        return target(c.ref).compare(c.op, c.value)

    op_gt = op_gte = op_lt = op_lte = _ordering

    def op_in(self, c: Cmp) -> dict:
        return target(c.ref).any_of(c.value)

    def op_nin(self, c: Cmp) -> dict:
        return target(c.ref).none_of(c.value)

    def op_like(self, c: Cmp) -> dict:
        return target(c.ref).text_match({"$regex": like_to_regex(c.value)})

    def op_ilike(self, c: Cmp) -> dict:
        return target(c.ref).text_match({"$regex": like_to_regex(c.value.lower()), "$options": "i"})

    def op_regex(self, c: Cmp) -> dict:
        regex: dict[str, Any] = {"$regex": c.value.replace("\x00", "\\x00")}
        if c.options:
            regex["$options"] = c.options
        return target(c.ref).text_match(regex)

    def op_contains(self, c: Cmp) -> dict:
        if not c.ref.is_json_path and c.ref.field.kind == "str":
            return target(c.ref).text_match({"$regex": regex_escape(c.value)})
        return target(c.ref).has_element(c.value)

    def op_exists(self, c: Cmp) -> dict:
        return target(c.ref).present() if c.value else target(c.ref).absent()

    def op_null(self, c: Cmp) -> dict:
        return target(c.ref).absent() if c.value else target(c.ref).present()
