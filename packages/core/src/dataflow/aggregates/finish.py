"""From a backend's grouped rows to the result: canonical values, ``avg``, ``having``, order and paging.

Done here, once, in Python, so the result is the same on every backend:

* a ``Decimal`` comes back canonical: its exact value, trailing zeros after the point removed, no exponent
  for whole numbers (``Decimal("2.20")`` and a backend's ``2.200000…`` are both ``Decimal("2.2")``);
* ``avg`` of an int or decimal field is a ``Decimal``: the exact sum divided by the count of non-null values,
  rounded half-even to :data:`AVG_DIGITS` significant digits; of a float field, ``sum / count`` as a float;
* ``having`` is evaluated by the filter language's reference evaluator over the output names, ``order_by`` by
  its reference sort (nulls first ascending; every group key breaks ties, so the order is total), then
  ``offset``/``limit`` slice the groups. These cost time in proportion to the number of groups, not rows.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from typing import Any

from ..query.evaluate import evaluate, sort_rows
from .spec import AggregateRequest, Output

AVG_DIGITS = 34
_EXACT = decimal.Context(prec=100_000, traps=[decimal.InvalidOperation])
_AVG = decimal.Context(prec=AVG_DIGITS, rounding=decimal.ROUND_HALF_EVEN)
_ONE = decimal.Decimal(1)


def canonical_decimal(value: Any) -> decimal.Decimal:
    """``value`` as a Decimal with the same numeric value and one spelling: no trailing zeros after the
    point, whole numbers without exponent, zero as ``0``."""
    number = value if isinstance(value, decimal.Decimal) else decimal.Decimal(str(value))
    if number.is_zero():
        return decimal.Decimal(0)
    number = number.normalize(_EXACT)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent > 0:
        number = number.quantize(_ONE, context=_EXACT)
    return number


def average(total: Any, count: int, kind: str) -> Any:
    """The ``avg`` of ``count`` non-null values summing to ``total``: None over none."""
    if not count or total is None:
        return None
    if kind == "float":
        return float(total) / count
    return canonical_decimal(_AVG.divide(decimal.Decimal(total), decimal.Decimal(count)))


def _value(kind: str, value: Any) -> Any:
    """A key, sum, min or max in its canonical Python form."""
    if value is None:
        return None
    if kind == "decimal":
        return canonical_decimal(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value) + 0.0  # -0.0 and 0.0 are one group, one minimum: spelled 0.0
    if kind == "bool":
        return bool(value)
    return value


def _column(out: Output, row: Sequence[Any]) -> Any:
    if out.fn in ("count", "count_distinct"):
        return int(row[out.slots[0]] or 0)
    assert out.field is not None
    if out.fn == "avg":
        return average(row[out.slots[0]], int(row[out.slots[1]] or 0), out.field.kind)
    value = row[out.slots[0]]
    if out.fn == "key" and out.part is not None:
        return None if value is None else int(value)
    return _value(out.field.kind, value)


def empty_row(request: AggregateRequest) -> tuple:
    """The one row of an ungrouped aggregate over no rows: counts 0, everything else None."""
    return tuple(0 if m.fn.startswith("count") else None for m in request.plan.measures)


def finish(request: AggregateRequest, rows: list[Sequence[Any]], operators: Any = None) -> dict:
    """The node result ``{"groups", "count", "limit", "offset", "has_more"}`` from a backend's rows."""
    if not request.plan.keys and not rows:
        rows = [empty_row(request)]
    groups = [{out.alias: _column(out, row) for out in request.outputs} for row in rows]
    if request.having is not None:
        groups = [g for g in groups if evaluate(request.having, g, operators)]
    groups = sort_rows(groups, request.order)
    end = None if request.limit is None else request.offset + request.limit
    page = groups[request.offset:end]
    has_more = end is not None and len(groups) > end
    return {"groups": page, "count": len(page), "limit": request.limit, "offset": request.offset,
            "has_more": has_more}
