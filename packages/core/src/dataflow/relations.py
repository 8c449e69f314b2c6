"""Relationships between models: declared in ``__dataflow__["relations"]``, linked across models.

A model declares the relations it owns::

    class Book:
        title: str
        author_id: int
        __dataflow__ = {"relations": {
            "author": {"references": "Author", "field": "author_id", "on_delete": "cascade",
                       "related_name": "books"},
            "tags": {"references": "Tag", "through": "BookTag", "related_name": "books"},
        }}

* **many-to-one** (``field`` given): ``Book.author_id`` holds the key of an ``Author``; SQL backends make it a
  real foreign key with ``on_delete`` ``restrict`` (the default), ``cascade`` or ``set_null`` (the field must
  then be optional). ``related_name`` names the inverse **one-to-many** relation on the target
  (``Author.books``).
* **many-to-many** (``through`` given): through a junction model that has a many-to-one relation to each side
  (``through_fields=("book_id", "tag_id")`` picks them when that is ambiguous, e.g. a self-reference).

Relation names share the model's namespace with its fields: a relation named like a field is refused, so
``{"author": {...}}`` in a filter or an ``include`` always means one thing. Targets are resolved by model name
when both models are declared on the same DataFlow (:func:`link`); nothing here touches a database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import ModelError

if TYPE_CHECKING:
    from .model import ModelSpec

ON_DELETE = ("restrict", "cascade", "set_null")
MANY_TO_ONE, ONE_TO_MANY, MANY_TO_MANY = "many_to_one", "one_to_many", "many_to_many"
_KEYS = {"references", "field", "on_delete", "related_name", "through", "through_fields"}


@dataclass
class Relation:
    """One relation as seen from ``model``: ``model.local`` ↔ ``target.remote``."""

    name: str
    kind: str
    model: str
    target: str
    local: str
    """many_to_one: the key field on ``model``; one_to_many / many_to_many: ``model``'s primary key."""
    remote: str
    """many_to_one / many_to_many: the target's primary key; one_to_many: the target's key field."""
    on_delete: str = "restrict"
    related_name: str | None = None
    through: str | None = None
    through_local: str | None = None
    """many_to_many: the junction's field holding ``model``'s key."""
    through_remote: str | None = None
    """many_to_many: the junction's field holding the target's key."""
    through_fields: tuple[str, str] | None = None
    inverse: bool = False
    """Made by :func:`link` from another model's declaration (``related_name``)."""
    target_spec: ModelSpec | None = field(default=None, repr=False, compare=False)
    """The target model, once :func:`link` resolved it."""
    owner_spec: ModelSpec | None = field(default=None, repr=False, compare=False)
    """The model this relation belongs to (``model``), once linked."""
    through_spec: ModelSpec | None = field(default=None, repr=False, compare=False)
    """many_to_many: the junction model, once :func:`link` resolved it."""

    @property
    def to_many(self) -> bool:
        return self.kind != MANY_TO_ONE

    @property
    def foreign_key(self) -> bool:
        """A declared many-to-one: a foreign-key constraint on ``model.local``."""
        return self.kind == MANY_TO_ONE and not self.inverse


