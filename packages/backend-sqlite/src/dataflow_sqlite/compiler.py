"""SQLite specifics of filter compilation: Python-backed regex/ilike, native JSON1 paths.

SQLite's LIKE and its JSON functions read text up to the first NUL (``json_extract`` returns ``'a'`` for
``"a\\u0000b"``, ``'a\\x00b' LIKE 'a'`` is true), so wherever a value may hold a NUL the exact Python
function of :mod:`.functions` decides instead; other rows keep the native, indexable SQL.
"""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

import sqlalchemy as sa
from dataflow.query.ast import FieldRef
from dataflow.sql.compiler import FilterCompiler

JSON_KINDS = {"str": ("text",), "number": ("integer", "real"), "bool": ("true", "false")}
NUL = "\x00"
JSON_NUL = "\\u0000"  # how a NUL is written inside a JSON document's text
LONG_LIST = 64


def json_path(ref: FieldRef) -> str:
    """``meta.tags.0`` → ``$."tags"[0]``: digits index arrays, other segments are keys."""
    return "$" + "".join(f"[{s}]" if s.isdigit() else f'."{s}"' for s in ref.path)


def like_prefix(pattern: str) -> str:
    """The literal text every match of a ``$like`` pattern starts with (``ab\\%c%`` → ``ab%c``)."""
    out, i = [], 0
    while i < len(pattern) and pattern[i] not in "%_":
        if pattern[i] == "\\" and i + 1 < len(pattern):
            i += 1
        out.append(pattern[i])
        i += 1
    return "".join(out)


def _json_exact(value: Any) -> bool:
    """Whether ``json_each`` gives ``value`` back as the same SQLite value."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str)


def _each(values: list) -> Any:
    """``(SELECT value FROM json_each(?))`` over ``values``, bound as one JSON text."""
    return sa.select(sa.column("value")).select_from(sa.func.json_each(_text(json.dumps(values)))).scalar_subquery()


def _text(value: str) -> Any:
    return sa.literal(value, type_=sa.types.NullType())


class SQLiteFilterCompiler(FilterCompiler):
    @property
    def max_bind_params(self) -> int:  # type: ignore[override]
        """This build's SQLITE_MAX_VARIABLE_NUMBER (32,766 by default since SQLite 3.32; some builds allow more)."""
        try:
            return self.backend.open_sync().getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - Python 3.10 has no getlimit
            return 32766

    def comparable(self, ref: FieldRef) -> Any:
        col = self.column(ref)
        return col.collate("dataflow_decimal") if ref.field.kind == "decimal" else col

    def in_list(self, ref: FieldRef, col: Any, values: list) -> Any:
        """A long list is one JSON parameter, ``col IN (SELECT value FROM json_each(?))`` (SQLite takes at most
        32,766 parameters), when JSON carries every value exactly (text, 64-bit integers, finite floats)."""
        encoded = [self.encode(ref.field.kind, v) for v in values]
        if len(values) <= LONG_LIST or not all(_json_exact(v) for v in encoded):
            return super().in_list(ref, col, values)
        return col.in_(_each(encoded))

    def json_in(self, ref: FieldRef, kind: str | None, values: list) -> Any:
        operands = [int(v) if isinstance(v, bool) else v for v in values]
        if len(values) <= LONG_LIST or not all(_json_exact(v) for v in operands):
            return super().json_in(ref, kind, values)
        return self.json_scalar(ref, kind).in_(_each(operands))

    def like(self, col: Any, pattern: str) -> Any:
        exact = sa.func.dataflow_like(col, pattern) == 1
        if NUL in pattern:
            return exact
        native = sa.case((sa.func.instr(col, _text(NUL)) > 0, exact), else_=col.like(pattern, escape="\\"))
        prefix = like_prefix(pattern)
        if not prefix or not isinstance(col, sa.Column) or prefix[-1] == chr(0x10FFFF):
            return native
        # what SQLite's LIKE optimization would add: an index range on the literal prefix
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        return sa.and_(col >= _text(prefix), col < _text(upper), native)

    def ilike(self, col: Any, pattern: str) -> Any:
        return sa.func.dataflow_ilike(col, pattern) == 1

    def regex_match(self, col: Any, pattern: str, ignore_case: bool) -> Any:
        return sa.func.dataflow_regexp(col, pattern, "i" if ignore_case else "") == 1

    def text_contains(self, col: Any, value: str) -> Any:
        return sa.func.instr(col, value) > 0

    def _path(self, ref: FieldRef) -> Any:
        return sa.literal(json_path(ref), type_=sa.types.NullType())

    def json_present(self, ref: FieldRef) -> Any:
        return sa.func.coalesce(sa.func.json_type(self.column(ref), self._path(ref)), "null") != "null"

    def json_is_kind(self, ref: FieldRef, kind: str | None) -> Any:
        return sa.func.json_type(self.column(ref), self._path(ref)).in_(JSON_KINDS[kind])

    def json_scalar(self, ref: FieldRef, kind: str | None) -> Any:
        if kind == "str":
            return self.json_text(ref)
        return sa.func.json_extract(self.column(ref), self._path(ref))

    def json_text(self, ref: FieldRef) -> Any:
        """The string at the path, exact: read in Python when the document holds a NUL somewhere."""
        doc = self.column(ref)
        exact = sa.func.dataflow_json_text(doc, ".".join(ref.path))
        return sa.case((sa.func.instr(doc, _text(JSON_NUL)) > 0, exact),
                       else_=sa.func.json_extract(doc, self._path(ref)))

    def json_contains(self, ref: FieldRef, value: Any) -> Any:
        return (
            sa.func.dataflow_json_contains(
                self.column(ref), ".".join(ref.path), sa.literal(json.dumps(value), type_=sa.types.NullType())
            )
            == 1
        )
