"""PostgreSQL's storage of each field kind, and values to and from asyncpg.

asyncpg converts most types natively; DataFlow adds JSON as text (``jsonb``), UTC for timestamps at the
edges, and the array types the unnest upsert binds whole columns as.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from dataflow.sql.codec import encode_json
from sqlalchemy.dialects import postgresql

UTC = dt.timezone.utc
ARRAY_TYPES = {"str": "text", "int": "bigint", "float": "float8", "bool": "bool", "datetime": "timestamptz",
               "date": "date", "decimal": "numeric", "bytes": "bytea", "json": "jsonb"}


def column_type(kind: str) -> Any:
    """The column type of a core field kind. Text is ``COLLATE "C"``: code-point order, as everywhere."""
    if kind == "str":
        return sa.Text(collation="C")
    return {
        "int": sa.BigInteger, "float": postgresql.DOUBLE_PRECISION, "bool": sa.Boolean,
        "datetime": lambda: sa.DateTime(timezone=True), "date": sa.Date, "decimal": sa.Numeric,
        "bytes": postgresql.BYTEA, "json": postgresql.JSONB,
    }[kind]()


def _decode_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _decode_datetime(value: Any) -> Any:
    """asyncpg returns timestamptz aware and in UTC whatever the session's TimeZone, except at the edge:
    'infinity' (which is how it stores ``datetime.max``) comes back as naive ``datetime.max``."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


ENCODERS = {"json": encode_json}
DECODERS = {"json": _decode_json, "datetime": _decode_datetime}
