"""How model values are stored in BSON, and read back.

=========  ==========================================  ===============================================
kind       stored as                                   why
=========  ==========================================  ===============================================
str        string                                      code-point order = UTF-8 byte order (Mongo's)
int        int32/int64                                 exact 64-bit; compares with every number
float      double                                      bit-exact, -0.0/inf/nan kept
bool       bool                                        its own BSON type: never equal to 0/1
datetime   string ``2024-01-01T00:00:00.000001+00:00``  BSON dates keep milliseconds only; fixed-width
                                                       UTC text keeps microseconds and sorts as time
date       string ``2024-01-01``                       no date-only BSON type; sorts as time
decimal    Decimal128                                  exact up to 34 significant digits, numeric
                                                       comparisons and $sum in aggregations; longer
                                                       decimals are refused (FieldTypeError)
bytes      string of lowercase hex                     BSON binary sorts by length first; hex text
                                                       sorts like the bytes (as on SQL backends)
json       embedded document / array                   dotted paths work natively
=========  ==========================================  ===============================================

A null field is not stored at all (missing and null mean the same in Mongo
queries, sorts and here); this keeps partial unique indexes usable.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from typing import Any

from bson import Decimal128, Int64
from bson.codec_options import CodecOptions, TypeCodec, TypeDecoder, TypeRegistry
from dataflow.errors import FieldTypeError

UTC = dt.timezone.utc
MAX_DIGITS = 34
INT64_BOUNDS = (-(2**63), 2**63 - 1)
_D128_EMAX, _D128_EMIN = 6144, -6143

#: Decimal128's own arithmetic: 34 digits, its exponent range
_CEILING = decimal.Context(prec=MAX_DIGITS, Emax=_D128_EMAX, Emin=_D128_EMIN, rounding=decimal.ROUND_CEILING,
                           clamp=1, traps=[])
_FLOOR = decimal.Context(prec=MAX_DIGITS, Emax=_D128_EMAX, Emin=_D128_EMIN, rounding=decimal.ROUND_FLOOR,
                         clamp=1, traps=[])


def encode_datetime(value: dt.datetime) -> str:
    if value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def decode_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):  # a BSON date written by another program
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return dt.datetime.fromisoformat(value)


def decode_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return dt.date.fromisoformat(value)


def encode_decimal(value: decimal.Decimal) -> Decimal128:
    digits = len(value.as_tuple().digits)
    try:
        if digits > MAX_DIGITS:  # even trailing zeros: rounding them away would change the scale
            raise decimal.Inexact
        return Decimal128(value)
    except (decimal.Inexact, decimal.InvalidOperation, decimal.Overflow, decimal.Underflow, ValueError):
        raise FieldTypeError(
            f"Decimal {value} cannot be stored exactly in MongoDB: Decimal128 holds {MAX_DIGITS} significant digits "
            f"(this one has {digits}) and exponents 10^-6176..10^6111"
        ) from None


def decode_decimal(value: Any) -> decimal.Decimal:
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, decimal.Decimal):
        return value
    return decimal.Decimal(str(value))


def decimal_bound(value: decimal.Decimal, op: str) -> Decimal128 | None:
    """A filter operand for ``op`` that selects exactly what ``value`` would, or None when nothing can be equal.

    Every stored decimal has at most 34 digits, so ``x > v`` equals ``x >= ceil34(v)`` when ``v`` itself has
    more digits (no 34-digit number lies strictly between ``v`` and its rounding).
    """
    try:
        return Decimal128(value)
    except (decimal.Inexact, decimal.InvalidOperation, decimal.Overflow, decimal.Underflow, ValueError):
        pass
    if op in ("eq", "ne", "in", "nin"):
        return None
    ctx = _CEILING if op in ("gt", "gte") else _FLOOR
    return Decimal128(ctx.create_decimal(value))


def encode_bytes(value: bytes) -> str:
    return value.hex()


def decode_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return bytes.fromhex(value)


def decode_float(value: Any) -> float:
    return value if type(value) is float else float(value)


def decode_int(value: Any) -> int:
    return value if type(value) is int else int(value)


ENCODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": encode_datetime,
    "date": dt.date.isoformat,
    "decimal": encode_decimal,
    "bytes": encode_bytes,
}
DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": decode_datetime,
    "date": decode_date,
    "decimal": decode_decimal,
    "bytes": decode_bytes,
    "float": decode_float,
    "int": decode_int,
}


# --- the client's codec: what document nodes read and write --------------------------------------------


class DecimalCodec(TypeCodec):
    """``decimal.Decimal`` in, ``Decimal128`` on the wire, ``Decimal`` out (exact, or refused)."""

    python_type = decimal.Decimal
    bson_type = Decimal128

    def transform_python(self, value: decimal.Decimal) -> Decimal128:
        return encode_decimal(value)

    def transform_bson(self, value: Decimal128) -> decimal.Decimal:
        return value.to_decimal()


class Int64Decoder(TypeDecoder):
    """64-bit integers come back as plain ``int`` (not ``bson.Int64``)."""

    bson_type = Int64

    def transform_bson(self, value: Int64) -> int:
        return int(value)


def codec_options() -> CodecOptions:
    return CodecOptions(tz_aware=True, tzinfo=UTC, uuid_representation=4,
                        type_registry=TypeRegistry([DecimalCodec(), Int64Decoder()]))
