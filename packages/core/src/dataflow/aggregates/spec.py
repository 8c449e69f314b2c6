"""An aggregate request, validated: what to group by, what to compute, and what backends are asked for.

Users write (node parameters, or ``db.express.aggregate`` keywords)::

    group_by   = ["status", "created_at:month", {"field": "created_at", "part": "year", "as": "yr"}]
    aggregates = {"n": "count", "total": "sum:amount", "avg_amount": {"avg": "amount"},
                  "buyers": {"fn": "count_distinct", "field": "user_id"}}
    filter     = {...}   # before grouping: the filter language, on the model's fields
    having     = {...}   # after grouping: the same language, on the output names above
    order_by   = ["-total"], limit = 10, offset = 0

Functions: ``count`` (rows; ``count:field`` counts non-null values), ``count_distinct``, ``sum``, ``avg``,
``min``, ``max``. Date parts (``year quarter month day`` of date and datetime fields, ``hour minute`` of
datetime fields) are taken in UTC, as DataFlow stores every datetime.

Backends receive an :class:`AggregatePlan`: group keys and *primitive* measures only (``count``,
``count_field``, ``count_distinct``, ``sum``, ``min``, ``max``); ``avg`` is ``sum / count_field``, divided
by core (:mod:`.finish`), so it is the same number on every backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import fieldtypes as ft
from ..errors import AggregateError
from ..model import FieldSpec, ModelSpec
from ..query.ast import Expr
from ..query.order import OrderItem, parse_order
from ..query.parse import parse_filter

FUNCTIONS = ("count", "count_distinct", "sum", "avg", "min", "max")
#: functions backends implement; ``avg`` is built from ``sum`` and ``count_field``
PRIMITIVES = ("count", "count_field", "count_distinct", "sum", "min", "max")
NUMERIC = ("int", "float", "decimal")
ORDERED = ("str", "int", "float", "decimal", "date", "datetime")
GROUPABLE = ("str", "int", "float", "bool", "decimal", "date", "datetime")
DATE_PARTS = ("year", "quarter", "month", "day")
DATETIME_PARTS = (*DATE_PARTS, "hour", "minute")
KINDS = {"sum": NUMERIC, "avg": NUMERIC, "min": ORDERED, "max": ORDERED, "count_distinct": GROUPABLE}
ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_KEYS = 16
MAX_MEASURES = 64


@dataclass(frozen=True)
class GroupKey:
    """One grouping column: a field, or a date part of it (``part``, an int from 1 or the year)."""

    alias: str
    field: FieldSpec
    part: str | None = None


@dataclass(frozen=True)
class Measure:
    """One primitive aggregate a backend computes: ``fn`` of ``field`` (None for ``count`` of rows)."""

    fn: str
    field: FieldSpec | None = None


@dataclass(frozen=True)
class AggregatePlan:
    """What a backend computes: one row per distinct tuple of key values (nulls form their own group, as in
    SQL ``GROUP BY``), holding the key values then the measures, in order. With no keys, exactly one row
    (over zero rows too: counts 0, the others None).

    Values a backend returns: keys as the field's canonical Python value (date parts as int); ``count*`` as
    int; ``sum`` exact (int or Decimal of an int field, Decimal of a decimal field, float of a float field) and
    None when no value was non-null; ``min``/``max`` as the field's value, None when all are null.
    """

    keys: tuple[GroupKey, ...]
    measures: tuple[Measure, ...]


@dataclass(frozen=True)
class Output:
    """A column of the result: a group key, or a user's aggregate reading ``slots`` of the backend row."""

    alias: str
    fn: str
    field: FieldSpec | None
    slots: tuple[int, ...]
    part: str | None = None


@dataclass(frozen=True)
class AggregateRequest:
    plan: AggregatePlan
    outputs: tuple[Output, ...]
    groups: ModelSpec
    """The result's columns as a model: what ``having`` and ``order_by`` are parsed against."""
    having: Expr | None
    order: list[OrderItem]
    limit: int | None
    offset: int


def _fail(message: str, path: str) -> AggregateError:
    return AggregateError(f"{message} (at {path})", path=path)  # the path is also in an HTTP error's body


def _field(model: ModelSpec, name: Any, path: str, allowed: tuple[str, ...] | None, what: str) -> FieldSpec:
    field = model.fields.get(name) if isinstance(name, str) else None
    if field is None:
        raise _fail(f"unknown field {name!r} for {what}; fields: {', '.join(model.fields)}", path)
    if allowed is not None and field.kind not in allowed:
        raise _fail(f"{what} cannot use field {name!r} of type {field.kind}; valid types: {', '.join(allowed)}", path)
    return field


def _alias(name: Any, path: str, taken: set[str]) -> str:
    if not isinstance(name, str) or not ALIAS.match(name):
        raise _fail(f"output name {name!r} must be an identifier (letters, digits, _; at most 63)", path)
    if name in taken:
        raise _fail(f"output name {name!r} is used twice; name each group key and aggregate differently", path)
    taken.add(name)
    return name


