"""What values mean to the filter language: kinds, equality, order, LIKE patterns, JSON path lookup.

The operator table (:mod:`.operators`) builds every operator's reference semantics from these; the
SQLite backend's SQL functions call them too, so both read values the same way.
"""

from __future__ import annotations

import decimal
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from . import patterns

if TYPE_CHECKING:
    from .ast import FieldRef


def kind_of(value: Any) -> str | None:
    """The comparison class of a value, or None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, decimal.Decimal)):
        return "number"
    return type(value).__name__


def lookup(row: dict, ref: FieldRef) -> Any:
    """The value ``ref`` names in ``row``; a digit segment indexes an array, others are object keys."""
    value = row.get(ref.name)
    for seg in ref.path:
        if isinstance(value, dict) and not seg.isdigit():
            value = value.get(seg)
        elif isinstance(value, list) and seg.isdigit() and int(seg) < len(value):
            value = value[int(seg)]
        else:
            return None
    return value


@lru_cache(maxsize=512)
def like_regex(pattern: str, ignore_case: bool) -> re.Pattern:
    """A ``$like`` pattern as a Python regex to ``fullmatch``: ``%`` any run, ``_`` one character, ``\\`` escapes."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.S | (re.I if ignore_case else 0))


def like(value: Any, pattern: str, ignore_case: bool) -> bool:
    if not isinstance(value, str):
        return False
    if ignore_case:
        return like_regex(pattern.lower(), True).fullmatch(value.lower()) is not None
    return like_regex(pattern, False).fullmatch(value) is not None


def same(a: Any, b: Any) -> bool:
    """Equal and of the same kind (``1`` is not ``True``, ``"3"`` is not ``3``); null equals nothing."""
    return a is not None and b is not None and kind_of(a) == kind_of(b) and a == b


def ordered(a: Any, b: Any, op: str) -> bool:
    """``a <op> b`` for ``gt gte lt lte``: false for nulls, mixed kinds, objects and arrays."""
    if a is None or b is None or kind_of(a) != kind_of(b):
        return False
    if isinstance(a, (dict, list)):
        return False
    if op == "gt":
        return a > b
    if op == "gte":
        return a >= b
    if op == "lt":
        return a < b
    return a <= b


def member(value: Any, items: tuple) -> bool:
    """``$in``: equal to one item; a ``None`` item matches a null."""
    return any(value is None if item is None else same(value, item) for item in items)


def regex_search(pattern: str, value: Any, options: str) -> bool:
    """``$regex``: an unanchored search with Python ``re`` syntax; ``options`` ``"i"`` ignores case.

    Runs within the time bound of :mod:`.patterns` (``RegexTimeoutError`` past it)."""
    return isinstance(value, str) and patterns.search(pattern, value, options)


def array_has(value: Any, element: Any) -> bool:
    """``$contains`` on JSON: ``value`` is an array with an element equal to ``element`` (same kind)."""
    return isinstance(value, list) and any(same(item, element) for item in value)
