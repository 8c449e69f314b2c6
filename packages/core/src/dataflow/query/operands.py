"""Operand checks of the core operators: each takes ``(operand, ref)`` and returns the canonical operand.

A check raises :class:`~dataflow.errors.FilterError` saying what is wrong and what is valid; the parser
adds where. A check about one item of a list gives the item's place relative to the operator (``[2]``).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ..errors import FieldTypeError, FilterError
from .ast import FieldRef

JSON_SCALARS = (str, int, float, bool, type(None))


def _iso(text: str, kind: str) -> Any:
    try:
        if kind == "date":
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"invalid ISO-8601 {kind} {text!r}") from None


def field_value(value: Any, ref: FieldRef, allow_none: bool = False, where: str = "") -> Any:
    """A value of the field's type (coerced as a written value is), or a JSON scalar on a path."""
    if value is None:
        if allow_none:
            return None
        raise FilterError("comparison with null is not allowed; use $null or $exists", path=where)
    if ref.is_json_path:
        if not isinstance(value, JSON_SCALARS):
            raise FilterError(f"JSON path values must be str, number or bool, got {type(value).__name__}", path=where)
        return value
    if ref.field.kind == "json":
        raise FilterError(
            f"field {ref.name!r} is JSON: compare inside it with a dotted path ('{ref.name}.key') or $contains",
            path=where,
        )
    if isinstance(value, str) and ref.field.kind in ("datetime", "date"):
        try:
            value = _iso(value, ref.field.kind)  # queries often arrive as text; stored values may not
        except FilterError as exc:
            raise FilterError(exc.message, path=where) from None
    try:
        return ref.field.type.coerce(value)
    except FieldTypeError as exc:
        raise FilterError(f"invalid value for field {ref.name!r}: {exc.message}", path=where) from None


def value_or_null(value: Any, ref: FieldRef) -> Any:
    """``$eq`` / ``$ne``: a value, or null."""
    return field_value(value, ref, allow_none=True)


def value_not_null(value: Any, ref: FieldRef) -> Any:
    """``$gt`` and its siblings: a value; null never orders."""
    return field_value(value, ref)


def value_list(op: str) -> Any:
    """``$in`` / ``$nin``: a list of values, nulls allowed."""

    def check(value: Any, ref: FieldRef) -> tuple:
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise FilterError(f"${op} takes a list, got {type(value).__name__}")
        return tuple(field_value(v, ref, allow_none=True, where=f"[{i}]") for i, v in enumerate(value))

    return check


def text_field(ref: FieldRef, op: str) -> None:
    if not ref.is_json_path and ref.field.kind != "str":
        raise FilterError(f"${op} needs a text field; {ref.name!r} is {ref.field.kind}")


def close_escape(pattern: str) -> str:
    """A pattern ending in a lone ``\\`` means a literal backslash; spell it so every database agrees."""
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return pattern + "\\" if trailing % 2 else pattern


def like_pattern(op: str) -> Any:
    """``$like`` / ``$ilike``: a pattern string, on text."""

    def check(value: Any, ref: FieldRef) -> str:
        text_field(ref, op)
        if not isinstance(value, str):
            raise FilterError(f"${op} takes a string pattern, got {type(value).__name__}")
        return close_escape(value)

    return check


def regex_pattern(value: Any, ref: FieldRef) -> str:
    """``$regex``: a Python ``re`` pattern, on text."""
    text_field(ref, "regex")
    if not isinstance(value, str):
        raise FilterError(f"$regex takes a pattern string, got {type(value).__name__}")
    try:
        re.compile(value)
    except re.error as exc:
        raise FilterError(f"invalid regular expression {value!r}: {exc}") from None
    return value


def contains_operand(value: Any, ref: FieldRef) -> Any:
    """``$contains``: a substring of a text field, or one scalar element of a JSON array."""
    if ref.is_json_path or (ref.field.kind == "json" and ref.field.type.options.get("shape") != "dict"):
        if not isinstance(value, JSON_SCALARS) or value is None:
            raise FilterError("$contains on JSON takes one scalar element (str, number or bool)")
        return value
    if ref.field.kind == "str":
        if not isinstance(value, str):
            raise FilterError(f"$contains on text takes a string, got {type(value).__name__}")
        return value
    raise FilterError(
        f"$contains needs a text or JSON array field; {ref.name!r} is {ref.field.kind}"
        f"{' (object): use a dotted path' if ref.field.kind == 'json' else ''}"
    )


def flag(op: str) -> Any:
    """``$exists`` / ``$null``: true or false."""

    def check(value: Any, ref: FieldRef) -> bool:
        if not isinstance(value, bool):
            raise FilterError(f"${op} takes true or false, got {value!r}")
        return value

    return check
