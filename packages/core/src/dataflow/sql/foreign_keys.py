"""Foreign keys on SQL backends: the constraints of declared many-to-one relations, and adding them later.

A model's table carries one ``FOREIGN KEY (field) REFERENCES target (id) ON DELETE …`` per declared many-to-one
relation (:mod:`dataflow.relations`), named ``fk_<table>_<field>``. A migration adds a missing one only when no
row refers to a key that does not exist (the orphan rows are named, nothing is changed); a relation a model
no longer declares leaves its constraint until ``db.migrate(apply=True)`` drops it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.schema import AddConstraint

from ..errors import SchemaError
from ..model import ModelSpec

if TYPE_CHECKING:
    from ..relations import Relation

ON_DELETE_SQL = {"restrict": "RESTRICT", "cascade": "CASCADE", "set_null": "SET NULL"}
ORPHANS_SHOWN = 10


def constraint_name(model: ModelSpec, rel: Relation) -> str:
    return f"fk_{model.table}_{rel.local}"[:63]


def declared(model: ModelSpec) -> list[Relation]:
    """The model's relations that are foreign keys, resolved to a target model."""
    return [r for r in model.relations.values() if r.foreign_key and r.target_spec is not None]


def add_constraints(backend: Any, model: ModelSpec, table: sa.Table) -> None:
    """Attach the model's foreign keys to its (cached) table; referenced tables are built first."""
    for rel in declared(model):
        target = rel.target_spec
        assert target is not None
        if target.name != model.name:
            backend.table(target)
        table.append_constraint(sa.ForeignKeyConstraint(
            [rel.local], [f"{target.table}.{rel.remote}"], name=constraint_name(model, rel),
            ondelete=ON_DELETE_SQL[rel.on_delete]))


def plan_steps(model: ModelSpec, existing: dict, step_class: Any) -> list:
    """Steps adding declared foreign keys the table lacks and dropping DataFlow's own it no longer declares."""
    steps = []
    found = {tuple(fk["columns"]): fk for fk in existing.get("foreign_keys", [])}
    wanted = set()
    for rel in declared(model):
        wanted.add((rel.local,))
        fk = found.get((rel.local,))
        if fk is None or fk["referred_table"] != rel.target_spec.table:  # type: ignore[union-attr]
            steps.append(step_class("add_foreign_key", model.name, model.table, rel.local,
                                    f"references {rel.target_spec.table}({rel.remote}) on delete {rel.on_delete}",
                                    data={"relation": rel.name}))
    for cols, fk in found.items():
        name = fk.get("name") or ""
        if cols not in wanted and len(cols) == 1 and name == f"fk_{model.table}_{cols[0]}"[:63]:  # DataFlow's own
            steps.append(step_class("drop_foreign_key", model.name, model.table, cols[0],
                                    f"constraint {name} (the model no longer declares the relation)", safe=False,
                                    data={"constraint": name}))
    return steps


async def orphans(backend: Any, model: ModelSpec, rel: Relation) -> list:
    """Keys of rows of ``model`` whose ``rel.local`` names no row of the target (at most :data:`ORPHANS_SHOWN`)."""
    q = backend.quote
    target = rel.target_spec
    sql = (f"SELECT c.{q(model.primary_key or rel.local)}, c.{q(rel.local)} FROM {q(model.table)} c "
           f"WHERE c.{q(rel.local)} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {q(target.table)} p "  # type: ignore[union-attr]
           f"WHERE p.{q(rel.remote)} = c.{q(rel.local)}) LIMIT {ORPHANS_SHOWN}")
    return list(await backend.fetch(sql, ()))


async def add_constraint(backend: Any, model: ModelSpec, relation_name: str) -> None:
    """Add one foreign key to an existing table, refused (nothing changed) when rows refer to missing keys."""
    rel = model.relations[relation_name]
    found = await orphans(backend, model, rel)
    if found:
        rows = ", ".join(f"{model.primary_key}={r[0]!r} ({rel.local}={r[1]!r})" for r in found)
        more = " (first 10 shown)" if len(found) >= ORPHANS_SHOWN else ""
        raise SchemaError(
            f"cannot add the foreign key {model.table}.{rel.local} -> {rel.target_spec.table}"  # type: ignore[union-attr]
            f"({rel.remote}): rows of {model.table} refer to keys that do not exist: {rows}{more}. Nothing was "
            "changed; "
            f"fix or delete those rows (or set {rel.local} to null), then migrate again"
        )
    table = backend.table(model)
    constraint = next(c for c in table.foreign_key_constraints if c.name == constraint_name(model, rel))
    if backend.name != "sqlite":
        await backend.execute(str(AddConstraint(constraint).compile(dialect=backend.dialect)), ())
        return
    referring = [r[0] for r in await backend.fetch(
        "SELECT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) f WHERE m.type = 'table' "
        "AND f.\"table\" = ? AND m.name != ?", (model.table, model.table))]
    if referring:
        raise SchemaError(f"cannot add the foreign key {model.table}.{rel.local} on SQLite: SQLite adds a constraint "
                          f"by rebuilding the table, and table(s) {', '.join(sorted(set(referring)))} refer to "
                          f"{model.table}, so the rebuild could delete or orphan their rows. Nothing was changed; "
                          "recreate the tables, or add the relation when the table is created")
    await backend.change_column_type(model, None)  # SQLite's rebuild: the new table carries the constraint


async def drop_constraint(backend: Any, model: ModelSpec, name: str) -> None:
    """Drop DataFlow's foreign key ``name`` (PostgreSQL, MySQL; SQLite rebuilds the table without it)."""
    q = backend.quote
    if backend.name == "sqlite":
        await backend.change_column_type(model, None)
    elif backend.name == "mysql":
        await backend.execute(f"ALTER TABLE {q(model.table)} DROP FOREIGN KEY {q(name)}", ())
    else:
        await backend.execute(f"ALTER TABLE {q(model.table)} DROP CONSTRAINT {q(name)}", ())
