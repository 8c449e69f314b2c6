"""The operator table of the filter language, and the registry plugins extend.

Field operators apply to one field (``{"age": {"$gt": 3}}``); logical ones
combine expressions (``$and $or $nor $not``). A plugin operator brings its own
value check, its reference evaluation and a compile function per backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import PluginError

LOGICAL = ("and", "or", "nor", "not")
COMPARISON = ("eq", "ne", "gt", "gte", "lt", "lte")
CORE_FIELD_OPS = COMPARISON + ("in", "nin", "like", "ilike", "regex", "contains", "exists", "null", "not")
REGEX_OPTIONS = "i"


@dataclass
class OperatorSpec:
    """A field operator added by a plugin."""

    name: str
    validate: Callable[[Any, Any], Any]
    """``(value, FieldRef) -> canonical value``; raise FilterError on bad input."""
    evaluate: Callable[[Any, Any], bool]
    """``(field value, operand) -> bool``: the reference semantics."""
    compilers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    """backend name -> ``(column_expression, operand, ref) -> backend expression``."""


class OperatorRegistry:
    """Plugin operators by name; a second claim on a name is an error."""

    def __init__(self) -> None:
        self._ops: dict[str, OperatorSpec] = {}

    def add(self, spec: OperatorSpec) -> None:
        name = spec.name.lstrip("$")
        if name in CORE_FIELD_OPS or name in LOGICAL or name in self._ops:
            raise PluginError(f"filter operator ${name} is already defined")
        spec.name = name
        self._ops[name] = spec

    def add_compiler(self, name: str, backend: str, fn: Callable[..., Any]) -> None:
        spec = self._ops[name.lstrip("$")]
        if backend in spec.compilers:
            raise PluginError(f"operator ${spec.name} already has a compiler for backend {backend!r}")
        spec.compilers[backend] = fn

    def get(self, name: str) -> OperatorSpec | None:
        return self._ops.get(name)

    def names(self) -> list[str]:
        return list(self._ops)


def field_operator_names(registry: OperatorRegistry | None) -> list[str]:
    extra = registry.names() if registry else []
    return ["$" + n for n in (*CORE_FIELD_OPS, *extra)] + ["$options"]
