"""Results in and out of the cache, so no caller can change a cached value or receive another's object.

* In process: a result whose values are all immutable (text, numbers, dates, ``Decimal``…) is kept as it is
  and handed out as fresh dicts (a shallow copy per record: microseconds); one holding JSON objects or lists
  is kept pickled and unpickled per hit.
* In Redis: tagged JSON, never pickle (whoever can write to the Redis must not be able to run code here).
  A value of a type this module does not know is not cached at all.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import uuid
from decimal import Decimal
from typing import Any

_IMMUTABLE = (str, int, float, bool, type(None), Decimal, dt.datetime, dt.date, dt.time, dt.timedelta, uuid.UUID,
              bytes)


class NotStorable(Exception):
    """The result holds a value the store cannot keep faithfully."""


# --- in process ------------------------------------------------------------------------------------------


def _flat(row: Any) -> bool:
    return isinstance(row, dict) and all(isinstance(v, _IMMUTABLE) for v in row.values())


def freeze(result: dict) -> tuple[str, Any]:
    """``(form, payload)`` for the memory store."""
    records = result.get("records")
    if isinstance(records, list):
        if all(_flat(r) for r in records) and all(
            isinstance(v, _IMMUTABLE) for k, v in result.items() if k != "records"
        ):
            return "list", ({k: v for k, v in result.items() if k != "records"}, tuple(dict(r) for r in records))
    elif _flat(result):
        return "row", dict(result)
    try:
        return "pickle", pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an object that cannot be copied faithfully is not cached
        raise NotStorable(str(exc)) from None


def thaw(frozen: tuple[str, Any]) -> dict:
    form, payload = frozen
    if form == "row":
        return dict(payload)
    if form == "list":
        meta, records = payload
        out = dict(meta)
        out["records"] = [dict(r) for r in records]
        return out
    return pickle.loads(payload)


# --- in Redis ----------------------------------------------------------------------------------------------------


def _tag(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else {"$f": repr(value)}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and "$" not in "".join(k[:1] for k in value):
            return {k: _tag(v) for k, v in value.items()}
        if not all(isinstance(k, str) for k in value):
            raise NotStorable("a dict with non-text keys")
        return {"$m": [[k, _tag(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [_tag(v) for v in value]
    if isinstance(value, tuple):
        return {"$tu": [_tag(v) for v in value]}
    if isinstance(value, Decimal):
        return {"$D": str(value)}
    if isinstance(value, dt.datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$d": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$t": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"$td": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, uuid.UUID):
        return {"$u": str(value)}
    if isinstance(value, bytes):
        return {"$b": value.hex()}
    raise NotStorable(type(value).__name__)


def _untag(obj: dict) -> Any:
    if len(obj) != 1:
        return obj
    key, value = next(iter(obj.items()))
    if not key.startswith("$"):
        return obj
    if key == "$m":
        return {k: v for k, v in value}
    if key == "$tu":
        return tuple(value)
    if key == "$f":
        return float(value)
    if key == "$D":
        return Decimal(value)
    if key == "$dt":
        return dt.datetime.fromisoformat(value)
    if key == "$d":
        return dt.date.fromisoformat(value)
    if key == "$t":
        return dt.time.fromisoformat(value)
    if key == "$td":
        return dt.timedelta(days=value[0], seconds=value[1], microseconds=value[2])
    if key == "$u":
        return uuid.UUID(value)
    if key == "$b":
        return bytes.fromhex(value)
    raise ValueError(f"unknown tag {key!r} in a cached value")


def encode(result: dict) -> bytes:
    """Tagged JSON of ``result`` (raises :class:`NotStorable`)."""
    return json.dumps(_tag(result), separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8",
                                                                                                     "surrogatepass")


def decode(data: bytes) -> dict:
    return json.loads(data.decode("utf-8", "surrogatepass"), object_hook=_untag)


__all__ = ["NotStorable", "decode", "encode", "freeze", "thaw"]
