"""The reference evaluator: what a filter means, in plain Python.

This is the oracle of the conformance suite: every backend must return exactly
the rows this function accepts, in the order :func:`sort_rows` gives. Each
operator's meaning is its ``evaluate`` entry in the operator table
(:mod:`.operators`), built from :mod:`.semantics`.

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

from collections.abc import Iterable

from .ast import And, Cmp, Expr, Not, Or
from .operators import CORE_REGISTRY, OperatorRegistry
from .semantics import kind_of, like_regex, lookup, same

__all__ = ["evaluate", "sort_rows", "kind_of", "like_regex", "lookup", "same"]


def _cmp(c: Cmp, row: dict, operators: OperatorRegistry) -> bool:
    op = operators.get(c.op)
    if op is None:
        raise ValueError(f"no reference semantics for operator ${c.op}")
    return op.evaluate(lookup(row, c.ref), c)


def evaluate(expr: Expr, row: dict, operators: OperatorRegistry | None = None) -> bool:
    """Whether ``row`` (canonical Python values) matches ``expr``."""
    table = operators or CORE_REGISTRY
    if isinstance(expr, Cmp):
        return _cmp(expr, row, table)
    if isinstance(expr, And):
        return all(evaluate(e, row, table) for e in expr.items)
    if isinstance(expr, Or):
        return any(evaluate(e, row, table) for e in expr.items)
    if isinstance(expr, Not):
        return not evaluate(expr.item, row, table)
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
