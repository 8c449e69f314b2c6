"""Parsed filters (``dataflow.query``) → MongoDB query documents with the reference semantics.

Mongo's own query language is close to DataFlow's but not equal. What is done
about each difference (``dataflow.query.evaluate`` is the oracle):

* null is absent: stored nulls are left out of the document, ``{f: null}``
  matches missing, ``$ne``/``$nin`` match missing, as in Mongo.
* Kinds never mix: typed fields hold one BSON type; inside JSON, Mongo's type
  bracketing already keeps ``"3"`` from ``3`` and ``true`` from ``1``.
* Arrays: Mongo compares a scalar with every element of an array and walks
  arrays of documents implicitly (``a.b`` on ``[{b: 1}]``). The reference does
  neither, so JSON comparisons carry guards: the leaf is not an array, no
  prefix of the path is an array. A path with a digit segment (``tags.0``) is
  evaluated with ``$expr`` (``$arrayElemAt``), because Mongo also reads ``0``
  as a key of documents inside the array.
* ``$like``/``$ilike`` become anchored regexes (``\\A…(?![\\s\\S])``, ``_`` is
  ``[\\s\\S]``: it matches a newline), ``$contains`` on text an escaped regex,
  on a JSON array an ``$elemMatch``.
* ``$not`` is ``$nor: [e]``, which (unlike field-level ``$not``) negates any
  expression and matches documents where the field is missing.
"""

from __future__ import annotations

import decimal
from typing import Any

from bson import Decimal128
from dataflow.errors import UnsupportedOperatorError
from dataflow.model import FieldSpec, ModelSpec
from dataflow.query.ast import And, Cmp, Expr, FieldRef, Not, Or
from dataflow.query.operators import OperatorRegistry, field_operator_names

from .codec import ENCODERS, INT64_BOUNDS, decimal_bound

FALSE: dict = {"_id": {"$in": []}}
NOT_ARRAY = {"$not": {"$type": "array"}}
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


def mongo_name(field: FieldSpec) -> str:
    return "_id" if field.primary_key else field.name


def json_scalar(value: Any) -> Any:
    """A JSON filter operand as BSON: ints beyond 64 bits become Decimal128 (exact) so they still compare."""
    if type(value) is int and not INT64_BOUNDS[0] <= value <= INT64_BOUNDS[1]:
        try:
            return Decimal128(decimal.Decimal(value))
        except (decimal.Inexact, decimal.InvalidOperation):
            return float(value)
    return value


def _merge_key(merged: dict, key: str, value: Any) -> Any:
    """The value ``key`` gets when ``value`` joins ``merged`` in one query document, or ``_CONFLICT``."""
    if key not in merged or merged[key] == value:
        return value if key not in merged else merged[key]
    old = merged[key]
    if (not key.startswith("$") and isinstance(old, dict) and isinstance(value, dict) and old and value
            and all(k.startswith("$") for k in (*old, *value)) and not set(old) & set(value)
            and "$options" not in old and "$options" not in value):
        return {**old, **value}
    return _CONFLICT


_CONFLICT = object()


def conjunction(parts: list[dict]) -> dict:
    """One query document for ``parts`` ANDed: fields side by side where they do not collide (what a query
    planner reads best), ``$and`` for the rest."""
    merged: dict = {}
    rest: list[dict] = []
    for part in parts:
        values = {k: _merge_key(merged, k, v) for k, v in part.items()}
        if "$and" in part or any(v is _CONFLICT for v in values.values()):
            rest.append(part)
        else:
            merged.update(values)
    if rest:
        merged["$and"] = rest
    return merged


