"""SQLite's storage of each field kind: column types, and values to and from sqlite3.

SQLite has few types: datetimes, dates and decimals are stored as exact text (ISO 8601, UTC; decimals
compared through the ``dataflow_decimal`` collation), booleans as 0/1, JSON as text.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import sqlalchemy as sa
from dataflow.sql.codec import encode_json

COLUMN_TYPES = {
    "str": sa.Text, "int": sa.Integer, "float": sa.Float, "bool": sa.Integer, "datetime": sa.Text,
    "date": sa.Text, "decimal": sa.Text, "bytes": sa.LargeBinary, "json": sa.Text,
}


def _encode_datetime(value: dt.datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _decode_datetime(text: Any) -> dt.datetime:
    """DataFlow writes UTC ISO text; existing tables may hold naive text (taken as UTC) or numbers."""
    if isinstance(text, (int, float)):
        return dt.datetime.fromtimestamp(text, dt.timezone.utc)
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


def _decode_decimal(value: Any) -> decimal.Decimal:
    """DataFlow stores decimals as exact text; a legacy ``DECIMAL``/``NUMERIC`` column (numeric affinity)
    holds REAL or INTEGER instead. A REAL is read back as the shortest decimal that round-trips to the same
    float (``repr``), so ``12.34`` stored by another application reads ``Decimal("12.34")``, not the binary
    expansion ``12.339999999999999857…``: the column never held more precision than that."""
    if isinstance(value, float):
        return decimal.Decimal(repr(value))
    return decimal.Decimal(value)


ENCODERS = {"datetime": _encode_datetime, "date": dt.date.isoformat, "decimal": str, "json": encode_json, "bool": int}
DECODERS = {"float": float, "datetime": _decode_datetime, "date": dt.date.fromisoformat, "decimal": _decode_decimal,
            "json": json.loads, "bool": bool, "bytes": bytes}
