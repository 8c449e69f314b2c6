"""Hypothesis strategies: random, valid filters and order_by values over the dataset's fields."""

from typing import Any

from hypothesis import strategies as st

from .data import (
    CONTAINS_TEXT,
    JSON_PATHS,
    JSON_VALUES,
    LIKE_PATTERNS,
    REGEX_PATTERNS,
    SCALAR_FIELDS,
    SORTABLE,
    VALUE_POOLS,
)

ORDERED = ("gt", "gte", "lt", "lte")
LIKE_ALPHABET = ["a", "A", "b", "e", "é", "É", "l", "i", "%", "_", "\\", " ", "1", "0", "🎉", "'"]


def _pattern() -> st.SearchStrategy[str]:
    built = st.lists(st.sampled_from(LIKE_ALPHABET), max_size=5).map("".join)
    return st.one_of(st.sampled_from(LIKE_PATTERNS), built)


def _operand(field: str, kind: str, op: str) -> st.SearchStrategy[Any]:
    """A valid operand of ``op`` for ``field`` (kind ``"json"`` for dotted paths)."""
    pool = st.sampled_from(JSON_VALUES if kind == "json" else VALUE_POOLS[field])
    if op in ("eq", "ne"):
        return st.one_of(pool, st.none())
    if op in ORDERED:
        return pool
    if op in ("in", "nin"):
        return st.lists(st.one_of(pool, st.none()), max_size=3)
    if op in ("like", "ilike"):
        return _pattern()
    if op == "contains":
        return st.sampled_from(CONTAINS_TEXT) if kind == "str" else st.sampled_from(JSON_VALUES)
    if op in ("exists", "null"):
        return st.booleans()
    raise ValueError(op)


def _ops(kind: str, regex: bool) -> list[str]:
    ops = ["eq", "ne", *ORDERED, "in", "nin", "exists", "null"]
    if kind in ("str", "json"):
        ops += ["like", "ilike", "contains"]
        if regex:
            ops.append("regex")
    return ops


@st.composite
def _operator_dict(draw: Any, field: str, kind: str, regex: bool) -> dict:
    """``{"$gt": 3}``, ``{"$regex": "^a", "$options": "i"}``, ``{"$not": {...}}`` or several operators at once."""
    out: dict = {}
    for op in draw(st.lists(st.sampled_from(_ops(kind, regex)), min_size=1, max_size=2, unique=True)):
        if op == "regex":
            out["$regex"] = draw(st.sampled_from(REGEX_PATTERNS))
            if draw(st.booleans()):
                out["$options"] = "i"
        else:
            out["$" + op] = draw(_operand(field, kind, op))
    if draw(st.integers(0, 4)) == 0:
        return {"$not": out}
    return out


def kind_of_field(field: str) -> str:
    """``str``/``int``/… for scalar fields, ``json`` for dotted paths, ``json_list``/``json_dict`` for whole JSON
    fields."""
    if field in SCALAR_FIELDS:
        return SCALAR_FIELDS[field]
    if "." in field:
        return "json"
    return "json_list" if field == "tags" else "json_dict"


@st.composite
def field_clause(draw: Any, fields: list[str], regex: bool = True) -> dict:
    """One field (or JSON path) with an implicit ``$eq`` or an operator dict."""
    field = draw(st.sampled_from(fields))
    kind = kind_of_field(field)
    if kind in ("json_list", "json_dict"):
        ops = ["exists", "null", "eq", "ne"] + (["contains"] if kind == "json_list" else [])
        op = draw(st.sampled_from(ops))
        if op == "contains":
            value = draw(st.sampled_from(JSON_VALUES))
        elif op in ("eq", "ne"):
            value = None
        else:
            value = draw(st.booleans())
        return {field: {"$" + op: value}}
    if draw(st.integers(0, 3)) == 0:
        pool = JSON_VALUES if kind == "json" else VALUE_POOLS[field]
        return {field: draw(st.one_of(st.sampled_from(pool), st.none()))}
    return {field: draw(_operator_dict(field, kind, regex))}


def filters(fields: list[str], regex: bool = True, max_leaves: int = 6) -> st.SearchStrategy[dict]:
    """Random valid filter documents over ``fields`` (names or dotted JSON paths), nested with
    ``$and $or $nor $not`` and implicit conjunctions."""
    leaf = field_clause(fields, regex)

    def extend(children: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
        listed = st.lists(children, min_size=1, max_size=3)
        merged = st.lists(children, min_size=2, max_size=3).map(_merge)
        return st.one_of(
            listed.map(lambda xs: {"$and": xs}),
            listed.map(lambda xs: {"$or": xs}),
            listed.map(lambda xs: {"$nor": xs}),
            children.filter(bool).map(lambda x: {"$not": x}),
            merged,
        )

    return st.recursive(leaf, extend, max_leaves=max_leaves)


def _merge(docs: list[dict]) -> dict:
    """Implicit AND of several documents; a key seen twice moves the later one into ``$and``."""
    out: dict = {}
    rest: list[dict] = []
    for doc in docs:
        if any(k in out for k in doc):
            rest.append(doc)
        else:
            out.update(doc)
    if rest:
        out.setdefault("$and", [])
        if isinstance(out["$and"], list):
            out["$and"] = [*out["$and"], *rest]
    return out


@st.composite
def order_by(draw: Any, sortable: list[str] = SORTABLE) -> Any:
    """An order_by in one of the accepted spellings, over 0–3 fields."""
    keys = draw(st.lists(st.sampled_from(sortable), max_size=3, unique=True))
    spelled = []
    for key in keys:
        desc = draw(st.booleans())
        form = draw(st.integers(0, 5))
        if form == 0:
            spelled.append(("-" if desc else "") + key)
        elif form == 1:
            spelled.append(f"{key} {'desc' if desc else 'asc'}")
        elif form == 2:
            spelled.append({key: -1 if desc else 1})
        elif form == 3:
            spelled.append((key, "desc" if desc else "asc"))
        elif form == 4:
            spelled.append({"field": key, "order": "desc" if desc else "asc"})
        else:
            spelled.append({"field": key, "direction": "DESC" if desc else "ASC"})
    if len(spelled) == 1 and draw(st.booleans()) and isinstance(spelled[0], (str, dict)):
        return spelled[0]
    return spelled


SCALARS_NO_DECIMAL = [f for f in SCALAR_FIELDS if f != "amount"]
SORTABLE_NO_DECIMAL = [f for f in SORTABLE if f != "amount"]
JSON_FIELDS = [*JSON_PATHS, "meta", "tags"]