class FilterCompiler:
    """Compiles one model's filter expressions."""

    def __init__(self, model: ModelSpec, operators: OperatorRegistry | None = None) -> None:
        self.model = model
        self.operators = operators

    def compile(self, expr: Expr) -> dict:
        if isinstance(expr, Cmp):
            return self._cmp(expr)
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

    # --- one comparison --------------------------------------------------------------------------------

    def _cmp(self, c: Cmp) -> dict:
        ref = c.ref
        if c.op not in _CORE_OPS:
            return self._plugin(c)
        if ref.is_json_path:
            if any(seg.isdigit() for seg in ref.path):
                return {"$expr": ExprPath(ref).compile(c)}
            return self._json_path(c)
        if ref.field.kind == "json":
            return self._json_field(c)
        return self._typed(c)

    def _plugin(self, c: Cmp) -> dict:
        spec = self.operators.get(c.op) if self.operators else None
        compiler = spec.compilers.get(BACKEND) if spec else None
        if compiler is None:
            supported = [n for n in field_operator_names(self.operators) if n[1:] in _CORE_OPS or n == "$options"]
            raise UnsupportedOperatorError("$" + c.op, c.ref.dotted, supported, backend=BACKEND)
        return compiler(mongo_name(c.ref.field) if not c.ref.path else c.ref.dotted, c.value, c.ref)

    def _typed(self, c: Cmp) -> dict:
        field = c.ref.field
        name = mongo_name(field)
        kind = field.kind
        op, value = c.op, c.value
        if kind == "decimal" and op in ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"):
            return self._decimal(name, op, value)
        encode = ENCODERS.get(kind)

        def enc(v: Any) -> Any:
            return v if v is None or encode is None else encode(v)

        if op == "eq":
            return {name: enc(value)}
        if op in ("ne", "gt", "gte", "lt", "lte"):
            return {name: {"$" + op: enc(value)}}
        if op in ("in", "nin"):
            return {name: {"$" + op: [enc(v) for v in value]}}
        if op in ("like", "ilike", "regex", "contains"):
            return {name: self._regex(c)}
        if op == "exists" or op == "null":
            present = value if op == "exists" else not value
            return {name: {"$ne": None}} if present else {name: None}
        raise AssertionError(op)  # pragma: no cover

    def _decimal(self, name: str, op: str, value: Any) -> dict:
        if op in ("in", "nin"):
            bounds = [None if v is None else decimal_bound(v, op) for v in value]
            kept = [b for v, b in zip(value, bounds, strict=True) if v is None or b is not None]
            return {name: {"$" + op: kept}}
        if value is None:
            return {name: None} if op == "eq" else {name: {"$ne": None}}
        bound = decimal_bound(value, op)
        if bound is None:  # more digits than any stored decimal: nothing is equal to it
            return FALSE if op == "eq" else {}
        if op in ("gt", "lt") and bound.to_decimal() != value:
            op = op + "e"  # the rounded bound itself satisfies the strict comparison
        return {name: bound} if op == "eq" else {name: {"$" + op: bound}}

    @staticmethod
    def _regex(c: Cmp) -> dict:
        if c.op == "regex":
            out: dict = {"$regex": c.value.replace("\x00", "\\x00")}
            if c.options:
                out["$options"] = c.options
            return out
        if c.op == "contains":
            return {"$regex": regex_escape(c.value)}
        if c.op == "like":
            return {"$regex": like_to_regex(c.value)}
        return {"$regex": like_to_regex(c.value.lower()), "$options": "i"}

    # --- JSON ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _present(name: str) -> dict:
        """``name`` holds a value that is not null (an array, even one holding null, is a value)."""
        return {"$or": [{name: {"$type": "array"}}, {name: {"$exists": True, "$not": {"$type": "null"}}}]}

    def _json_field(self, c: Cmp) -> dict:
        name = c.ref.name
        op, value = c.op, c.value
        if op == "contains":
            return {name: {"$elemMatch": {"$eq": json_scalar(value), **NOT_ARRAY}}}
        present = self._present(name)
        if op in ("in", "nin"):  # the parser allows only nulls in the list here
            if not value:
                return FALSE if op == "in" else {}
            wants = op == "nin"
        elif op in ("eq", "ne"):  # ... and only null as the operand
            wants = op == "ne"
        elif op == "exists":
            wants = bool(value)
        elif op == "null":
            wants = not value
        else:  # pragma: no cover - the parser refuses the rest on a JSON field
            raise AssertionError(op)
        return present if wants else {"$nor": [present]}

    def _json_path(self, c: Cmp) -> dict:
        ref = c.ref
        dotted = ref.dotted
        prefixes = [".".join((ref.name, *ref.path[:i])) for i in range(len(ref.path))]
        guards = [{p: NOT_ARRAY} for p in prefixes]
        op, value = c.op, c.value

        def guarded(leaf: dict) -> dict:
            return conjunction([*guards, leaf])

        present = guarded(self._present(dotted))
        absent = {"$nor": [present]}
        if op == "eq":
            return absent if value is None else guarded({dotted: {"$eq": json_scalar(value), **NOT_ARRAY}})
        if op == "ne":
            return present if value is None else {"$nor": [guarded({dotted: {"$eq": json_scalar(value), **NOT_ARRAY}})]}
        if op in ("gt", "gte", "lt", "lte"):
            return guarded({dotted: {"$" + op: json_scalar(value), **NOT_ARRAY}})
        if op in ("in", "nin"):
            values = [json_scalar(v) for v in value if v is not None]
            parts = []
            if values:
                parts.append(guarded({dotted: {"$in": values, **NOT_ARRAY}}))
            if any(v is None for v in value):
                parts.append(absent)
            matched = FALSE if not parts else parts[0] if len(parts) == 1 else {"$or": parts}
            if op == "in":
                return matched
            return {} if matched == FALSE else {"$nor": [matched]}
        if op in ("like", "ilike", "regex"):
            return guarded({dotted: {**self._regex(c), **NOT_ARRAY}})
        if op == "contains":
            return guarded({dotted: {"$elemMatch": {"$eq": json_scalar(value), **NOT_ARRAY}}})
        if op == "exists":
            return present if value else absent
        if op == "null":
            return absent if value else present
        raise AssertionError(op)  # pragma: no cover


