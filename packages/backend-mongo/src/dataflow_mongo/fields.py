"""Where one comparison looks on MongoDB, and the building blocks every operator is written in.

Four places need four spellings of the same meaning (``dataflow.query.evaluate`` is the oracle):

* :class:`TypedField`: a non-JSON field, one BSON type; decimals become exact ``Decimal128`` bounds.
* :class:`WholeJson`: a JSON field itself (only null tests and ``$contains`` reach it).
* :class:`JsonPath`: a dotted path without digit segments, guarded so that no prefix and not the leaf
  is an array (Mongo would walk arrays implicitly, the reference does not).
* :class:`IndexedPath`: a path with a digit segment (``tags.0``), evaluated with ``$expr``, because Mongo
  also reads ``0`` as a key of documents inside an array.

Each offers ``present absent equal not_equal compare any_of none_of text_match has_element``; an operator
of :class:`~dataflow_mongo.compiler.FilterCompiler` is a line or two over them.
"""

from __future__ import annotations

import decimal
from typing import Any

from bson import Decimal128
from dataflow.model import FieldSpec
from dataflow.query.ast import FieldRef

from .codec import ENCODERS, INT64_BOUNDS, decimal_bound

FALSE: dict = {"_id": {"$in": []}}
NOT_ARRAY = {"$not": {"$type": "array"}}


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


def not_null(name: str) -> dict:
    """``name`` holds a value that is not null (an array, even one holding null, is a value)."""
    return {"$or": [{name: {"$type": "array"}}, {name: {"$exists": True, "$not": {"$type": "null"}}}]}


def target(ref: FieldRef) -> Any:
    """The place ``ref`` names, as one of the four classes below."""
    if ref.is_json_path:
        return IndexedPath(ref) if any(seg.isdigit() for seg in ref.path) else JsonPath(ref)
    return WholeJson(ref) if ref.field.kind == "json" else TypedField(ref)


class TypedField:
    def __init__(self, ref: FieldRef) -> None:
        self.name = mongo_name(ref.field)
        self.decimal = ref.field.kind == "decimal"
        self.encode = ENCODERS.get(ref.field.kind)

    def _enc(self, value: Any) -> Any:
        return value if value is None or self.encode is None else self.encode(value)

    def present(self) -> dict:
        return {self.name: {"$ne": None}}

    def absent(self) -> dict:
        return {self.name: None}

    def equal(self, value: Any) -> dict:
        if self.decimal:
            bound = decimal_bound(value, "eq")
            return FALSE if bound is None else {self.name: bound}  # more digits than any stored decimal
        return {self.name: self._enc(value)}

    def not_equal(self, value: Any) -> dict:
        if self.decimal:
            bound = decimal_bound(value, "ne")
            return {} if bound is None else {self.name: {"$ne": bound}}
        return {self.name: {"$ne": self._enc(value)}}

    def compare(self, op: str, value: Any) -> dict:
        if self.decimal:
            bound = decimal_bound(value, op)
            if op in ("gt", "lt") and bound.to_decimal() != value:
                op = op + "e"  # the rounded bound itself satisfies the strict comparison
            return {self.name: {"$" + op: bound}}
        return {self.name: {"$" + op: self._enc(value)}}

    def _members(self, op: str, values: tuple) -> dict:
        if self.decimal:
            bounds = [None if v is None else decimal_bound(v, op) for v in values]
            return {
                self.name: {"$" + op: [b for v, b in zip(values, bounds, strict=True) if v is None or b is not None]}
            }
        return {self.name: {"$" + op: [self._enc(v) for v in values]}}

    def any_of(self, values: tuple) -> dict:
        return self._members("in", values)

    def none_of(self, values: tuple) -> dict:
        return self._members("nin", values)

    def text_match(self, regex: dict) -> dict:
        return {self.name: regex}

    def has_element(self, value: Any) -> dict:  # pragma: no cover - the parser allows $contains on text only
        raise AssertionError("a typed field holds no array")


class WholeJson:
    """A JSON field itself: the parser lets only null tests (``$eq``/``$in`` with null…) and ``$contains`` here."""

    def __init__(self, ref: FieldRef) -> None:
        self.name = ref.name

    def present(self) -> dict:
        return not_null(self.name)

    def absent(self) -> dict:
        return {"$nor": [self.present()]}

    def any_of(self, values: tuple) -> dict:
        return self.absent() if values else FALSE

    def none_of(self, values: tuple) -> dict:
        return self.present() if values else {}

    def has_element(self, value: Any) -> dict:
        return {self.name: {"$elemMatch": {"$eq": json_scalar(value), **NOT_ARRAY}}}


