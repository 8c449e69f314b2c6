"""The reference aggregator: what an aggregate request means, in plain Python over canonical rows.

The conformance kit's oracle (as :mod:`dataflow.query.evaluate` is for filters): a backend's groups must
equal :func:`reference_result` of the rows its filter selects. Meaning, the same on every backend:

* rows group by equal key values; null is a key value of its own (one group for every null), as in SQL
  ``GROUP BY``; equal decimals (``1.10``, ``1.1``) and ``0.0``/``-0.0`` are one group;
* date parts are taken from the UTC datetime (or the date);
* ``count`` counts rows; ``count:field`` and ``count_distinct`` count non-null values (distinct by value);
* ``sum``, ``avg``, ``min``, ``max`` skip nulls and are None when no value is left (SQL); ``sum`` is exact
  for int and decimal fields (never wraps or rounds), for floats the correctly rounded sum (a database may
  differ in the last bits: it adds in its own order);
* without ``group_by`` there is exactly one group, even over no rows.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Iterable
from typing import Any

from .finish import finish
from .spec import AggregateRequest, GroupKey, Measure

UTC = dt.timezone.utc
_EXACT = decimal.Context(prec=100_000, traps=[decimal.Inexact, decimal.InvalidOperation])


def part_of(value: Any, part: str) -> int | None:
    """A date part of a date or datetime value (a datetime in UTC)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value.astimezone(UTC) if value.tzinfo is not None else value
    if part == "quarter":
        return (value.month - 1) // 3 + 1
    return int(getattr(value, part))


def key_of(key: GroupKey, row: dict) -> Any:
    value = row.get(key.field.name)
    return value if key.part is None else part_of(value, key.part)


def measure_of(measure: Measure, rows: list[dict]) -> Any:
    if measure.fn == "count":
        return len(rows)
    assert measure.field is not None
    values = [r[measure.field.name] for r in rows if r.get(measure.field.name) is not None]
    if measure.fn == "count_field":
        return len(values)
    if measure.fn == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if measure.fn == "min":
        return min(values)
    if measure.fn == "max":
        return max(values)
    kind = measure.field.kind
    if kind == "int":
        return sum(values)
    if kind == "float":
        return math.fsum(values)
    total = decimal.Decimal(0)
    for value in values:
        total = _EXACT.add(total, value)
    return total


def reference_rows(request: AggregateRequest, rows: Iterable[dict]) -> list[tuple]:
    """The backend rows (:class:`~.spec.AggregatePlan`'s shape) a correct backend returns for ``rows``."""
    plan = request.plan
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(key_of(k, row) for k in plan.keys), []).append(row)
    if not plan.keys and not groups:
        groups[()] = []
    return [(*key, *(measure_of(m, members) for m in plan.measures)) for key, members in groups.items()]


def reference_result(request: AggregateRequest, rows: Iterable[dict], operators: Any = None) -> dict:
    """The node result a correct backend gives (``having``, order and paging as core applies them)."""
    return finish(request, reference_rows(request, rows), operators)
