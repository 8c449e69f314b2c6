"""The aggregate primitive on MongoDB: one ``$match`` + ``$group`` pipeline.

* Keys are ``$group`` ``_id`` fields. Date parts are read from the stored fixed-width UTC text
  (``2024-01-31T23:30:00.000000+00:00``, ``2024-01-31``; :mod:`.codec`) with ``$substrBytes``; a BSON date
  written by another program is read with ``$year`` and friends (UTC). A quarter is ``ceil(month / 3)``.
* ``sum`` of an int field adds ``$toDecimal`` values (Decimal128, 34 digits): exact where ``$sum`` of int64
  would turn into a double past 64 bits. Decimals add as Decimal128, floats as doubles.
* ``$sum`` gives 0 over no values where SQL gives NULL: each sum carries a count of its non-null values, and a
  sum over none is None, as on the SQL backends.
* ``count_distinct`` collects the distinct values (``$addToSet``) and counts them here, after decoding (so
  equal decimals count once whatever the server's set equality): memory grows with the distinct values.
"""

from __future__ import annotations

from typing import Any

from dataflow.aggregates.spec import AggregatePlan, GroupKey, Measure
from dataflow.model import ModelSpec
from dataflow.query.ast import Expr

from . import driver
from .limits import operation

#: (start byte, length) of each part in the stored text
TEXT_PARTS = {"year": (0, 4), "month": (5, 2), "day": (8, 2), "hour": (11, 2), "minute": (14, 2)}
DATE_OPERATORS = {"year": "$year", "month": "$month", "day": "$dayOfMonth", "hour": "$hour", "minute": "$minute"}
ABSENT = ["missing", "null"]


def mongo_name(field: Any) -> str:
    """The stored key of a field (as :func:`dataflow_mongo.fields.mongo_name`, without importing bson)."""
    return "_id" if field.primary_key else field.name


def _part(path: str, part: str) -> Any:
    if part == "quarter":
        month = _part(path, "month")
        return {"$cond": [{"$eq": [month, None]}, None, {"$ceil": {"$divide": [month, 3]}}]}
    start, length = TEXT_PARTS[part]
    return {"$switch": {"branches": [
        {"case": {"$eq": [{"$type": path}, "string"]}, "then": {"$toInt": {"$substrBytes": [path, start, length]}}},
        {"case": {"$eq": [{"$type": path}, "date"]}, "then": {DATE_OPERATORS[part]: path}},
    ], "default": None}}


def _key(key: GroupKey) -> Any:
    path = "$" + mongo_name(key.field)
    return path if key.part is None else _part(path, key.part)


def _present(path: str) -> Any:
    return {"$cond": [{"$in": [{"$type": path}, ABSENT]}, 0, 1]}


def _measure(measure: Measure) -> Any:
    if measure.fn == "count":
        return {"$sum": 1}
    assert measure.field is not None
    path = "$" + mongo_name(measure.field)
    if measure.fn == "count_field":
        return {"$sum": _present(path)}
    if measure.fn == "count_distinct":
        return {"$addToSet": path}
    if measure.fn == "sum":
        return {"$sum": {"$toDecimal": path} if measure.field.kind == "int" else path}
    return {"$" + measure.fn: path}


def pipeline(query: dict, plan: AggregatePlan) -> list[dict]:
    """``[$match, $group]`` computing ``plan``: keys in ``_id.k0…``, measures in ``m0…`` (``n0…``: the
    non-null counts of sums)."""
    group: dict[str, Any] = {"_id": {f"k{i}": _key(k) for i, k in enumerate(plan.keys)} if plan.keys else None}
    for i, measure in enumerate(plan.measures):
        group[f"m{i}"] = _measure(measure)
        if measure.fn == "sum":
            group[f"n{i}"] = {"$sum": _present("$" + mongo_name(measure.field))}  # type: ignore[arg-type]
    stages: list[dict] = [{"$match": query}] if query else []
    return [*stages, {"$group": group}]


def decode_row(plan: AggregatePlan, doc: dict, decoders: dict) -> tuple:
    """A ``$group`` output document as the plan's row: keys, then measures (see ``AggregatePlan``)."""
    ids = doc.get("_id") or {}
    out: list[Any] = []
    for i, key in enumerate(plan.keys):
        value = ids.get(f"k{i}")
        out.append(_decoded(decoders, key.field.kind if key.part is None else "", value))
    for i, measure in enumerate(plan.measures):
        value = doc.get(f"m{i}")
        if measure.fn == "count_distinct":
            kind = measure.field.kind  # type: ignore[union-attr]
            value = len({_decoded(decoders, kind, v) for v in (value or []) if v is not None})
        elif measure.fn == "sum":
            value = None if not doc.get(f"n{i}") else _decoded(decoders, "decimal" if measure.field.kind == "int"  # type: ignore[union-attr]
                                                                else measure.field.kind, value)  # type: ignore[union-attr]
        elif measure.fn in ("min", "max"):
            value = _decoded(decoders, measure.field.kind, value)  # type: ignore[union-attr]
        out.append(value)
    return tuple(out)


def _decoded(decoders: dict, kind: str, value: Any) -> Any:
    if value is None:
        return None
    decoder = decoders.get(kind)
    return value if decoder is None else decoder(value)


class MongoAggregates:
    """Mixin of :class:`~dataflow_mongo.backend.MongoBackend`: ``aggregate``."""

    @operation("aggregate")
    async def aggregate(self, model: ModelSpec, where: Expr, plan: AggregatePlan) -> list[tuple]:
        if (handle := self._foreign()) is not None:  # type: ignore[attr-defined]
            return await self._elsewhere(handle, self.aggregate(model, where, plan))  # type: ignore[attr-defined]
        stages = pipeline(self.where(model, where), plan)  # type: ignore[attr-defined]
        self._observe("aggregate", model, stages)  # type: ignore[attr-defined]
        conn = await self._conn()  # type: ignore[attr-defined]
        try:
            cursor = await conn.coll(model.table).aggregate(stages, session=self.session(conn))  # type: ignore[attr-defined]
            docs = await cursor.to_list(None)
        except driver.perr.PyMongoError as exc:
            raise self._translate(exc, model) from exc  # type: ignore[attr-defined]
        return [decode_row(plan, doc, driver.DECODERS) for doc in docs]
