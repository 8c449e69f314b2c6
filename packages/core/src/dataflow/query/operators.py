"""The operator table of the filter language, and the registry plugins extend.

Every field operator is one :class:`Operator` entry: how its operand is checked (the parser calls
``validate``), what it means (the reference evaluator calls ``evaluate``) and how docs/filters.md
describes it (``tests/test_docs.py`` keeps that page's table equal to :func:`doc_rows`). Each dialect
family compiles it with one method named ``op_<name>``: ``dataflow.sql.compiler.FilterCompiler`` for SQL
backends, ``dataflow_mongo.compiler.FilterCompiler`` for MongoDB. Logical operators (``$and $or $nor
$not``) and a field-level ``$not`` are syntax, read by the parser.

Plugin operators (``dataflow_register_operators``) enter the same table through
:class:`OperatorRegistry`, carrying their compile functions with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import PluginError
from . import operands as check
from . import semantics as means
from .ast import Cmp

LOGICAL = ("and", "or", "nor", "not")
COMPARISON = ("eq", "ne", "gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class Operator:
    """One field operator of the table."""

    name: str
    """Without the ``$``."""
    validate: Callable[[Any, Any], Any]
    """``(operand, FieldRef) -> canonical operand``; raises FilterError."""
    evaluate: Callable[[Any, Cmp], bool]
    """``(value of the field or path, the comparison) -> bool``: the reference semantics."""
    operand: str = ""
    fields: str = ""
    meaning: str = ""
    """The three descriptive columns of docs/filters.md's table."""
    options: str = ""
    """Letters ``$options`` may hold beside this operator (``$regex``: ``"i"``)."""
    compilers: dict[str, Callable[..., Any]] = field(default_factory=dict, compare=False)
    """Plugin operators only: backend name (or ``"sql"`` for every SQL backend) -> compile function
    ``(column expression, operand, ref) -> backend expression``. Core operators compile in each family's
    ``op_<name>`` method instead."""


def _eq(value: Any, c: Cmp) -> bool:
    return value is None if c.value is None else means.same(value, c.value)


def _contains(value: Any, c: Cmp) -> bool:
    if isinstance(value, str) and not c.ref.is_json_path and c.ref.field.kind == "str":
        return c.value in value
    return means.array_has(value, c.value)


CORE: tuple[Operator, ...] = (
    Operator("eq", check.value_or_null, _eq,
             "a value of the field's type, or `null`", "any; JSON only through a path",
             'equals the operand (`{"f": v}` is the same); `null`: is null'),
    Operator("ne", check.value_or_null, lambda v, c: not _eq(v, c),
             "a value, or `null`", "as `$eq`",
             "does not equal the operand, **nulls included**; `null`: is not null"),
    Operator("gt", check.value_not_null, lambda v, c: means.ordered(v, c.value, "gt"),
             "a value (not `null`)", "comparable types (not JSON objects or arrays)",
             "is greater than the operand; never a null"),
    Operator("gte", check.value_not_null, lambda v, c: means.ordered(v, c.value, "gte"),
             "a value (not `null`)", "as `$gt`", "is greater than or equal to the operand; never a null"),
    Operator("lt", check.value_not_null, lambda v, c: means.ordered(v, c.value, "lt"),
             "a value (not `null`)", "as `$gt`", "is less than the operand; never a null"),
    Operator("lte", check.value_not_null, lambda v, c: means.ordered(v, c.value, "lte"),
             "a value (not `null`)", "as `$gt`", "is less than or equal to the operand; never a null"),
    Operator("in", check.value_list("in"), lambda v, c: means.member(v, c.value),
             "a list (may contain `null`; `[]` matches nothing)", "as `$eq`", "equals one of the items"),
    Operator("nin", check.value_list("nin"), lambda v, c: not means.member(v, c.value),
             "a list", "as `$eq`", "equals none of the items, **nulls included** unless the list holds `null`"),
    Operator("like", check.like_pattern("like"), lambda v, c: means.like(v, c.value, False),
             "a pattern string", "text, or a JSON path holding text",
             "matches the whole value; `%` any run, `_` one character, `\\` escapes; case-sensitive"),
    Operator("ilike", check.like_pattern("ilike"), lambda v, c: means.like(v, c.value, True),
             "a pattern string", "as `$like`", "as `$like`, ignoring case"),
    Operator("regex", check.regex_pattern, lambda v, c: means.regex_search(c.value, v, c.options),
             "a Python `re` pattern", "as `$like`", "contains a match (unanchored; use `^`/`$`)", options="i"),
    Operator("contains", check.contains_operand, _contains,
             "text: a string; JSON: one scalar", "text, JSON arrays, JSON paths",
             "text: holds the substring; JSON array: has an element equal to the operand"),
    Operator("exists", check.flag("exists"), lambda v, c: (v is not None) == c.value,
             "`true` / `false`", "any", "`true`: is not null; `false`: is null"),
    Operator("null", check.flag("null"), lambda v, c: (v is None) == c.value,
             "`true` / `false`", "any", "`true`: is null; `false`: is not null"),
)

