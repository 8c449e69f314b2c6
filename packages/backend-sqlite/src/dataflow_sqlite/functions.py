"""SQL functions and collations SQLite lacks, backed by the filter language's reference semantics.

``install(conn)`` registers them on a connection; the SQLite compiler emits calls to them.
"""

from __future__ import annotations

import decimal
import json
import sqlite3
import threading
from typing import Any

from dataflow.errors import DataFlowError
from dataflow.query.semantics import array_has, like, lookup, regex_search

_failure = threading.local()


def take_failure() -> DataFlowError | None:
    """The error a function of this thread raised inside SQLite, which reports only "user-defined function
    raised exception"; the backend's error translation gives this instead."""
    error = getattr(_failure, "error", None)
    _failure.error = None
    return error


def _regexp(value: Any, pattern: str, flags: str) -> int | None:
    if value is None:
        return None
    try:
        return int(regex_search(pattern, value, flags))
    except DataFlowError as exc:
        _failure.error = exc
        raise


def _ilike(value: Any, pattern: str) -> int | None:
    return None if value is None else int(like(value, pattern, True))


def _like(value: Any, pattern: str) -> int | None:
    return None if value is None else int(like(value, pattern, False))


def _decimal_collation(a: str, b: str) -> int:
    """Decimals are stored as exact text; this collation compares them as numbers, exactly."""
    x, y = decimal.Decimal(a), decimal.Decimal(b)
    return (x > y) - (x < y)


class _Path:
    """Stands in for a FieldRef so the reference ``lookup`` walks the same path."""

    name = "v"

    def __init__(self, dotted: str) -> None:
        self.path = tuple(dotted.split(".")) if dotted else ()


def _json_contains(document: Any, path: str, operand: str) -> int | None:
    if document is None:
        return None
    value = lookup({"v": json.loads(document)}, _Path(path))  # type: ignore[arg-type]
    return int(array_has(value, json.loads(operand)))


def _json_text(document: Any, path: str) -> str | None:
    """The string at ``path`` of a JSON document, whole (``json_extract`` stops at a NUL), or None."""
    if document is None:
        return None
    value = lookup({"v": json.loads(document)}, _Path(path))  # type: ignore[arg-type]
    return value if isinstance(value, str) else None


class _ExactSum:
    """``dataflow_exact_sum(x)``: the exact sum of decimal text (or of integers past 64 bits), as text; NULL
    when every value is NULL (SQL's SUM). SQLite's own SUM adds decimal text as doubles.

    Plain decimal text (``-12.50``) is added as an integer per scale (``-1250`` at scale 2), a fraction of the
    cost of Decimal arithmetic; text with an exponent goes through Decimal. ``finalize`` adds the scales exactly.
    """

    _context = decimal.Context(prec=100_000, traps=[decimal.Inexact, decimal.InvalidOperation])

    def __init__(self) -> None:
        self.by_scale: dict[int, int] = {}

    def step(self, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, int):
            mantissa, scale = value, 0
        else:
            text = value if isinstance(value, str) else repr(value)
            whole, _, fraction = text.partition(".")
            if "e" in text or "E" in text or not (whole + fraction).lstrip("+-").isdigit():
                sign, digits, exponent = decimal.Decimal(text).as_tuple()
                mantissa = int("".join(map(str, digits)) or 0) * (-1 if sign else 1)
                scale = -int(exponent)
            else:
                mantissa, scale = int(whole + fraction), len(fraction)
        self.by_scale[scale] = self.by_scale.get(scale, 0) + mantissa

    def finalize(self) -> str | None:
        if not self.by_scale:
            return None
        total = decimal.Decimal(0)
        for scale, mantissa in self.by_scale.items():
            total = self._context.add(total, decimal.Decimal(mantissa).scaleb(-scale, self._context))
        if len(self.by_scale) == 1 and 0 in self.by_scale:
            return str(self.by_scale[0])
        return str(total)


def install(conn: sqlite3.Connection) -> None:
    """Register every function and collation the SQLite compiler's SQL calls."""
    conn.create_function("dataflow_regexp", 3, _regexp, deterministic=True)
    conn.create_function("dataflow_like", 2, _like, deterministic=True)
    conn.create_function("dataflow_ilike", 2, _ilike, deterministic=True)
    conn.create_function("dataflow_json_text", 2, _json_text, deterministic=True)
    conn.create_function("dataflow_json_contains", 3, _json_contains, deterministic=True)
    conn.create_collation("dataflow_decimal", _decimal_collation)
    conn.create_aggregate("dataflow_exact_sum", 1, _ExactSum)
