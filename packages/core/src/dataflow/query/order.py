"""``order_by`` in every form users write, validated against the model.

Accepted: ``"-created_at"``, ``["-created_at", "name"]``, ``["name desc"]``,
``[{"x": -1}]``, ``{"x": -1}``, ``[("x", "desc")]``,
``[{"field": "x", "order": "desc"}]`` (also ``"direction"``). The primary key
is appended as a tie-breaker so that paging is stable; a model without one (a
registered view, a table without a key) gets every orderable field not named
yet, in declaration order, instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import FilterError
from ..model import ModelSpec

_DIRECTIONS = {"asc": False, "ascending": False, "1": False, "desc": True, "descending": True, "-1": True}


@dataclass(frozen=True)
class OrderItem:
    field: str
    descending: bool = False


def parse_order(order_by: Any, model: ModelSpec) -> list[OrderItem]:
    items: list[OrderItem] = []
    for i, raw in enumerate(_as_list(order_by)):
        for name, desc in _entries(raw, f"order_by[{i}]"):
            items.append(_checked(name, desc, model, f"order_by[{i}]"))
    names = {item.field for item in items}
    if model.primary_key is None:  # no key: every orderable field breaks ties (rows equal in all of them tie)
        items += [OrderItem(f.name, False) for f in model.fields.values() if f.type.comparable and f.name not in names]
    elif model.primary_key not in names:
        items.append(OrderItem(model.primary_key, False))
    return items


def _as_list(order_by: Any) -> list:
    if order_by is None or order_by == "" or order_by == []:
        return []
    if isinstance(order_by, (str, dict, tuple)):
        return [order_by]
    if isinstance(order_by, list):
        return order_by
    raise FilterError(f"order_by must be a string, list or dict, got {type(order_by).__name__}", path="order_by")


def _direction(value: Any, path: str) -> bool:
    key = str(value).strip().lower()
    if key not in _DIRECTIONS:
        raise FilterError(f"invalid sort direction {value!r}; valid: 1, -1, 'asc', 'desc'", path=path)
    return _DIRECTIONS[key]


def _entries(raw: Any, path: str) -> list[tuple[str, bool]]:
    if isinstance(raw, str):
        text = raw.strip()
        parts = text.split()
        if len(parts) == 2:
            return [(parts[0], _direction(parts[1], path))]
        if len(parts) != 1:
            raise FilterError(f"cannot read sort key {raw!r}; write 'name', '-name' or 'name desc'", path=path)
        if text.startswith("-"):
            return [(text[1:], True)]
        return [(text.lstrip("+"), False)]
    if isinstance(raw, (tuple, list)) and len(raw) == 2 and isinstance(raw[0], str):
        return [(raw[0], _direction(raw[1], path))]
    if isinstance(raw, dict):
        if "field" in raw:
            extra = set(raw) - {"field", "order", "direction"}
            if extra:
                raise FilterError(f"unknown sort key(s) {sorted(extra)}; valid: field, order, direction", path=path)
            return [(raw["field"], _direction(raw.get("order", raw.get("direction", "asc")), path))]
        return [(name, _direction(d, f"{path}.{name}")) for name, d in raw.items()]
    raise FilterError(f"cannot read sort key {raw!r}", path=path)


def _checked(name: Any, desc: bool, model: ModelSpec, path: str) -> OrderItem:
    spec = model.fields.get(name) if isinstance(name, str) else None
    if spec is None:
        raise FilterError(f"unknown field {name!r} in order_by; fields: {', '.join(model.fields)}", path=path)
    if not spec.type.comparable:
        raise FilterError(f"field {name!r} ({spec.kind}) cannot be ordered", path=path)
    return OrderItem(name, desc)
