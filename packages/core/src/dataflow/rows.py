"""Validating records before they reach a backend: the one place values are checked.

A :class:`RowWriter` per model knows every field's coercion, default and
nullability. Errors name the field, the record index (for bulk input) and
what is valid; nothing is written when any record is bad.
"""

from __future__ import annotations

import datetime as dt
import operator
from math import isfinite
from typing import Any

from .errors import FieldTypeError, MissingFieldError, UnknownFieldError, ValidationError
from .fieldtypes import INT64_MAX, INT64_MIN
from .model import MANAGED_FIELDS, ModelSpec

UTC = dt.timezone.utc
_MISSING = object()
_MISSING_TYPE = type(_MISSING)
#: kinds whose canonical Python type needs no further check (int needs its 64-bit range check)
_EXACT = {"str": str, "float": float, "bool": bool}


def now() -> dt.datetime:
    return dt.datetime.now(UTC)


# --- text every database can store ----------------------------------------------------------------------

SURROGATE = "a lone surrogate (a code point U+D800-U+DFFF, not valid Unicode text; no database can store it)"
NUL = "a NUL character (\\x00), which this database cannot store in text"
NUL_KEY = "a JSON key with a NUL character (\\x00), which MongoDB and PostgreSQL cannot store"


def text_problem(text: str, nul_ok: bool) -> str | None:
    """Why ``text`` cannot be stored (a lone surrogate, or NUL where the database has none), or None."""
    if not nul_ok and "\x00" in text:
        return NUL
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE
    return None


