"""Filters across relationships: ``{"author": {"active": True}}``, ``{"books": {"$some": {"price": {"$gt": 20}}}}``.

A filter key that is a relation name (:mod:`dataflow.relations`) takes a filter of the related model:

* a **many-to-one** relation takes a filter dict: the related record exists and matches it;
* a **one-to-many** or **many-to-many** relation takes a quantifier: ``{"$some": filter}`` (at least one related
  record matches), ``{"$none": filter}`` (none does), ``{"$every": filter}`` (all do; true when there are none).

Nested relations nest the same way (``{"books": {"$some": {"tags": {"$some": {"label": "sci-fi"}}}}}``).
The rule against ambiguity: **a dotted key is always a JSON path**. Relation and field names share one namespace
(a relation named like a field is refused when the model is declared), so ``"author.name"`` with ``author`` a
relation is refused with the nested form to write instead. The related model's tenant and soft delete apply
inside: a relationship filter never matches through a row its own List would not show.

SQL backends compile :class:`Related` to ``EXISTS`` (:mod:`dataflow.sql.related`); other backends call
:func:`resolve` first, which turns it into key lists read with one query per relation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import FilterError
from .ast import TRUE, And, Cmp, Expr, FieldRef, Not, Or

if TYPE_CHECKING:
    from ..model import ModelSpec
    from ..relations import Relation

QUANTIFIERS = ("some", "none", "every")


@dataclass(frozen=True, eq=False)
class Related:
    """Rows whose related rows (``rel`` of ``model``) satisfy ``expr`` per ``quantifier`` (some/none/every/is).

    ``scope`` limits the related rows (tenant, soft delete), ``link_scope`` the junction rows of a
    many-to-many; both are filled by :func:`scoped`.
    """

    rel: Relation
    target: ModelSpec
    quantifier: str
    expr: Expr
    scope: Expr = TRUE
    link_scope: Expr = TRUE

    @property
    def junction(self) -> ModelSpec | None:
        return self.rel.through_spec


def parse_related(parser: Any, key: str, value: Any, path: str, depth: int) -> Expr:
    """The filter ``{key: value}`` where ``key`` names a relation of ``parser.model``."""
    from .parse import _check_depth, _Parser

    model = parser.model
    name = key.split(".")[0]
    rel = model.relations[name]
    if "." in key:
        raise FilterError(f"{name!r} is a relation of {model.name}, and a dotted key is always a JSON path; filter "
                          f"across the relation with a nested dict instead: {{{name!r}: {_example(rel, key)}}}",
                          path=path)
    missing = [m for m, spec in ((rel.target, rel.target_spec), (rel.through, rel.through_spec))
               if m and spec is None]
    if missing:
        raise FilterError(f"relation {model.name}.{name} refers to model {missing[0]}, which is not declared on this "
                          "DataFlow", path=path)
    target = rel.target_spec
    _check_depth(depth + 1, path)
    sub = _Parser(target, parser.operators)

    def document(doc: Any, here: str) -> Expr:
        if not isinstance(doc, dict):
            raise FilterError(f"a relationship filter takes a filter dict of model {target.name}, got "
                              f"{type(doc).__name__}", path=here)
        return sub._document(doc, here, depth + 1) if doc else TRUE

    if not rel.to_many:
        if isinstance(value, dict) and any(isinstance(k, str) and k[1:] in QUANTIFIERS and k[0] == "$" for k in value):
            raise FilterError(f"{name!r} is a many-to-one relation (one {target.name}): give a filter dict of "
                              f"{target.name} directly, e.g. {{{name!r}: {{'id': 1}}}}; $some/$none/$every are "
                              "for one-to-many and many-to-many relations", path=path)
        return Related(rel, target, "is", document(value, path))
    if not isinstance(value, dict) or not value or not all(isinstance(k, str) and k[1:] in QUANTIFIERS
                                                           and k[0] == "$" for k in value):
        raise FilterError(f"{name!r} relates each {model.name} to many {target.name} records: say which ones with "
                          f"$some, $none or $every, e.g. {{{name!r}: {{'$some': {{...}}}}}}", path=path)
    items: list[Expr] = [Related(rel, target, k[1:], document(v, f"{path}.{k}")) for k, v in value.items()]
    return items[0] if len(items) == 1 else And(tuple(items))


def _example(rel: Relation, key: str) -> str:
    rest = key.split(".", 1)[1]
    return f"{{'$some': {{{rest!r}: ...}}}}" if rel.to_many else f"{{{rest!r}: ...}}"


def contains_related(expr: Expr) -> bool:
    if isinstance(expr, Related):
        return True
    if isinstance(expr, (And, Or)):
        return any(contains_related(e) for e in expr.items)
    if isinstance(expr, Not):
        return contains_related(expr.item)
    return False


def scoped(expr: Expr, visible: Callable[[ModelSpec, Expr], Expr]) -> Expr:
    """``expr`` with every relationship filter limited to rows ``visible`` lets through (tenant, soft delete)."""
    if isinstance(expr, Related):
        junction = expr.junction
        return Related(expr.rel, expr.target, expr.quantifier, scoped(expr.expr, visible),
                       visible(expr.target, TRUE), visible(junction, TRUE) if junction is not None else TRUE)
    if isinstance(expr, And):
        return And(tuple(scoped(e, visible) for e in expr.items)) if expr.items else expr
    if isinstance(expr, Or):
        return Or(tuple(scoped(e, visible) for e in expr.items))
    if isinstance(expr, Not):
        return Not(scoped(expr.item, visible))
    return expr


def both(a: Expr, b: Expr) -> Expr:
    """``a AND b``, without an empty conjunction."""
    if isinstance(a, And) and not a.items:
        return b
    if isinstance(b, And) and not b.items:
        return a
    return And((a, b))


def _key(model: ModelSpec, name: str) -> FieldRef:
    return FieldRef(model.fields[name])


async def resolve(backend: Any, expr: Expr) -> Expr:
    """``expr`` with every :class:`Related` replaced by a key list, read from ``backend`` (one query per relation
    and level; a many-to-many two). For backends that cannot compile a correlated subquery (MongoDB)."""
    if isinstance(expr, Related):
        return await _resolve_one(backend, expr)
    if isinstance(expr, And):
        return And(tuple([await resolve(backend, e) for e in expr.items])) if expr.items else expr
    if isinstance(expr, Or):
        return Or(tuple([await resolve(backend, e) for e in expr.items]))
    if isinstance(expr, Not):
        return Not(await resolve(backend, expr.item))
    return expr


async def _values(backend: Any, model: ModelSpec, where: Expr, column: str) -> tuple:
    rows = await backend.select(model, where, [], None, 0)
    return tuple(dict.fromkeys(r[column] for r in rows if r.get(column) is not None))


async def _resolve_one(backend: Any, node: Related) -> Expr:
    rel, target = node.rel, node.target
    inner = await resolve(backend, node.expr)
    wanted = Not(inner) if node.quantifier == "every" else inner
    matching = both(node.scope, wanted)
    if rel.kind == "many_to_one":
        keys = await _values(backend, target, matching, rel.remote)
        return Cmp(_key(_owner(node), rel.local), "in", keys)
    owner = _owner(node)
    if rel.kind == "one_to_many":
        keys = await _values(backend, target, matching, rel.remote)
    else:
        junction = node.junction
        assert junction is not None
        targets = await _values(backend, target, matching, rel.remote)
        keys = await _values(backend, junction, both(node.link_scope, Cmp(_key(junction, rel.through_remote), "in",
                                                                          targets)), rel.through_local)
    found = Cmp(_key(owner, rel.local), "in", keys)
    return found if node.quantifier == "some" else Not(found)


def _owner(node: Related) -> ModelSpec:
    """The model the relation belongs to (the inverse's target is the owner)."""
    owner = node.rel.owner_spec
    assert owner is not None
    return owner


def evaluate(expr: Expr, row: dict, tables: dict[str, list[dict]], operators: Any = None) -> bool:
    """The reference meaning (the conformance oracle): ``tables`` maps model names to their visible rows."""
    from .evaluate import evaluate as evaluate_plain

    if isinstance(expr, Related):
        return _evaluate_one(expr, row, tables, operators)
    if isinstance(expr, And):
        return all(evaluate(e, row, tables, operators) for e in expr.items)
    if isinstance(expr, Or):
        return any(evaluate(e, row, tables, operators) for e in expr.items)
    if isinstance(expr, Not):
        return not evaluate(expr.item, row, tables, operators)
    return evaluate_plain(expr, row, operators)


def related_rows(rel: Relation, row: dict, tables: dict[str, list[dict]]) -> list[dict]:
    """The rows of ``tables[rel.target]`` related to ``row`` (in the table's order)."""
    key = row.get(rel.local)
    if key is None:
        return []
    if rel.kind == "many_to_many":
        linked = {j[rel.through_remote] for j in tables[rel.through] if j[rel.through_local] == key}
        return [t for t in tables[rel.target] if t[rel.remote] in linked]
    return [t for t in tables[rel.target] if t[rel.remote] == key]


def _evaluate_one(node: Related, row: dict, tables: dict[str, list[dict]], operators: Any) -> bool:
    hits = [evaluate(node.expr, t, tables, operators) for t in related_rows(node.rel, row, tables)]
    if node.quantifier in ("some", "is"):
        return any(hits)
    if node.quantifier == "none":
        return not any(hits)
    return all(hits)


async def resolved(backend: Any, expr: Expr) -> Expr:
    """``expr`` itself when it has no relationship filter, else :func:`resolve` of it (cheap to call always)."""
    return await resolve(backend, expr) if contains_related(expr) else expr
