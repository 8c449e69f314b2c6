"""MySQL's storage of each field kind, and values as driver parameters and as SQL literals.

Results equal the other backends' to the type: booleans come back as ``bool``, ``DATETIME(6)`` holds UTC
and comes back aware, decimals are stored as exact text (scale kept: ``Decimal("1.10")`` comes back as
``Decimal("1.10")``) and compared as ``DECIMAL(65,30)``. Bulk paths send rows as literals escaped column by
column (one escaper per type), which is several times faster than per-value escaping.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Sequence
from typing import Any

from dataflow.errors import FieldTypeError
from dataflow.sql.codec import encode_json

from .client import SERVER_STATUS, aiomysql, escape_float, escape_string

UTC = dt.timezone.utc
DECIMAL_TEXT = 100  # characters of a stored decimal
DECIMAL_INT_DIGITS, DECIMAL_FRAC_DIGITS = 35, 30  # what DECIMAL(65,30) compares exactly


def _decode_json(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8")
    return json.loads(value) if isinstance(value, str) else value


def _encode_datetime(value: dt.datetime) -> dt.datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def _decode_datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def encode_decimal(value: decimal.Decimal) -> str:
    """Exact fixed-point text: scale kept (``1.10``), no exponent (``1E+3`` → ``1000``).

    Refuses values that ``DECIMAL(65,30)`` comparisons could not tell apart exactly.
    """
    text = format(value, "f")
    if value.is_zero():
        return text if len(text) <= DECIMAL_TEXT else "0"
    exponent = value.normalize().as_tuple().exponent
    fraction = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    if value.adjusted() >= DECIMAL_INT_DIGITS or fraction > DECIMAL_FRAC_DIGITS or len(text) > DECIMAL_TEXT:
        raise FieldTypeError(
            f"decimal {value} is outside what the MySQL backend compares exactly: at most "
            f"{DECIMAL_INT_DIGITS} digits before the point and {DECIMAL_FRAC_DIGITS} after it"
        )
    return text


def _decode_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, decimal.Decimal):
        return value
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("ascii")
    return decimal.Decimal(value)


def _decode_bytes(value: Any) -> bytes:
    return value if type(value) is bytes else bytes(value)


ENCODERS = {"json": encode_json, "datetime": _encode_datetime, "decimal": encode_decimal}
DECODERS = {"json": _decode_json, "datetime": _decode_datetime, "decimal": _decode_decimal, "bool": bool,
            "bytes": _decode_bytes}


def escape(conn: Any, value: Any) -> str:
    """A value as an SQL literal. Bytes go as hex (``X'…'``): aiomysql's own bytes escaping needs a helper
    that PyMySQL ≥ 1.1 no longer has."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "X'" + bytes(value).hex() + "'"
    return conn.escape(value)


class Cursor(aiomysql.Cursor):
    """aiomysql's cursor with :func:`escape` for parameters."""

    def _escape_args(self, args: Any, conn: Any) -> Any:
        if isinstance(args, (tuple, list)):
            return tuple(escape(conn, arg) for arg in args)
        if isinstance(args, dict):
            return {key: escape(conn, val) for key, val in args.items()}
        return escape(conn, args)


def escape_column(conn: Any, col: tuple) -> list[str]:
    """SQL literals for one column: a repeated object (a shared timestamp) is escaped once, and a column of
    one type goes through that type's escaper without per-value dispatch."""
    first = col[0]
    if all(v is first for v in col):
        return [escape(conn, first)] * len(col)
    kinds = set(map(type, col))
    nulls = type(None) in kinds
    kinds.discard(type(None))
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    if kind is str and not conn.server_status & SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES:
        one = _quote_str
    elif kind is int:
        one = int.__repr__
    elif kind is float:
        one = escape_float
    elif kind is bool:
        one = _BOOL_LITERALS.__getitem__
    else:
        return [escape(conn, v) for v in col]
    if nulls:
        return ["NULL" if v is None else one(v) for v in col]
    return list(map(one, col))


def _quote_str(value: str) -> str:
    return "'" + escape_string(value) + "'"


_BOOL_LITERALS = {True: "1", False: "0"}


def utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def norm_key(kinds: Sequence[str], values: Sequence[Any]) -> tuple:
    """A key (encoded or as read from the server) as compared for uniqueness.

    Encoded and stored values are the same text, numbers and naive UTC datetimes; ``True`` and
    ``1`` are one key, as in a BOOL column; decimals compare by value.
    """
    out = []
    for kind, value in zip(kinds, values, strict=True):
        if value is not None and kind == "decimal":
            value = _decode_decimal(value)
        elif isinstance(value, (bytearray, memoryview)):
            value = bytes(value)
        out.append(value)
    return tuple(out)
