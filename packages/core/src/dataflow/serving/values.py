"""JSON on the wire: how typed field values travel through REST, CLI and MCP, both ways.

=========  ==============================================  ==========================================
kind       sent and returned as                            also accepted on input
=========  ==============================================  ==========================================
datetime   ISO 8601 text in UTC, ``"2024-05-01T12:00:00Z"``  any ISO 8601 text (an offset is converted,
                                                           none means UTC)
date       ``"2024-05-01"``
decimal    text, exactly: ``"12.50"``                      a JSON number (converted through its
                                                           shortest text form; send text to be exact)
bytes      standard base64 text, ``"AAEC/w=="``
=========  ==============================================  ==========================================

Everything else is plain JSON. Inputs are decoded by the model's field kinds in records
(create, update, upsert, bulk ``data``) and in filters (``{"at": {"$gte": "2024-01-01T00:00:00Z"}}``),
and an aggregate's ``having`` by the kinds of its output columns (``{"revenue": {"$gt": 1000.5}}`` on a
decimal sum); outputs are encoded wherever such a value appears (an aggregate's group keys and sums too).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import decimal
from typing import Any

from ..errors import FieldTypeError
from ..model import ModelSpec

#: field kinds whose JSON form differs from their Python value
WIRE_KINDS = ("datetime", "date", "decimal", "bytes")
_COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")


def encode(value: Any) -> Any:
    """A JSON-ready copy of a result: datetimes, dates, Decimals and bytes in their wire form."""
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat() + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def decode_value(model: ModelSpec, name: str, value: Any) -> Any:
    """``value`` of field ``name`` from its wire form; anything else is left to DataFlow's own checks."""
    spec = model.fields.get(name)
    if spec is None or value is None or spec.kind not in WIRE_KINDS:
        return value
    kind = spec.kind
    try:
        if kind == "datetime" and isinstance(value, str):
            return dt.datetime.fromisoformat(value)
        if kind == "date" and isinstance(value, str):
            return dt.date.fromisoformat(value)
        if kind == "decimal" and isinstance(value, float):
            return decimal.Decimal(repr(value))
        if kind == "bytes" and isinstance(value, str):
            return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        expected = {"datetime": "ISO 8601 text such as '2024-05-01T12:00:00Z'", "date": "text such as '2024-05-01'",
                    "bytes": "standard base64 text"}[kind]
        raise FieldTypeError(f"{model.name}: field {name!r}: expected {expected}, got {value[:40]!r}",
                             field=name) from None
    return value


def decode_record(model: ModelSpec, record: Any) -> Any:
    if not isinstance(record, dict):
        return record
    return {key: decode_value(model, key, item) for key, item in record.items()}


def decode_records(model: ModelSpec, records: Any) -> Any:
    if not isinstance(records, list):
        return records
    return [decode_record(model, record) for record in records]


def decode_filter(model: ModelSpec, where: Any) -> Any:
    """A filter with the wire values of typed fields decoded (logic operators walked, paths left alone)."""
    if not isinstance(where, dict):
        return where
    out: dict[str, Any] = {}
    for key, condition in where.items():
        if key in ("$and", "$or", "$nor") and isinstance(condition, list):
            out[key] = [decode_filter(model, part) for part in condition]
        elif key == "$not":
            out[key] = decode_filter(model, condition)
        elif key in model.fields:
            out[key] = _decode_condition(model, key, condition)
        else:
            out[key] = condition
    return out


def _decode_condition(model: ModelSpec, name: str, condition: Any) -> Any:
    if not (
        isinstance(condition, dict) and condition and all(isinstance(k, str) and k.startswith("$") for k in condition)
    ):
        return decode_value(model, name, condition)
    out: dict[str, Any] = {}
    for op, operand in condition.items():
        if op in _COMPARISONS:
            out[op] = decode_value(model, name, operand)
        elif op in ("$in", "$nin") and isinstance(operand, list):
            out[op] = [decode_value(model, name, item) for item in operand]
        elif op == "$not":
            out[op] = _decode_condition(model, name, operand)
        else:
            out[op] = operand
    return out


#: where each operation's parameters hold records or filters
_RECORD_PARAMS = ("data", "fields", "updates", "update", "create", "where")


def decode_params(model: ModelSpec, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """An operation's parameters with every record and filter decoded from the wire."""
    out = dict(params)
    for key, value in params.items():
        if key == "filter":
            out[key] = decode_filter(model, value)
        elif key in _RECORD_PARAMS:
            out[key] = decode_records(model, value) if isinstance(value, list) else decode_record(model, value)
        elif operation in ("create", "update") or key in ("id", "record_id"):
            out[key] = decode_value(model, model.primary_key if key in ("id", "record_id") else key, value)
    if operation == "aggregate" and isinstance(params.get("having"), dict) and params["having"]:
        out["having"] = decode_filter(_groups(model, params), params["having"])
    if operation == "bulk_delete" and isinstance(out.get("ids"), list):
        out["ids"] = [decode_value(model, model.primary_key, item) for item in out["ids"]]
    return out


def _groups(model: ModelSpec, params: dict[str, Any]) -> ModelSpec:
    """The output columns of an aggregate request as a model (what its ``having`` speaks of); a bad
    ``group_by`` or ``aggregates`` raises the AggregateError the operation itself would."""
    from ..aggregates.spec import parse_request

    return parse_request(model, {"group_by": params.get("group_by"), "aggregates": params.get("aggregates")}).groups


__all__ = ["WIRE_KINDS", "decode_filter", "decode_params", "decode_record", "decode_value", "encode"]