#: rows of docs/filters.md's table that are syntax rather than operators: (first cell, operand, fields, meaning)
SYNTAX_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("`$options`", '`"i"`', "only beside `$regex`", "(makes `$regex` ignore case)"),
    ("`$not`", 'an operator dict, e.g. `{"$gt": 5}`', "any", "does not satisfy it, **nulls included**"),
    ("`$and`", "a list of filters", "(logical)", "every filter matches"),
    ("`$or`", "a list of filters", "(logical)", "at least one filter matches"),
    ("`$nor`", "a list of filters", "(logical)", "no filter matches"),
    ("`$not` (top level)", "a filter", "(logical)", "the filter does not match, nulls included"),
)

CORE_FIELD_OPS = tuple(op.name for op in CORE) + ("not",)


def doc_rows() -> list[str]:
    """docs/filters.md's operator table, row by row, as the table says it."""
    rows = [(f"`${op.name}`", op.operand, op.fields, op.meaning) for op in CORE]
    return ["| " + " | ".join(cells) + " |" for cells in (*rows, *SYNTAX_ROWS)]


@dataclass
class OperatorSpec:
    """A field operator added by a plugin; :meth:`OperatorRegistry.add` turns it into a table entry."""

    name: str
    validate: Callable[[Any, Any], Any]
    """``(value, FieldRef) -> canonical value``; raise FilterError on bad input."""
    evaluate: Callable[[Any, Any], bool]
    """``(field value, operand) -> bool``: the reference semantics."""
    compilers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    """backend name (or ``"sql"``: every SQL backend) -> ``(column_expression, operand, ref) -> backend expression``."""


class OperatorRegistry:
    """The operator table of one plugin host: the core operators, then plugins'; a second claim on a name
    is an error."""

    def __init__(self) -> None:
        self._ops: dict[str, Operator] = {op.name: op for op in CORE}

    def add(self, spec: OperatorSpec | Operator) -> None:
        name = spec.name.lstrip("$")
        if name in self._ops or name in LOGICAL or name == "options":
            raise PluginError(f"filter operator ${name} is already defined")
        if isinstance(spec, OperatorSpec):
            spec.name = name
            evaluate = spec.evaluate
            spec = Operator(name, spec.validate, lambda value, c: evaluate(value, c.value), compilers=spec.compilers)
        self._ops[name] = spec

    def add_compiler(self, name: str, backend: str, fn: Callable[..., Any]) -> None:
        op = self._ops[name.lstrip("$")]
        if op.name in CORE_FIELD_OPS:
            raise PluginError(f"${op.name} is a core operator: it compiles in each backend family's op_{op.name}")
        if backend in op.compilers:
            raise PluginError(f"operator ${op.name} already has a compiler for backend {backend!r}")
        op.compilers[backend] = fn

    def get(self, name: str) -> Operator | None:
        return self._ops.get(name)

    def names(self) -> list[str]:
        """Every field operator's name (without ``$``), core first."""
        return list(self._ops)

    def __iter__(self) -> Iterator[Operator]:
        return iter(self._ops.values())


CORE_REGISTRY = OperatorRegistry()
"""The table without plugins (what ``parse_filter`` and ``evaluate`` use when given no registry)."""


def field_operator_names(registry: OperatorRegistry | None) -> list[str]:
    return ["$" + n for n in (registry or CORE_REGISTRY).names()] + ["$not", "$options"]