def nested_text_problem(value: Any, nul_ok: bool) -> str | None:
    """:func:`text_problem` of every string inside a JSON value; keys never hold NUL (on no backend, so that
    every backend stores the same documents)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item, nul_ok)
            if problem:
                return problem
        elif isinstance(item, dict):
            for key in item:
                if isinstance(key, str) and "\x00" in key:
                    return NUL_KEY
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def printable(text: str) -> str:
    """``text`` safe to print or log (a lone surrogate becomes ``\\ud800``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def filter_text_problem(raw: Any, nul_ok: bool, path: str = "") -> tuple[str, str] | None:
    """``(path, problem)`` of the first key or value of a raw filter that no database could compare, or None."""
    stack: list[tuple[Any, str]] = [(raw, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item, nul_ok)
            if problem:
                return where or "filter", problem
        elif isinstance(item, dict):
            for key, value in item.items():
                inner = f"{where}.{printable(key)}" if where and isinstance(key, str) else (
                    printable(key) if isinstance(key, str) else f"{where}[{key!r}]")
                if isinstance(key, str):
                    problem = text_problem(key, nul_ok)
                    if problem:
                        return inner, problem
                stack.append((value, inner))
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
    return None


class RowWriter:
    """Checks and completes records for one model."""

    def __init__(self, model: ModelSpec, text_nul: bool = True) -> None:
        self.model = model
        self.text_nul = text_nul
        self.writable = {f.name: f for f in model.user_fields}
        self.plan = [
            (f.name, f.type.coerce, f.nullable, f.has_default, f.primary_key, f, _EXACT.get(f.kind))
            for f in model.user_fields
        ]
        self.pk = model.pk
        self.auto_id = model.pk.kind == "int"
        self.exact = {f.name: int if f.kind == "int" else _EXACT.get(f.kind) for f in model.user_fields}

    def where(self, index: int | None) -> str:
        return f"{self.model.name}" if index is None else f"{self.model.name} record at index {index}"

    def check_keys(self, record: Any, index: int | None) -> None:
        if not isinstance(record, dict):
            raise ValidationError(f"{self.where(index)}: expected a dict of field values, got {type(record).__name__}")
        for key in record:
            if key not in self.writable:
                self.unknown(key, index)

    def unknown(self, key: Any, index: int | None) -> None:
        if key in MANAGED_FIELDS and key in self.model.fields:
            raise ValidationError(f"{self.where(index)}: {key!r} is managed by DataFlow and cannot be written")
        raise UnknownFieldError(
            f"{self.where(index)}: unknown field {key!r}; fields: {', '.join(self.writable)}", field=key
        )

    def coerce(self, name: str, value: Any, index: int | None = None) -> Any:
        spec = self.writable.get(name)
        if spec is None:
            self.unknown(name, index)
        if value is None:
            if spec.nullable:
                return None
            raise FieldTypeError(f"{self.where(index)}: field {name!r} cannot be null")
        try:
            value = spec.type.coerce(value)
        except FieldTypeError as exc:
            raise FieldTypeError(f"{self.where(index)}: field {name!r}: {exc.message}", field=name) from None
        self._check_text(name, value, index)
        return value

    def new_row(self, record: dict, index: int | None = None, stamp: dt.datetime | None = None) -> dict:
        """A complete row for INSERT: every field present, defaults applied, values coerced."""
        self.check_keys(record, index)
        row: dict[str, Any] = {}
        missing = []
        for name, coerce, nullable, has_default, is_pk, spec, exact in self.plan:
            value = record.get(name, _MISSING)
            if type(value) is exact and (exact is not float or isfinite(value)):  # already canonical
                if exact is str and (not self.text_nul or not value.isascii()):
                    self._check_text(name, value, index)
                row[name] = value
                continue
            if value is _MISSING:
                if (is_pk and self.auto_id) or spec.server_default:
                    continue
                if has_default:
                    value = spec.default_value()
                elif nullable:
                    row[name] = None
                    continue
                else:
                    missing.append(name)
                    continue
            if value is None:
                if not nullable:
                    raise FieldTypeError(f"{self.where(index)}: field {name!r} cannot be null")
                row[name] = None
                continue
            try:
                row[name] = coerce(value)
            except FieldTypeError as exc:
                raise FieldTypeError(f"{self.where(index)}: field {name!r}: {exc.message}", field=name) from None
            self._check_text(name, row[name], index)
        if missing:
            raise MissingFieldError(
                f"{self.where(index)}: missing required field(s) {', '.join(missing)}", fields=missing
            )
        if self.model.timestamps:
            stamp = stamp or now()
            row["created_at"] = stamp
            row["updated_at"] = stamp
        return row

    def new_columns(self, records: list, stamp: dt.datetime) -> tuple[list[str], list[list]] | None:
        """Bulk fast path: validate column by column with C-level loops.

        Returns ``(columns, values per column)`` when every value is already
        canonical (or needs only a cheap coercion), else None: the caller then
        runs :meth:`new_row` per record, which raises the precise error.
        """
        if not records or set(map(type, records)) != {dict}:
            return None
        keys = set().union(*records)
        if not keys <= self.writable.keys():
            return None
        # every record has every key: each column is one C-level pass (no per-record tuples, which would
        # also wake the garbage collector over the caller's records again and again)
        uniform = set(map(len, records)) == {len(keys)}
        columns: list[str] = []
        values: list[list] = []
        for name, coerce, nullable, has_default, is_pk, spec, exact in self.plan:
            if name not in keys:
                col = [_MISSING] * len(records)
            elif uniform:
                col = list(map(operator.itemgetter(name), records))
            else:
                col = [r.get(name, _MISSING) for r in records]
            kinds = set(map(type, col))
            if _MISSING_TYPE in kinds:
                if is_pk and self.auto_id:
                    if kinds == {_MISSING_TYPE}:
                        continue  # the database numbers them
                    return None  # some records carry an id and some do not
                if spec.server_default:
                    if kinds == {_MISSING_TYPE}:
                        continue  # the database fills it
                    return None
                if not has_default and not nullable:
                    return None
                if has_default:
                    default = spec.default_value
                    col = [default() if v is _MISSING else v for v in col]
                else:
                    col = [None if v is _MISSING else v for v in col]
                kinds = set(map(type, col))
            if type(None) in kinds:
                if not nullable:
                    return None
                kinds.discard(type(None))
            if exact is not None and kinds <= {exact}:
                present = col if nullable is False else [v for v in col if v is not None]
                if exact is str and text_problem("".join(present), self.text_nul):
                    return None  # new_row names the record
                if exact is float and not isfinite(sum(present)) and not all(map(isfinite, present)):
                    return None  # (a finite sum means every term is finite)
            elif spec.kind == "int" and kinds <= {int}:
                present = [v for v in col if v is not None] if nullable else col
                if present and (min(present) < INT64_MIN or max(present) > INT64_MAX):
                    return None
            else:
                try:
                    col = [None if v is None else coerce(v) for v in col]
                except Exception:
                    return None
                if spec.kind in ("str", "json") and any(self._text_problem(v) for v in col if v is not None):
                    return None
            columns.append(name)
            values.append(col)
        if self.model.timestamps:
            columns += ["created_at", "updated_at"]
            values += [[stamp] * len(records), [stamp] * len(records)]
        return columns, values

    def _text_problem(self, value: Any) -> str | None:
        if isinstance(value, str):
            return text_problem(value, self.text_nul)
        if isinstance(value, (dict, list)):
            return nested_text_problem(value, self.text_nul)
        return None

    def _check_text(self, name: str, value: Any, index: int | None) -> None:
        problem = self._text_problem(value)
        if problem:
            raise self._bad_text(name, index, problem)

    def _bad_text(self, name: str, index: int | None, problem: str | None) -> FieldTypeError:
        return FieldTypeError(f"{self.where(index)}: field {name!r} contains {problem}", field=name)

    def changes(self, values: dict, index: int | None = None) -> dict:
        """Coerced values for UPDATE; the key and managed fields cannot change."""
        if not isinstance(values, dict):
            raise ValidationError(f"{self.where(index)}: update values must be a dict, got {type(values).__name__}")
        out = {}
        exact_types, pk, ascii_ok = self.exact, self.model.primary_key, self.text_nul
        for name, value in values.items():
            exact = exact_types.get(name)
            if type(value) is exact and name != pk and (
                    (exact is str and ascii_ok and value.isascii()) or (exact is float and isfinite(value))
                    or exact is bool or (exact is int and INT64_MIN <= value <= INT64_MAX)):
                out[name] = value  # already canonical (as in new_row)
                continue
            if name == pk:
                raise ValidationError(f"{self.where(index)}: the primary key {name!r} cannot be changed")
            out[name] = self.coerce(name, value, index)
        return out

    def keys(self, values: Any) -> tuple:
        """Many keys (BulkDelete ids): integer keys already canonical are checked in C-level passes."""
        values = tuple(values)
        if (self.pk.kind == "int" and values and set(map(type, values)) == {int}
                and INT64_MIN <= min(values) and max(values) <= INT64_MAX):
            return values
        return tuple(self.key(v) for v in values)

    def key(self, value: Any, what: str = "id") -> Any:
        if value is None:
            raise MissingFieldError(f"{self.model.name}: {what} is required")
        try:
            key = self.pk.type.coerce(value)
        except FieldTypeError as exc:
            raise FieldTypeError(f"{self.model.name}: invalid {what} {value!r}: {exc.message}") from None
        problem = self._text_problem(key)
        if problem:
            raise FieldTypeError(f"{self.model.name}: invalid {what} {printable(repr(key))}: it contains {problem}")
        return key
