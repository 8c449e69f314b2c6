"""From a node's parameters to an ``Operations`` call: the table ``DataFlow._call`` dispatches with."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .aggregates.operation import aggregate
from .model import ModelSpec
from .operations import Operations


def _create(ops: Operations, model: ModelSpec, params: dict) -> Any:
    data = params.pop("data", None)
    if data is not None and not isinstance(data, dict):
        from .errors import ValidationError

        raise ValidationError(f"{model.name} create: 'data' must be a dict of field values, got {type(data).__name__}")
    record = {**data, **params} if data else params
    return ops.create(model, record)


def _update(ops: Operations, model: ModelSpec, params: dict) -> Any:
    keys = {k: params.pop(k) for k in ("id", "record_id", "filter") if k in params}
    if model.primary_key not in (None, "id") and model.primary_key in params:
        keys["id"] = params.pop(model.primary_key)
    values = dict(params.pop("fields", None) or {})
    values.update(params.pop("updates", None) or {})
    values.update(params)
    return ops.update(model, keys, values)


_DISPATCH: dict[str, Callable[..., Any]] = {
    "create": _create,
    "read": Operations.read,
    "update": _update,
    "delete": Operations.delete,
    "list": Operations.list,
    "count": Operations.count,
    "upsert": Operations.upsert,
    "bulk_create": Operations.bulk_create,
    "bulk_update": Operations.bulk_update,
    "bulk_delete": Operations.bulk_delete,
    "bulk_upsert": Operations.bulk_upsert,
    "aggregate": aggregate,
}