_CORE_OPS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "like", "ilike", "regex", "contains",
                       "exists", "null"})


class ExprPath:
    """A JSON path resolved exactly like ``dataflow.query.evaluate.lookup``, as an aggregation expression.

    Used for paths with a digit segment: ``$arrayElemAt`` indexes arrays only, ``$$v.key`` reads objects
    only, anything else is null. Comparisons check kinds themselves (aggregation order mixes types).
    """

    def __init__(self, ref: FieldRef) -> None:
        self.ref = ref

    def compile(self, c: Cmp) -> dict:
        body = self._leaf(c, f"$$v{len(self.ref.path)}")
        for i in reversed(range(len(self.ref.path))):
            body = {"$let": {"vars": {f"v{i + 1}": self._step(f"$$v{i}", self.ref.path[i])}, "in": body}}
        return {"$let": {"vars": {"v0": {"$ifNull": ["$" + self.ref.name, None]}}, "in": body}}

    @staticmethod
    def _step(var: str, seg: str) -> Any:
        """One segment; every miss is an explicit null (no "missing" value reaches a comparison)."""
        if seg.isdigit():
            index = int(seg)
            if index >= 2**31 - 1:
                return None
            inside = {"$cond": [{"$gt": [{"$size": var}, index]}, {"$arrayElemAt": [var, index]}, None]}
            return {"$cond": [{"$isArray": [var]}, inside, None]}
        return {"$cond": [{"$eq": [{"$type": var}, "object"]}, {"$ifNull": [f"{var}.{seg}", None]}, None]}

    @staticmethod
    def _present(x: str) -> dict:
        return {"$not": [{"$in": [{"$type": x}, ["missing", "null", "undefined"]]}]}

    @staticmethod
    def _kind(x: str, value: Any) -> dict:
        if isinstance(value, bool):
            return {"$eq": [{"$type": x}, "bool"]}
        if isinstance(value, (int, float, decimal.Decimal, Decimal128)):
            return {"$isNumber": x}
        return {"$eq": [{"$type": x}, "string"]}

    def _leaf(self, c: Cmp, x: str) -> dict:
        op, value = c.op, c.value
        present = self._present(x)
        absent = {"$not": [present]}
        if op in ("eq", "ne"):
            hit = absent if value is None else {"$eq": [x, json_scalar(value)]}
            return hit if op == "eq" else {"$not": [hit]}
        if op in ("gt", "gte", "lt", "lte"):
            return {"$and": [self._kind(x, value), {"$" + op: [x, json_scalar(value)]}]}
        if op in ("in", "nin"):
            hits = [absent if v is None else {"$eq": [x, json_scalar(v)]} for v in value]
            hit = {"$or": hits} if hits else False
            return hit if op == "in" else {"$not": [hit]}
        if op in ("like", "ilike", "regex"):
            spec = FilterCompiler._regex(c)
            match = {"$regexMatch": {"input": x, "regex": spec["$regex"], "options": spec.get("$options", "")}}
            return {"$cond": [{"$eq": [{"$type": x}, "string"]}, match, False]}
        if op == "contains":
            return {"$cond": [{"$isArray": [x]}, {"$in": [json_scalar(value), x]}, False]}
        if op == "exists":
            return present if value else absent
        if op == "null":
            return absent if value else present
        raise AssertionError(op)  # pragma: no cover
