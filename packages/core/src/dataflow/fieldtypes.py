"""Field types: which Python annotations a model may use, and how values are checked.

Each :class:`FieldType` has a ``kind`` (the name backends map to a column
type) and a ``coerce`` function that turns an incoming value into the canonical
Python value or raises :class:`~dataflow.errors.FieldTypeError`. Plugins add
types (a pgvector ``Vector[384]``, say) through ``dataflow_register_field_types``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import FieldTypeError, ModelError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UTC = dt.timezone.utc


@dataclass(frozen=True)
class FieldType:
    """A column type every backend knows how to store."""

    kind: str
    python_type: type | tuple[type, ...]
    coerce: Callable[[Any], Any]
    comparable: bool = True
    """Whether ``$gt``/``$lt`` and ordering are meaningful for it."""
    options: dict[str, Any] = field(default_factory=dict, compare=False)
    backends: dict[str, BackendType] = field(default_factory=dict, compare=False)
    """Per backend name: how an extension type is stored (core kinds need none)."""

    def describe(self) -> str:
        return self.kind


@dataclass(frozen=True)
class BackendType:
    """How one backend stores an extension field type."""

    column_type: Callable[[Any], Any]
    """``(FieldSpec) -> SQLAlchemy type`` (or whatever the backend's DDL needs)."""
    encode: Callable[[Any], Any] | None = None
    """Canonical Python value -> driver parameter."""
    decode: Callable[[Any], Any] | None = None
    """Driver value -> canonical Python value."""


def _type_error(kind: str, value: Any, hint: str = "") -> FieldTypeError:
    return FieldTypeError(f"expected {kind}, got {type(value).__name__} {_short(value)}{hint}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def coerce_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _type_error("str", value)


def coerce_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT64_MIN <= value <= INT64_MAX:
            raise FieldTypeError(f"integer {value} is outside the 64-bit range")
        return int(value)
    raise _type_error("int", value)


def coerce_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        result = float(value)
        if not math.isfinite(result):
            raise FieldTypeError(f"float value must be finite, got {result}: NaN and infinity are not stored alike on "
                                 "every backend")
        return result
    raise _type_error("float", value)


def coerce_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _type_error("bool", value)


def to_utc(value: dt.datetime) -> dt.datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def coerce_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return to_utc(value)
    hint = " (pass a datetime object, e.g. datetime.fromisoformat(text), not text)" if isinstance(value, str) else ""
    raise _type_error("datetime", value, hint)


def coerce_date(value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        raise _type_error("date", value, " (pass a date object, e.g. date.fromisoformat(text), not text)")
    raise _type_error(
        "date", value, " (a datetime is not a date; use .date())" if isinstance(value, dt.datetime) else ""
    )


def coerce_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, decimal.Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = decimal.Decimal(value)
    elif isinstance(value, str):
        try:
            result = decimal.Decimal(value)
        except decimal.InvalidOperation:
            raise FieldTypeError(f"expected a decimal number, got {_short(value)}") from None
    elif isinstance(value, float):
        raise FieldTypeError(
            f"expected Decimal, got float {value!r}: floats are inexact; pass Decimal({str(value)!r}) instead"
        )
    else:
        raise _type_error("Decimal", value)
    if not result.is_finite():
        raise FieldTypeError(f"Decimal value must be finite, got {result}")
    return result


def coerce_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise _type_error("bytes", value)


def _check_json(value: Any) -> Any:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FieldTypeError(f"value is not JSON-serialisable: {exc}") from None
    return value


def coerce_json(value: Any) -> Any:
    return _check_json(value)


def coerce_json_dict(value: Any) -> dict:
    if not isinstance(value, dict):
        raise _type_error("dict (JSON object)", value)
    return _check_json(value)


def coerce_json_list(value: Any) -> list:
    if not isinstance(value, (list, tuple)):
        raise _type_error("list (JSON array)", value)
    return _check_json(list(value))


STR = FieldType("str", str, coerce_str)
INT = FieldType("int", int, coerce_int)
FLOAT = FieldType("float", float, coerce_float)
BOOL = FieldType("bool", bool, coerce_bool)
DATETIME = FieldType("datetime", dt.datetime, coerce_datetime)
DATE = FieldType("date", dt.date, coerce_date)
DECIMAL = FieldType("decimal", decimal.Decimal, coerce_decimal)
BYTES = FieldType("bytes", bytes, coerce_bytes)
JSON = FieldType("json", (dict, list), coerce_json, comparable=False, options={"shape": "any"})
JSON_DICT = FieldType("json", dict, coerce_json_dict, comparable=False, options={"shape": "dict"})
JSON_LIST = FieldType("json", list, coerce_json_list, comparable=False, options={"shape": "list"})

CORE_TYPES: dict[Any, FieldType] = {
    str: STR,
    int: INT,
    float: FLOAT,
    bool: BOOL,
    dt.datetime: DATETIME,
    dt.date: DATE,
    decimal.Decimal: DECIMAL,
    bytes: BYTES,
    dict: JSON_DICT,
    list: JSON_LIST,
    Any: JSON,
}


class FieldTypeRegistry:
    """Maps annotations to :class:`FieldType`. Plugins add resolvers for their own types."""

    def __init__(self) -> None:
        self._exact: dict[Any, FieldType] = dict(CORE_TYPES)
        self._resolvers: list[Callable[[Any], FieldType | None]] = []

    def add(self, annotation: Any, field_type: FieldType) -> None:
        if annotation in self._exact:
            raise ModelError(f"field type for {annotation!r} is already registered")
        self._exact[annotation] = field_type

    def add_resolver(self, resolver: Callable[[Any], FieldType | None]) -> None:
        """Register a function that recognises parameterised annotations (``Vector[3]``)."""
        self._resolvers.append(resolver)

    def resolve(self, annotation: Any) -> FieldType | None:
        try:
            found = self._exact.get(annotation)
        except TypeError:  # unhashable annotation
            found = None
        if found is not None:
            return found
        for resolver in self._resolvers:
            found = resolver(annotation)
            if found is not None:
                return found
        return None

    def supported(self) -> list[str]:
        names = {getattr(a, "__name__", str(a)) for a in self._exact}
        return sorted(names) + ["Optional[T]", "T | None", "list[...]", "dict[...]"]


def is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
