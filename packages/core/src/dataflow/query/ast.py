"""Typed filter expressions. Values in a :class:`Cmp` are already validated and canonical."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from ..model import FieldSpec


@dataclass(frozen=True)
class FieldRef:
    """A model field, or a path inside a JSON field (``meta.tags.0``)."""

    field: FieldSpec
    path: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.field.name

    @property
    def dotted(self) -> str:
        return ".".join((self.field.name, *self.path))

    @property
    def is_json_path(self) -> bool:
        return bool(self.path)


@dataclass(frozen=True)
class Cmp:
    """``ref <op> value``. ``op`` is the operator name without ``$``."""

    ref: FieldRef
    op: str
    value: Any = None
    options: str = ""


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Union[Cmp, And, Or, Not]  # noqa: UP007 - a runtime alias; X | Y of forward names is not
TRUE: Expr = And(())
"""The empty conjunction: matches every row."""