def declare_relations(spec: ModelSpec, raw: Any) -> dict[str, Relation]:
    """The relations ``__dataflow__["relations"]`` declares, checked against the model's own fields."""
    from .model import RESERVED_FIELDS, check_identifier

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ModelError(f"model {spec.name}: __dataflow__['relations'] must be a dict of relation name -> "
                         "{'references': 'Model', 'field': ...} or {'references': 'Model', 'through': 'Junction'}")
    result: dict[str, Relation] = {}
    for name, item in raw.items():
        where = f"model {spec.name}: relation {name!r}"
        check_identifier(name, f"model {spec.name}: relation name")
        if name in spec.fields or name in RESERVED_FIELDS:
            raise ModelError(f"{where} has the name of a field or node parameter; relation and field names share "
                             "one namespace (filters and include use both): rename the relation")
        if not isinstance(item, dict):
            raise ModelError(f"{where} must be a dict with 'references' and 'field' (or 'through')")
        extra = set(item) - _KEYS
        if extra:
            raise ModelError(f"{where}: unknown key(s) {sorted(extra)}; valid: {sorted(_KEYS)}")
        target = item.get("references")
        if not isinstance(target, str) or not target:
            raise ModelError(f"{where} needs 'references': the name of the related model")
        related = item.get("related_name")
        if related is not None:
            check_identifier(related, f"{where}: related_name")
        on_delete = item.get("on_delete", "restrict")
        if on_delete not in ON_DELETE:
            raise ModelError(f"{where}: on_delete {on_delete!r} is not one of {', '.join(ON_DELETE)}")
        if ("field" in item) == ("through" in item):
            raise ModelError(f"{where} needs exactly one of 'field' (many-to-one: the field holding the key) "
                             "and 'through' (many-to-many: the junction model)")
        if "field" in item:
            fname = item["field"]
            field = spec.fields.get(fname) if isinstance(fname, str) else None
            if field is None or field.managed or field.primary_key:
                raise ModelError(f"{where}: 'field' must name one of the model's own fields, not {fname!r}; fields: "
                                 f"{', '.join(f.name for f in spec.user_fields if not f.primary_key)}")
            if field.kind not in ("int", "str"):
                raise ModelError(f"{where}: field {fname!r} is {field.kind}; a key field is int or str")
            if on_delete == "set_null" and not field.nullable:
                raise ModelError(f"{where}: on_delete='set_null' needs an optional field ({fname}: "
                                 f"{field.kind} | None = None)")
            if "through_fields" in item:
                raise ModelError(f"{where}: 'through_fields' goes with 'through' only")
            result[name] = Relation(name, MANY_TO_ONE, spec.name, target, fname, "id", on_delete, related)
        else:
            if "on_delete" in item:
                raise ModelError(f"{where}: on_delete belongs on the junction model's many-to-one relations")
            pair = item.get("through_fields")
            if pair is not None and (not isinstance(pair, (list, tuple)) or len(pair) != 2
                                     or not all(isinstance(p, str) for p in pair)):
                raise ModelError(f"{where}: through_fields must be two junction field names (this side, the other)")
            result[name] = Relation(name, MANY_TO_MANY, spec.name, target, spec.primary_key or "id", "id",
                                    related_name=related, through=item["through"],
                                    through_fields=tuple(pair) if pair else None)
    return result


def link(models: dict[str, ModelSpec]) -> None:
    """Resolve every relation whose models are all declared, and (re)build the inverse relations.

    Called after each declaration; relations to models not declared yet stay unresolved until they are
    (using one then is a :class:`ModelError` naming the missing model).
    """
    for spec in models.values():
        for name in [n for n, r in spec.relations.items() if r.inverse]:
            del spec.relations[name]
    for spec in models.values():
        for rel in list(spec.relations.values()):
            if rel.inverse:
                continue
            target = models.get(rel.target)
            if target is None:
                continue
            rel.remote = target.primary_key or "id"
            rel.target_spec = target
            rel.owner_spec = spec
            if rel.kind == MANY_TO_ONE:
                _check_key_kinds(spec, rel, target)
                inverse = Relation(rel.related_name or "", ONE_TO_MANY, target.name, spec.name,
                                   target.primary_key or "id", rel.local, rel.on_delete, rel.name, inverse=True,
                                   target_spec=spec, owner_spec=target)
            else:
                junction = models.get(rel.through or "")
                if junction is None:
                    continue
                rel.through_local, rel.through_remote = _junction_fields(spec, rel, junction)
                rel.through_spec = junction
                inverse = Relation(rel.related_name or "", MANY_TO_MANY, target.name, spec.name,
                                   target.primary_key or "id", spec.primary_key or "id", related_name=rel.name,
                                   through=rel.through, through_local=rel.through_remote,
                                   through_remote=rel.through_local, inverse=True, target_spec=spec,
                                   through_spec=junction, owner_spec=target)
            if rel.related_name:
                clash = rel.related_name in target.fields or rel.related_name in target.relations
                if clash:
                    raise ModelError(f"model {spec.name}: relation {rel.name!r} names its inverse "
                                     f"{rel.related_name!r}, but model {target.name} already has a field or relation "
                                     "of that name; choose another related_name")
                target.relations[rel.related_name] = inverse


def _check_key_kinds(spec: ModelSpec, rel: Relation, target: ModelSpec) -> None:
    if target.primary_key is None:
        raise ModelError(f"model {spec.name}: relation {rel.name!r} references {target.name}, which has no "
                         "single-column primary key")
    want = target.fields[target.primary_key].kind
    have = spec.fields[rel.local].kind
    if want != have:
        raise ModelError(f"model {spec.name}: relation {rel.name!r}: field {rel.local!r} is {have}, but the key of "
                         f"{target.name} is {want}; declare {rel.local}: {want}")


