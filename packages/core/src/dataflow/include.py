"""``include``: related records on Read and List results, one statement per relation level (never N+1).

Syntax (the same for nodes and express)::

    include=["books"]                                   # names
    include={"books": True, "publisher": True}          # the same, as a dict
    include={"books": {"filter": {"price": {"$gt": 20}}, "order_by": ["-price"], "limit": 5, "offset": 0,
                       "include": {"tags": True}}}      # options, nested to MAX_DEPTH levels

Each record gets one key per included relation: a many-to-one gives the related record or ``None``; a
one-to-many or many-to-many gives a list, ordered by ``order_by`` (then the key), ``offset``/``limit`` applied
per parent record. Related rows are read with one batched ``IN`` query per relation and level (a many-to-many
reads its junction first: two), whatever the number of parents; the bound tenant and soft delete apply to
every included model, so an include never shows a row a List of that model would not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import FilterError
from .model import ModelSpec
from .query.ast import And, Cmp, Expr, FieldRef
from .query.order import OrderItem, parse_order
from .relations import MANY_TO_MANY, MANY_TO_ONE, Relation, relation

if TYPE_CHECKING:
    from .operations import Operations

MAX_DEPTH = 5
OPTIONS = ("filter", "order_by", "limit", "offset", "include")


@dataclass
class Include:
    """One parsed include: a relation of ``model`` and how to read it."""

    rel: Relation
    target: ModelSpec
    where: Expr
    order: list[OrderItem]
    limit: int | None
    offset: int
    children: list[Include] = field(default_factory=list)


def plan(ops: Operations, model: ModelSpec, raw: Any, path: str = "include", depth: int = 1) -> list[Include]:
    """Parse and check ``raw`` completely, before anything is read."""
    if raw is None or raw == [] or raw == {}:
        return []
    if depth > MAX_DEPTH:
        raise FilterError(f"include nests more than {MAX_DEPTH} levels deep", path=path)
    if isinstance(raw, str):
        raw = [raw]
    if isinstance(raw, (list, tuple)):
        if not all(isinstance(n, str) for n in raw):
            raise FilterError("include takes relation names, or a dict of relation name -> True or options",
                              path=path)
        raw = {n: True for n in raw}
    if not isinstance(raw, dict):
        raise FilterError(f"include must be a list of relation names or a dict, got {type(raw).__name__}", path=path)
    result = []
    for name, options in raw.items():
        here = f"{path}.{name}"
        rel = _relation(ops, model, name, here)
        target = ops.df.models[rel.target]
        if options is True or options is None:
            options = {}
        if not isinstance(options, dict):
            raise FilterError(f"include of {name!r} takes True or a dict with {', '.join(OPTIONS)}", path=here)
        extra = set(options) - set(OPTIONS)
        if extra:
            raise FilterError(f"unknown include option(s) {sorted(extra)}; valid: {', '.join(OPTIONS)}", path=here)
        if not rel.to_many and any(k in options for k in ("order_by", "limit", "offset")):
            raise FilterError(f"{name!r} is a many-to-one relation (one record): order_by, limit and offset apply "
                              "to lists only", path=here)
        from .operations import _int_param

        limit = None if options.get("limit") is None else _int_param(options["limit"], f"{here}.limit", None)
        offset = _int_param(options.get("offset"), f"{here}.offset", 0)
        where = ops._filter(target, options.get("filter"))
        order = parse_order(options.get("order_by"), target)
        children = plan(ops, target, options.get("include"), f"{here}.include", depth + 1)
        result.append(Include(rel, target, where, order, limit, offset, children))
    return result


def _relation(ops: Operations, model: ModelSpec, name: Any, path: str) -> Relation:
    from .errors import ModelError

    if not isinstance(name, str):
        raise FilterError("include keys are relation names", path=path)
    try:
        return relation(ops.df.models, model, name, "include")
    except ModelError as exc:
        raise FilterError(exc.message, path=path) from None


async def load(ops: Operations, backend: Any, includes: list[Include], rows: list[dict]) -> None:
    """Add every included relation to ``rows`` (in place), level by level."""
    if not rows:
        return
    for inc in includes:
        if inc.rel.kind == MANY_TO_ONE:
            children = await _many_to_one(backend, inc, rows)
        elif inc.rel.kind == MANY_TO_MANY:
            children = await _many_to_many(ops, backend, inc, rows)
        else:
            children = await _one_to_many(backend, inc, rows)
        if inc.children and children:
            await load(ops, backend, inc.children, children)


def _keys(rows: list[dict], name: str) -> tuple:
    return tuple(dict.fromkeys(r[name] for r in rows if r.get(name) is not None))


def _with(where: Expr, extra: Expr) -> Expr:
    if isinstance(where, And):
        return And((extra, *where.items))
    return And((extra, where))


async def _select_in(backend: Any, model: ModelSpec, column: str, keys: tuple, where: Expr,
                     order: list[OrderItem]) -> list[dict]:
    if not keys:
        return []
    condition = Cmp(FieldRef(model.fields[column]), "in", keys)
    return await backend.select(model, _with(where, condition), order, None, 0)


async def _many_to_one(backend: Any, inc: Include, rows: list[dict]) -> list[dict]:
    rel = inc.rel
    found = await _select_in(backend, inc.target, rel.remote, _keys(rows, rel.local), inc.where, [])
    by_key = {r[rel.remote]: r for r in found}
    kept = []
    for row in rows:
        match = by_key.get(row.get(rel.local))
        row[rel.name] = None if match is None else dict(match)
        if match is not None:
            kept.append(row[rel.name])
    return kept


def _page(items: list[dict], inc: Include) -> list[dict]:
    end = None if inc.limit is None else inc.offset + inc.limit
    return items[inc.offset:end] if (inc.offset or end is not None) else items


async def _one_to_many(backend: Any, inc: Include, rows: list[dict]) -> list[dict]:
    rel = inc.rel
    found = await _select_in(backend, inc.target, rel.remote, _keys(rows, rel.local), inc.where, inc.order)
    groups: dict[Any, list[dict]] = {}
    remote, local, name = rel.remote, rel.local, rel.name
    for child in found:
        key = child[remote]
        group = groups.get(key)
        if group is None:
            groups[key] = [child]
        else:
            group.append(child)
    if inc.limit is None and not inc.offset:
        for row in rows:
            row[name] = groups.get(row.get(local)) or []
        return found if inc.children else []
    kept: list[dict] = []
    for row in rows:
        page = row[name] = _page(groups.get(row.get(local)) or [], inc)
        kept.extend(page)
    return kept


async def _many_to_many(ops: Operations, backend: Any, inc: Include, rows: list[dict]) -> list[dict]:
    rel = inc.rel
    junction = ops.df.models[rel.through]  # type: ignore[index]
    links = await _select_in(backend, junction, rel.through_local, _keys(rows, rel.local),  # type: ignore[arg-type]
                             ops._visible(junction, And(()), False), [])
    targets = await _select_in(backend, inc.target, rel.remote, _keys(links, rel.through_remote),  # type: ignore[arg-type]
                               inc.where, inc.order)
    position = {t[rel.remote]: i for i, t in enumerate(targets)}
    linked: dict[Any, list[Any]] = {}
    for link in links:
        key = link[rel.through_remote]  # type: ignore[index]
        if key in position:
            linked.setdefault(link[rel.through_local], []).append(key)  # type: ignore[index]
    kept: dict[Any, dict] = {}
    for row in rows:
        keys = sorted(set(linked.get(row.get(rel.local), [])), key=position.__getitem__)
        page = _page([targets[position[k]] for k in keys], inc)
        row[rel.name] = [dict(t) for t in page]
        for item in row[rel.name]:
            kept[id(item)] = item
    return list(kept.values())
