"""Cache keys: what makes two reads the same read, and nothing less.

A value key names one result: the database (its URL without secrets), the DataFlow's namespace, the bound
tenant, the model with a fingerprint of its declaration, the operation, and its parameters in canonical
form. The key ends with the version of the model's table, so bumping that version after a write makes
every earlier result of the table unreachable at once.

A version key names one table of one database. It is deliberately coarser than value keys (no user name,
no query options, no namespace): every process and every DataFlow that writes the table must bump the same
counter, and an unneeded invalidation costs a miss, never a stale read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from decimal import Decimal
from typing import Any

from ..model import ModelSpec
from ..urls import DatabaseURL, is_secret_key

_SCHEMES = {"postgres": "postgresql", "mariadb": "mysql", "sqlite3": "sqlite"}


class Uncacheable(Exception):
    """A parameter has no canonical form (an object DataFlow does not know): the call is not cached."""


def database_ids(url: DatabaseURL, override: str | None) -> tuple[str, str]:
    """``(table scope, result scope)``: the identity version keys use, and the finer one value keys use.

    SQLite files are named by their real path; an in-memory database is private to its DataFlow, so it gets
    an identity no other process or instance can have.
    """
    if override is not None:
        return override, override
    scheme = _SCHEMES.get(url.scheme, url.scheme)
    if scheme == "sqlite" or url.host is None:
        if url.is_memory:
            private = f"{scheme}:memory:{os.getpid()}:{uuid.uuid4().hex}"
            return private, private
        path = os.path.realpath(url.database or "")
        return f"{scheme}:{path}", f"{scheme}:{path}"
    coarse = f"{scheme}://{url.host.lower()}:{url.port or ''}/{url.database or ''}"
    query = sorted((k, v) for k, v in url.query.items() if not is_secret_key(k))
    fine = f"{coarse}|{url.username or ''}|{json.dumps(query)}"
    return coarse, fine


def digest(text: str, size: int = 16) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


def fingerprint(model: ModelSpec) -> str:
    """What of a model's declaration shapes its results: a process declaring it differently never shares."""
    fields = [(f.name, f.kind, f.nullable, f.primary_key, f.managed) for f in model.fields.values()]
    return digest(repr((model.name, model.table, model.primary_key, model.soft_delete, model.timestamps,
                        model.multi_tenant, fields)), 8)


def canonical(value: Any) -> Any:
    """``value`` as JSON data in which values of different types never coincide (1, 1.0, True, "1")."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return ["f", repr(value)]
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise Uncacheable(f"a {type(key).__name__} key")
            items.append((key, canonical(item)))
        items.sort(key=lambda kv: kv[0])
        return {"m": items}
    if isinstance(value, list):
        return ["l", [canonical(v) for v in value]]
    if isinstance(value, tuple):
        return ["t", [canonical(v) for v in value]]
    if isinstance(value, Decimal):
        return ["D", str(value)]
    if isinstance(value, dt.datetime):
        return ["dt", value.isoformat()]
    if isinstance(value, dt.date):
        return ["d", value.isoformat()]
    if isinstance(value, dt.time):
        return ["tm", value.isoformat()]
    if isinstance(value, uuid.UUID):
        return ["u", str(value)]
    if isinstance(value, bytes):
        return ["b", value.hex()]
    if isinstance(value, (set, frozenset)):
        return ["s", sorted(json.dumps(canonical(v), sort_keys=True) for v in value)]
    raise Uncacheable(type(value).__name__)


def params_text(operation: str, params: dict, extra: tuple) -> str:
    """The operation and its parameters as one canonical string (raises :class:`Uncacheable`)."""
    return json.dumps([operation, canonical(params), canonical(list(extra))], separators=(",", ":"),
                      ensure_ascii=False)


__all__ = ["Uncacheable", "canonical", "database_ids", "digest", "fingerprint", "params_text"]