def _junction_fields(spec: ModelSpec, rel: Relation, junction: ModelSpec) -> tuple[str, str]:
    where = f"model {spec.name}: relation {rel.name!r} through {junction.name}"
    if rel.through_fields:
        for fname in rel.through_fields:
            if fname not in junction.fields:
                raise ModelError(f"{where}: through_fields names {fname!r}, not a field of {junction.name}")
        return rel.through_fields
    own = [r.local for r in junction.relations.values() if r.foreign_key and r.target == spec.name]
    other = [r.local for r in junction.relations.values() if r.foreign_key and r.target == rel.target]
    if len(own) != 1 or len(other) != 1 or own == other:
        raise ModelError(f"{where}: the junction needs exactly one many-to-one relation to {spec.name} and one to "
                         f"{rel.target}; declare them on {junction.name}, or pass through_fields=(this side, other)")
    return own[0], other[0]


def relation(models: dict[str, ModelSpec], spec: ModelSpec, name: str, where: str) -> Relation:
    """The relation ``name`` of ``spec``, resolved; a :class:`ModelError` when it is unknown or unresolved."""
    rel = spec.relations.get(name)
    if rel is None:
        valid = ", ".join(spec.relations) or "none declared"
        raise ModelError(f"{where}: model {spec.name} has no relation {name!r}; relations: {valid}")
    missing = [m for m in (rel.target, rel.through) if m and m not in models]
    if missing:
        raise ModelError(f"{where}: relation {spec.name}.{name} refers to model {missing[0]}, which is not declared "
                         "on this DataFlow")
    return rel


def creation_order(models: list[ModelSpec]) -> list[ModelSpec]:
    """``models`` with every referenced model before the models referring to it (cycles keep their order)."""
    names = {m.name for m in models}
    placed: list[ModelSpec] = []
    done: set[str] = set()
    visiting: set[str] = set()
    by_name = {m.name: m for m in models}

    def visit(m: ModelSpec) -> None:
        if m.name in done or m.name in visiting:
            return
        visiting.add(m.name)
        for rel in m.relations.values():
            if rel.foreign_key and rel.target in names and rel.target != m.name:
                visit(by_name[rel.target])
        visiting.discard(m.name)
        done.add(m.name)
        placed.append(m)

    for m in models:
        visit(m)
    return placed


def key_indexes(spec: ModelSpec) -> list:
    """An index on each foreign-key field no declared index starts with: includes and relationship filters look
    children up by it, and MySQL needs one for the constraint."""
    from .model import IndexSpec

    first = {i.fields[0] for i in spec.indexes}
    return [IndexSpec(f"ix_{spec.table}_{r.local}"[:63], (r.local,), False)
            for r in spec.relations.values() if r.foreign_key and r.local not in first]


def check_link(models: dict[str, ModelSpec], spec: ModelSpec) -> None:
    """Refuse ``spec`` before it is registered when linking it would fail; the linked state is left as it was."""
    try:
        link({**models, spec.name: spec})
    finally:
        link(models)


def discovered(models: dict[str, ModelSpec], schema: dict, registered: list[str]) -> dict[str, list[str]]:
    """Relations of models registered from existing tables, one per single-column foreign key to a registered
    model's primary key: ``orders.customer_id -> customers.id`` becomes ``Order.customer`` (the column without
    ``_id``, else the target model's name in snake case, else ``<column>_ref``) and its inverse ``Customer.orders``
    (the referring table's name, else
    ``<table>_by_<column>``). Returns ``{model: [relation names]}``, inverses included."""
    by_table = {m.table: m for m in models.values()}
    made: dict[str, list[str]] = {}
    for name in registered:
        spec = models[name]
        for fk in schema.get(spec.table, {}).get("foreign_keys", []):
            target = by_table.get(fk["referred_table"])
            if (target is None or len(fk["columns"]) != 1 or fk["referred_columns"] != [target.primary_key]
                    or fk["columns"][0] not in spec.fields):
                continue
            column = fk["columns"][0]
            if spec.fields[column].kind != target.fields[target.primary_key].kind:
                continue
            snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", target.name).lower()
            rel_name = column[:-3] if column.endswith("_id") and len(column) > 3 else snake
            if rel_name in spec.fields or rel_name in spec.relations:
                rel_name = f"{column}_ref"
            if rel_name in spec.fields or rel_name in spec.relations:
                continue
            inverse = spec.table
            if inverse in target.fields or inverse in target.relations or inverse == rel_name:
                inverse = f"{spec.table}_by_{column}"[:63]
            spec.relations[rel_name] = Relation(rel_name, MANY_TO_ONE, spec.name, target.name, column,
                                                target.primary_key or "id", related_name=inverse)
            made.setdefault(spec.name, []).append(rel_name)
            made.setdefault(target.name, []).append(inverse)
    link(models)
    return made
