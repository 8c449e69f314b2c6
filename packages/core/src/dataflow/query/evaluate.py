"""The reference evaluator: what a filter means, in plain Python.

This is the oracle of the conformance suite: every backend must return exactly
the rows this function accepts, in the order :func:`sort_rows` gives.

Semantics (the same on every backend):

* ``null`` is absent. Comparisons (``$eq`` with a value, ``$gt``, ``$like``…)
  never match a null; ``$ne``, ``$nin`` and ``$not`` do match nulls.
* Values of different kinds never compare: ``"3"`` is not ``3`` and ``true``
  is not ``1`` (this matters inside JSON, where kinds are mixed).
* ``$like`` uses ``%`` and ``_`` (escape with ``\\``), matches the whole
  value and is case-sensitive; ``$ilike`` is its case-insensitive twin.
* ``$regex`` searches (unanchored) with Python ``re`` syntax; ``$options:
  "i"`` ignores case.
* ``$contains``: a substring of text, or an element of a JSON array.
* Dotted paths: a segment of digits indexes an array (``tags.0``); other
  segments are object keys.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from .ast import And, Cmp, Expr, FieldRef, Not, Or
from .operators import OperatorRegistry


def kind_of(value: Any) -> str | None:
    """The comparison class of a value, or None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, decimal.Decimal)):
        return "number"
    return type(value).__name__


def lookup(row: dict, ref: FieldRef) -> Any:
    value = row.get(ref.name)
    for seg in ref.path:
        if isinstance(value, dict) and not seg.isdigit():
            value = value.get(seg)
        elif isinstance(value, list) and seg.isdigit() and int(seg) < len(value):
            value = value[int(seg)]
        else:
            return None
    return value


@lru_cache(maxsize=512)
def like_regex(pattern: str, ignore_case: bool) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.S | (re.I if ignore_case else 0))


def _same(a: Any, b: Any) -> bool:
    return a is not None and b is not None and kind_of(a) == kind_of(b) and a == b


#: Equality as the filter language means it (both non-null, of one kind, equal); public for backends.
same_value = _same


def _order(a: Any, b: Any, op: str) -> bool:
    if a is None or b is None or kind_of(a) != kind_of(b):
        return False
    if isinstance(a, (dict, list)):
        return False
    if op == "gt":
        return a > b
    if op == "gte":
        return a >= b
    if op == "lt":
        return a < b
    return a <= b


def _cmp(c: Cmp, row: dict, operators: OperatorRegistry | None) -> bool:
    actual = lookup(row, c.ref)
    op, value = c.op, c.value
    if op == "eq":
        return actual is None if value is None else _same(actual, value)
    if op == "ne":
        return actual is not None if value is None else not _same(actual, value)
    if op in ("gt", "gte", "lt", "lte"):
        return _order(actual, value, op)
    if op == "in":
        return any(actual is None if v is None else _same(actual, v) for v in value)
    if op == "nin":
        return not any(actual is None if v is None else _same(actual, v) for v in value)
    if op in ("like", "ilike"):
        if not isinstance(actual, str):
            return False
        if op == "ilike":
            return like_regex(value.lower(), True).fullmatch(actual.lower()) is not None
        return like_regex(value, False).fullmatch(actual) is not None
    if op == "regex":
        flags = re.I if "i" in c.options else 0
        return isinstance(actual, str) and re.search(value, actual, flags) is not None
    if op == "contains":
        if isinstance(actual, str) and not c.ref.is_json_path and c.ref.field.kind == "str":
            return value in actual
        if isinstance(actual, list):
            return any(_same(item, value) for item in actual)
        return False
    if op == "exists":
        return (actual is not None) == value
    if op == "null":
        return (actual is None) == value
    spec = operators.get(op) if operators else None
    if spec is None:
        raise ValueError(f"no reference semantics for operator ${op}")
    return spec.evaluate(actual, value)


def evaluate(expr: Expr, row: dict, operators: OperatorRegistry | None = None) -> bool:
    """Whether ``row`` (canonical Python values) matches ``expr``."""
    if isinstance(expr, Cmp):
        return _cmp(expr, row, operators)
    if isinstance(expr, And):
        return all(evaluate(e, row, operators) for e in expr.items)
    if isinstance(expr, Or):
        return any(evaluate(e, row, operators) for e in expr.items)
    if isinstance(expr, Not):
        return not evaluate(expr.item, row, operators)
    raise TypeError(f"not a filter expression: {expr!r}")


def sort_rows(rows: Iterable[dict], order: list) -> list[dict]:
    """Sort like every backend: nulls first ascending, last descending; stable."""
    result = list(rows)
    for item in reversed(order):
        present = [r for r in result if r.get(item.field) is not None]
        absent = [r for r in result if r.get(item.field) is None]
        present.sort(key=lambda r: r[item.field], reverse=item.descending)
        result = present + absent if item.descending else absent + present
    return result
