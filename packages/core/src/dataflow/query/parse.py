"""Parse a MongoDB-style filter dict into a typed expression, validating everything.

Errors say where (``$and[1].age.$gtt``) and what is valid; nothing falls back
silently. One parser serves every node, the express API and every backend.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ..errors import FieldTypeError, FilterError, UnsupportedOperatorError
from ..model import ModelSpec
from .ast import TRUE, And, Cmp, Expr, FieldRef, Not, Or
from .operators import COMPARISON, LOGICAL, REGEX_OPTIONS, OperatorRegistry, field_operator_names

JSON_SCALARS = (str, int, float, bool, type(None))
_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9_\-]+$")


def _iso(text: str, kind: str, path: str) -> Any:
    try:
        if kind == "date":
            return dt.date.fromisoformat(text)
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FilterError(f"invalid ISO-8601 {kind} {text!r}", path=path) from None


def _close_escape(pattern: str) -> str:
    """A pattern ending in a lone ``\\`` means a literal backslash; spell it so every database agrees."""
    trailing = len(pattern) - len(pattern.rstrip("\\"))
    return pattern + "\\" if trailing % 2 else pattern


def parse_filter(filter: Any, model: ModelSpec, operators: OperatorRegistry | None = None) -> Expr:
    """``filter`` (dict or None) → :class:`Expr`. ``None`` and ``{}`` match every row."""
    if filter is None:
        return TRUE
    if not isinstance(filter, dict):
        raise FilterError(f"filter must be a dict, got {type(filter).__name__}", path="filter")
    return _Parser(model, operators)._document(filter, "")


class _Parser:
    def __init__(self, model: ModelSpec, operators: OperatorRegistry | None) -> None:
        self.model = model
        self.operators = operators

    # -- documents and logical operators ------------------------------------------------

    def _document(self, doc: dict, path: str) -> Expr:
        items: list[Expr] = []
        for key, value in doc.items():
            here = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                raise FilterError(f"filter keys must be strings, got {key!r}", path=path or "filter")
            if key.startswith("$"):
                items.append(self._logical(key, value, here))
            else:
                items.append(self._field(key, value, here))
        return items[0] if len(items) == 1 else And(tuple(items))

    def _logical(self, key: str, value: Any, path: str) -> Expr:
        op = key[1:]
        if op not in LOGICAL:
            raise UnsupportedOperatorError(key, path, ["$" + o for o in LOGICAL] + ["<field name>"])
        if op == "not":
            if not isinstance(value, dict) or not value:
                raise FilterError("$not takes a non-empty filter dict", path=path)
            return Not(self._document(value, path))
        if not isinstance(value, (list, tuple)) or not value:
            raise FilterError(f"{key} takes a non-empty list of filter dicts", path=path)
        parts = []
        for i, sub in enumerate(value):
            if not isinstance(sub, dict):
                raise FilterError(f"{key} items must be filter dicts, got {type(sub).__name__}", path=f"{path}[{i}]")
            parts.append(self._document(sub, f"{path}[{i}]") if sub else TRUE)
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
            if spec.kind != "json":
                raise FilterError(f"field {name!r} is {spec.kind}, not JSON: dotted paths need a dict/list field", path=path)
            for seg in segments:
                if not _PATH_SEGMENT.match(seg):
                    raise FilterError(f"invalid JSON path segment {seg!r} (letters, digits, '_' and '-')", path=path)
        return FieldRef(spec, tuple(segments))

    def _field(self, key: str, value: Any, path: str) -> Expr:
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
            return self._operators(ref, value, path)
        return self._cmp(ref, "eq", value, path)

    def _operators(self, ref: FieldRef, ops: dict, path: str) -> Expr:
        options = ops.get("$options")
        if options is not None and "$regex" not in ops:
            raise FilterError("$options is only valid together with $regex", path=f"{path}.$options")
        items: list[Expr] = []
        for key, value in ops.items():
            if key == "$options":
                continue
            here = f"{path}.{key}"
            op = key[1:]
            if op == "not":
                if isinstance(value, dict) and value and all(str(k).startswith("$") for k in value):
                    items.append(Not(self._operators(ref, value, here)))
                else:
                    raise FilterError("field-level $not takes an operator dict such as {'$gt': 5}", path=here)
            elif op == "regex":
                items.append(self._regex(ref, value, options, here))
            else:
                items.append(self._cmp(ref, op, value, here))
        return items[0] if len(items) == 1 else And(tuple(items))

    # -- single comparisons ------------------------------------------------------------------

    def _cmp(self, ref: FieldRef, op: str, value: Any, path: str) -> Cmp:
        if op in COMPARISON:
            return Cmp(ref, op, self._value(ref, value, path, allow_none=op in ("eq", "ne")))
        if op in ("in", "nin"):
            if not isinstance(value, (list, tuple, set, frozenset)):
                raise FilterError(f"${op} takes a list, got {type(value).__name__}", path=path)
            items = tuple(self._value(ref, v, f"{path}[{i}]", allow_none=True) for i, v in enumerate(value))
            return Cmp(ref, op, items)
        if op in ("like", "ilike"):
            self._text_field(ref, op, path)
            if not isinstance(value, str):
                raise FilterError(f"${op} takes a string pattern, got {type(value).__name__}", path=path)
            return Cmp(ref, op, _close_escape(value))
        if op == "contains":
            return Cmp(ref, op, self._contains_value(ref, value, path))
        if op in ("exists", "null"):
            if not isinstance(value, bool):
                raise FilterError(f"${op} takes true or false, got {value!r}", path=path)
            return Cmp(ref, op, value)
        spec = self.operators.get(op) if self.operators else None
        if spec is None:
            raise UnsupportedOperatorError("$" + op, path, field_operator_names(self.operators))
        return Cmp(ref, op, spec.validate(value, ref))

    def _regex(self, ref: FieldRef, value: Any, options: Any, path: str) -> Cmp:
        self._text_field(ref, "regex", path)
        if not isinstance(value, str):
            raise FilterError(f"$regex takes a pattern string, got {type(value).__name__}", path=path)
        options = options or ""
        if not isinstance(options, str) or set(options) - set(REGEX_OPTIONS):
            raise FilterError(f"unsupported $options {options!r}; valid: {', '.join(REGEX_OPTIONS)}", path=path)
        try:
            re.compile(value)
        except re.error as exc:
            raise FilterError(f"invalid regular expression {value!r}: {exc}", path=path) from None
        return Cmp(ref, "regex", value, options=options)

    def _text_field(self, ref: FieldRef, op: str, path: str) -> None:
        if not ref.is_json_path and ref.field.kind != "str":
            raise FilterError(f"${op} needs a text field; {ref.name!r} is {ref.field.kind}", path=path)

    def _contains_value(self, ref: FieldRef, value: Any, path: str) -> Any:
        if ref.is_json_path or (ref.field.kind == "json" and ref.field.type.options.get("shape") != "dict"):
            if not isinstance(value, JSON_SCALARS) or value is None:
                raise FilterError("$contains on JSON takes one scalar element (str, number or bool)", path=path)
            return value
        if ref.field.kind == "str":
            if not isinstance(value, str):
                raise FilterError(f"$contains on text takes a string, got {type(value).__name__}", path=path)
            return value
        raise FilterError(
            f"$contains needs a text or JSON array field; {ref.name!r} is {ref.field.kind}"
            f"{' (object): use a dotted path' if ref.field.kind == 'json' else ''}",
            path=path,
        )

    def _value(self, ref: FieldRef, value: Any, path: str, allow_none: bool) -> Any:
        if value is None:
            if allow_none:
                return None
            raise FilterError("comparison with null is not allowed; use $null or $exists", path=path)
        if ref.is_json_path:
            if not isinstance(value, JSON_SCALARS):
                raise FilterError(f"JSON path values must be str, number or bool, got {type(value).__name__}", path=path)
            return value
        if ref.field.kind == "json":
            raise FilterError(
                f"field {ref.name!r} is JSON: compare inside it with a dotted path ('{ref.name}.key') or $contains",
                path=path,
            )
        if isinstance(value, str) and ref.field.kind in ("datetime", "date"):
            value = _iso(value, ref.field.kind, path)  # queries often arrive as text; stored values may not
        try:
            return ref.field.type.coerce(value)
        except FieldTypeError as exc:
            raise FilterError(f"invalid value for field {ref.name!r}: {exc.message}", path=path) from None
