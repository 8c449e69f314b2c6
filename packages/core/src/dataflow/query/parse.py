"""Parse a MongoDB-style filter dict into a typed expression, validating everything.

Errors say where (``$and[1].age.$gtt``) and what is valid; nothing falls back
silently. One parser serves every node, the express API and every backend. The
operators and their operand checks are the table in :mod:`.operators`; this
module reads the structure around them.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import FilterError, UnsupportedOperatorError
from ..model import ModelSpec
from .ast import TRUE, And, Cmp, Expr, FieldRef, Not, Or
from .operators import CORE_REGISTRY, LOGICAL, OperatorRegistry, field_operator_names

_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]+$")
MAX_DEPTH = 20
"""How deeply ``$and $or $nor $not`` (field-level ``$not`` too) may nest: deeper filters are refused
before anything compiles (each backend's compiler and server recurse on nesting)."""
MAX_PATH_SEGMENTS = 20
"""How many segments a JSON path (``meta.a.b``) may have after the field name."""


def parse_filter(filter: Any, model: ModelSpec, operators: OperatorRegistry | None = None) -> Expr:
    """``filter`` (dict or None) → :class:`Expr`. ``None`` and ``{}`` match every row."""
    if filter is None:
        return TRUE
    if not isinstance(filter, dict):
        raise FilterError(f"filter must be a dict, got {type(filter).__name__}", path="filter")
    return _Parser(model, operators or CORE_REGISTRY)._document(filter, "", 0)


def _located(exc: FilterError, path: str) -> FilterError:
    """An operand check's error, placed at ``path`` (plus the item's place the check gave, e.g. ``[2]``)."""
    if type(exc) is not FilterError:
        return exc
    message = exc.message[: -len(f" at {exc.path}")] if exc.path else exc.message
    return FilterError(message, path=path + exc.path)


def _check_depth(depth: int, path: str) -> None:
    if depth > MAX_DEPTH:
        raise FilterError(f"filter nests $and/$or/$nor/$not more than {MAX_DEPTH} levels deep; "
                          f"flatten it (an $and or $or takes any number of items)", path=_shortened(path))


def _shortened(path: str) -> str:
    return path if len(path) <= 80 else f"{path[:40]}…{path[-30:]}"


class _Parser:
    def __init__(self, model: ModelSpec, operators: OperatorRegistry) -> None:
        self.model = model
        self.operators = operators

    # -- documents and logical operators ------------------------------------------------

    def _document(self, doc: dict, path: str, depth: int) -> Expr:
        items: list[Expr] = []
        for key, value in doc.items():
            here = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                raise FilterError(f"filter keys must be strings, got {key!r}", path=path or "filter")
            if key.startswith("$"):
                items.append(self._logical(key, value, here, depth + 1))
            else:
                items.append(self._field(key, value, here, depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def _logical(self, key: str, value: Any, path: str, depth: int) -> Expr:
        op = key[1:]
        if op not in LOGICAL:
            raise UnsupportedOperatorError(key, path, ["$" + o for o in LOGICAL] + ["<field name>"])
        _check_depth(depth, path)
        if op == "not":
            if not isinstance(value, dict) or not value:
                raise FilterError("$not takes a non-empty filter dict", path=path)
            return Not(self._document(value, path, depth))
        if not isinstance(value, (list, tuple)) or not value:
            raise FilterError(f"{key} takes a non-empty list of filter dicts", path=path)
        parts = []
        for i, sub in enumerate(value):
            if not isinstance(sub, dict):
                raise FilterError(f"{key} items must be filter dicts, got {type(sub).__name__}", path=f"{path}[{i}]")
            parts.append(self._document(sub, f"{path}[{i}]", depth) if sub else TRUE)
        if op == "and":
            return And(tuple(parts))
        if op == "or":
            return Or(tuple(parts))
        return Not(Or(tuple(parts)))

    # -- fields -----------------------------------------------------------------------------

    def _ref(self, key: str, path: str) -> FieldRef:
        name, *segments = key.split(".")
        spec = self.model.fields.get(name)
        if spec is None:
            raise FilterError(
                f"unknown field {name!r} for model {self.model.name}; fields: {', '.join(self.model.fields)}",
                path=path,
            )
        if segments:
            if len(segments) > MAX_PATH_SEGMENTS:
                raise FilterError(f"JSON path {_shortened(key)!r} has {len(segments)} segments; at most "
                                  f"{MAX_PATH_SEGMENTS} are allowed after the field name", path=_shortened(path))
            if spec.kind != "json":
                raise FilterError(
                    f"field {name!r} is {spec.kind}, not JSON: dotted paths need a dict/list field", path=path
                )
            for seg in segments:
                if not _PATH_SEGMENT.match(seg):
                    raise FilterError(f"invalid JSON path segment {seg!r} (letters, digits, '_' and '-')", path=path)
        return FieldRef(spec, tuple(segments))

    def _field(self, key: str, value: Any, path: str, depth: int) -> Expr:
        if self.model.relations and key.split(".")[0] in self.model.relations:  # a filter across a relation
            from .related import parse_related

            return parse_related(self, key, value, path, depth)
        ref = self._ref(key, path)
        if isinstance(value, dict):
            dollar = [k for k in value if isinstance(k, str) and k.startswith("$")]
            if not dollar:
                raise FilterError(
                    f"a plain dict is not a filter value; compare inside JSON with a dotted path "
                    f"('{ref.name}.key') or use operators like {{'$eq': ...}}",
                    path=path,
                )
            if len(dollar) != len(value):
                raise FilterError("cannot mix operators and plain keys in one dict", path=path)
            return self._operators(ref, value, path, depth)
        return self._cmp(ref, "eq", value, "", path)

    def _operators(self, ref: FieldRef, ops: dict, path: str, depth: int) -> Expr:
        options = self._options(ops, path)
        items: list[Expr] = []
        for key, value in ops.items():
            if key == "$options":
                continue
            here = f"{path}.{key}"
            if key == "$not":
                _check_depth(depth + 1, here)
                if isinstance(value, dict) and value and all(str(k).startswith("$") for k in value):
                    items.append(Not(self._operators(ref, value, here, depth + 1)))
                else:
                    raise FilterError("field-level $not takes an operator dict such as {'$gt': 5}", path=here)
            else:
                items.append(self._cmp(ref, key[1:], value, options, here))
        return items[0] if len(items) == 1 else And(tuple(items))

    def _options(self, ops: dict, path: str) -> str:
        """``$options`` beside an operator that takes options (``$regex``), checked against its letters."""
        options = ops.get("$options")
        if options is None:
            return ""
        takers = [op for op in (self.operators.get(k[1:]) for k in ops) if op is not None and op.options]
        if not takers:
            names = " or ".join("$" + op.name for op in self.operators if op.options)
            raise FilterError(f"$options is only valid together with {names}", path=f"{path}.$options")
        valid = takers[0].options
        if not isinstance(options, str) or set(options) - set(valid):
            raise FilterError(f"unsupported $options {options!r}; valid: {', '.join(valid)}",
                              path=f"{path}.${takers[0].name}")
        return options

    def _cmp(self, ref: FieldRef, op: str, value: Any, options: str, path: str) -> Cmp:
        spec = self.operators.get(op)
        if spec is None:
            raise UnsupportedOperatorError("$" + op, path, field_operator_names(self.operators))
        try:
            operand = spec.validate(value, ref)
        except FilterError as exc:
            raise _located(exc, path) from None
        return Cmp(ref, op, operand, options=options if spec.options else "")