class JsonPath:
    def __init__(self, ref: FieldRef) -> None:
        self.dotted = ref.dotted
        self.guards = [{".".join((ref.name, *ref.path[:i])): NOT_ARRAY} for i in range(len(ref.path))]

    def _guarded(self, leaf: dict) -> dict:
        return conjunction([*self.guards, leaf])

    def _leaf(self, condition: dict) -> dict:
        return self._guarded({self.dotted: {**condition, **NOT_ARRAY}})

    def present(self) -> dict:
        return self._guarded(not_null(self.dotted))

    def absent(self) -> dict:
        return {"$nor": [self.present()]}

    def equal(self, value: Any) -> dict:
        return self._leaf({"$eq": json_scalar(value)})

    def not_equal(self, value: Any) -> dict:
        return {"$nor": [self.equal(value)]}

    def compare(self, op: str, value: Any) -> dict:
        return self._leaf({"$" + op: json_scalar(value)})

    def any_of(self, values: tuple) -> dict:
        concrete = [json_scalar(v) for v in values if v is not None]
        parts = [self._leaf({"$in": concrete})] if concrete else []
        if any(v is None for v in values):
            parts.append(self.absent())
        return FALSE if not parts else parts[0] if len(parts) == 1 else {"$or": parts}

    def none_of(self, values: tuple) -> dict:
        matched = self.any_of(values)
        return {} if matched == FALSE else {"$nor": [matched]}

    def text_match(self, regex: dict) -> dict:
        return self._leaf(regex)

    def has_element(self, value: Any) -> dict:
        return self._guarded({self.dotted: {"$elemMatch": {"$eq": json_scalar(value), **NOT_ARRAY}}})


class IndexedPath:
    """A JSON path resolved exactly like ``dataflow.query.semantics.lookup``, as an aggregation expression.

    ``$arrayElemAt`` indexes arrays only, ``$$v.key`` reads objects only, anything else is null.
    Comparisons check kinds themselves (aggregation order mixes types).
    """

    def __init__(self, ref: FieldRef) -> None:
        self.ref = ref
        self.x = f"$$v{len(ref.path)}"

    def _expr(self, leaf: Any) -> dict:
        body = leaf
        for i in reversed(range(len(self.ref.path))):
            body = {"$let": {"vars": {f"v{i + 1}": self._step(f"$$v{i}", self.ref.path[i])}, "in": body}}
        return {"$expr": {"$let": {"vars": {"v0": {"$ifNull": ["$" + self.ref.name, None]}}, "in": body}}}

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

    def _present(self) -> dict:
        return {"$not": [{"$in": [{"$type": self.x}, ["missing", "null", "undefined"]]}]}

    def _is(self, value: Any) -> dict:
        return {"$not": [self._present()]} if value is None else {"$eq": [self.x, json_scalar(value)]}

    def _kind(self, value: Any) -> dict:
        if isinstance(value, bool):
            return {"$eq": [{"$type": self.x}, "bool"]}
        if isinstance(value, (int, float, decimal.Decimal, Decimal128)):
            return {"$isNumber": self.x}
        return {"$eq": [{"$type": self.x}, "string"]}

    def present(self) -> dict:
        return self._expr(self._present())

    def absent(self) -> dict:
        return self._expr({"$not": [self._present()]})

    def equal(self, value: Any) -> dict:
        return self._expr(self._is(value))

    def not_equal(self, value: Any) -> dict:
        return self._expr({"$not": [self._is(value)]})

    def compare(self, op: str, value: Any) -> dict:
        return self._expr({"$and": [self._kind(value), {"$" + op: [self.x, json_scalar(value)]}]})

    def _any(self, values: tuple) -> Any:
        hits = [self._is(v) for v in values]
        return {"$or": hits} if hits else False

    def any_of(self, values: tuple) -> dict:
        return self._expr(self._any(values))

    def none_of(self, values: tuple) -> dict:
        return self._expr({"$not": [self._any(values)]})

    def text_match(self, regex: dict) -> dict:
        match = {"$regexMatch": {"input": self.x, "regex": regex["$regex"], "options": regex.get("$options", "")}}
        return self._expr({"$cond": [{"$eq": [{"$type": self.x}, "string"]}, match, False]})

    def has_element(self, value: Any) -> dict:
        return self._expr({"$cond": [{"$isArray": [self.x]}, {"$in": [json_scalar(value), self.x]}, False]})