def parse_group_by(model: ModelSpec, raw: Any, taken: set[str]) -> list[GroupKey]:
    """``"f"``, ``"f:part"``, ``{"field": f, "part": p, "as": alias}``, or a list of them."""
    if raw is None or raw == [] or raw == "":
        return []
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    if len(items) > MAX_KEYS:
        raise _fail(f"at most {MAX_KEYS} group keys, got {len(items)}", "group_by")
    keys = []
    for i, item in enumerate(items):
        path = f"group_by[{i}]"
        alias = None
        if isinstance(item, str):
            name, _, part = item.partition(":")
            part = part or None
        elif isinstance(item, dict):
            extra = set(item) - {"field", "part", "as"}
            if extra or "field" not in item:
                raise _fail(f"a group key dict has 'field' and optionally 'part' and 'as', got {sorted(item)}", path)
            name, part, alias = item["field"], item.get("part"), item.get("as")
        else:
            raise _fail(f"a group key is 'field', 'field:part' or a dict, got {type(item).__name__}", path)
        field = _field(model, name, path, GROUPABLE, "group_by")
        if part is not None:
            parts = DATETIME_PARTS if field.kind == "datetime" else DATE_PARTS if field.kind == "date" else ()
            if part not in parts:
                valid = ", ".join(parts) if parts else "none (date parts need a date or datetime field)"
                raise _fail(f"unknown date part {part!r} of {field.kind} field {name!r}; valid: {valid}", path)
        default = name if part is None else f"{name}_{part}"
        keys.append(GroupKey(_alias(default if alias is None else alias, path, taken), field, part))
    return keys


def _measure_parts(raw: Any, path: str) -> tuple[Any, Any]:
    if isinstance(raw, str):
        fn, _, name = raw.partition(":")
        return fn, (name or None)
    if isinstance(raw, dict):
        if "fn" in raw:
            extra = set(raw) - {"fn", "field"}
            if extra:
                raise _fail(f"an aggregate dict has 'fn' and 'field', got {sorted(raw)}", path)
            return raw["fn"], raw.get("field")
        if len(raw) == 1:
            ((fn, name),) = raw.items()
            return fn, name
    raise _fail(f"an aggregate is 'fn', 'fn:field', {{'fn': ..., 'field': ...}} or {{fn: field}}; got {raw!r}", path)


def parse_request(model: ModelSpec, params: dict, operators: Any = None, int_param: Any = None) -> AggregateRequest:
    """Validate every aggregate parameter against ``model``; nothing reaches a backend on bad input.
    ``int_param`` checks limit/offset (default: the List operation's check)."""
    if int_param is None:
        from ..operations import _int_param as int_param
    taken: set[str] = set()
    keys = parse_group_by(model, params.get("group_by"), taken)
    raw = params.get("aggregates")
    if raw is None:
        raw = {"count": "count"}
    if not isinstance(raw, dict) or not raw:
        raise _fail("aggregates must be a non-empty dict {output name: 'fn:field'}", "aggregates")
    if len(raw) > MAX_MEASURES:
        raise _fail(f"at most {MAX_MEASURES} aggregates, got {len(raw)}", "aggregates")
    measures: list[Measure] = []
    slots: dict[Measure, int] = {}

    def slot(measure: Measure) -> int:
        if measure not in slots:
            slots[measure] = len(keys) + len(measures)
            measures.append(measure)
        return slots[measure]

    outputs = [Output(k.alias, "key", k.field, (i,), k.part) for i, k in enumerate(keys)]
    for alias, spec in raw.items():
        path = f"aggregates.{alias}"
        _alias(alias, path, taken)
        fn, name = _measure_parts(spec, path)
        if fn not in FUNCTIONS:
            raise _fail(f"unknown aggregate function {fn!r}; valid: {', '.join(FUNCTIONS)}", path)
        if fn == "count" and name in (None, "*"):
            outputs.append(Output(alias, "count", None, (slot(Measure("count")),)))
            continue
        if name is None:
            raise _fail(f"{fn} needs a field: '{fn}:field'", path)
        field = _field(model, name, path, KINDS.get(fn), fn)
        if fn == "count":
            outputs.append(Output(alias, "count", field, (slot(Measure("count_field", field)),)))
        elif fn == "avg":
            outputs.append(
                Output(alias, "avg", field, (slot(Measure("sum", field)), slot(Measure("count_field", field))))
            )
        else:
            outputs.append(Output(alias, fn, field, (slot(Measure(fn, field)),)))
    groups = _groups_model(model, outputs)
    having = params.get("having")
    having_expr = None if not having else parse_filter(having, groups, operators)
    order = parse_order(params.get("order_by"), groups)
    limit = params.get("limit")
    limit = None if limit is None else int_param(limit, "limit", None)
    offset = int_param(params.get("offset"), "offset", 0)
    return AggregateRequest(AggregatePlan(tuple(keys), tuple(measures)), tuple(outputs), groups, having_expr, order,
                            limit, offset)


def output_type(out: Output) -> ft.FieldType:
    """The type of an output column: counts and date parts are int, ``avg`` of int/decimal is Decimal."""
    if out.fn in ("count", "count_distinct"):
        return ft.INT
    if out.fn == "key":
        return ft.INT if out.part is not None else out.field.type  # type: ignore[union-attr]
    assert out.field is not None
    if out.fn in ("sum", "avg"):
        return ft.FLOAT if out.field.kind == "float" else (ft.INT if out.fn == "sum" and out.field.kind == "int"
                                                           else ft.DECIMAL)
    return out.field.type


def _groups_model(model: ModelSpec, outputs: list[Output]) -> ModelSpec:
    fields: dict[str, FieldSpec] = {}
    for out in outputs:
        kind = output_type(out)
        fields[out.alias] = FieldSpec(out.alias, kind, nullable=True)
    return ModelSpec(name=f"{model.name} groups", table="", fields=fields, primary_key=None, timestamps=False)
