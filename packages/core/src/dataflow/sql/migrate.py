"""Applying migration plans on SQL databases: first-use DDL (``ensure_models``) and ``db.migrate()``.

The plan itself (models vs the reflected tables, safe and explicit steps) is :mod:`dataflow.migrations`;
this module runs its steps under the backend's migration lock and records them in ``dataflow_migrations``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateTable

from ..errors import SchemaError
from ..model import ModelSpec
from . import foreign_keys

_APPLY_ORDER = {"create_table": 0, "rename_column": 1, "add_column": 2, "required_column": 2, "change_type": 3,
                "drop_column": 4, "create_index": 5}
"""Columns exist (and are filled) before a type change: SQLite's rebuild copies every column the model has."""
MISMATCHES = ("create_table", "add_column", "required_column", "change_type")
_log = logging.getLogger("dataflow.migrations")


class Migrations:
    """Mixin of :class:`~dataflow.sql.SQLBackend`: ensure, plan and apply schema changes."""

    name: str
    dialect: sa.engine.Dialect
    drift: list = []
    """Differences found at first use that need ``db.migrate(apply=True)``."""

    def migration_lock(self) -> AbstractAsyncContextManager[Any]:
        """Serialise schema changes across processes (a dialect adds its named lock)."""
        return self.unit()

    async def plan(self, models: Sequence[ModelSpec], renames: dict | None = None):
        from ..migrations import plan_migration

        existing = await self.discover([m.table for m in models])
        return plan_migration(list(models), existing, self.expected_kind, renames)

    async def ensure_models(self, models: Sequence[ModelSpec], *, create: bool) -> None:
        """Create what is missing (create=True) or only check (existing_schema_mode).

        Compares with the real tables first, so a restart with unchanged models issues no DDL.
        """
        async with self.migration_lock():
            plan = await self.plan(models)
            if not create:
                mismatch = [s for s in plan.steps if s.action in MISMATCHES]
                if mismatch:
                    raise SchemaError(
                        "the models do not match the existing tables (DataFlow issues no DDL in "
                        "existing_schema_mode / auto_migrate=False): " + "; ".join(s.mismatch() for s in mismatch)
                    )
                return
            by_name = {m.name: m for m in models}
            steps = list(plan.safe)
            for step in plan.steps:
                if step.action == "required_column":
                    if not await self._table_is_empty(step.table):
                        raise _needs_default(by_name[step.model], step, plan)
                    steps.append(step)
            await self.apply_steps(by_name, steps)
            self.drift = [s for s in plan.explicit if s.action != "required_column"]
        if self.drift:
            _log.warning("schema differences not applied automatically: %s. See db.migration_plan(); apply with "
                         "db.migrate(apply=True)", "; ".join(s.describe() for s in self.drift))

    async def _table_is_empty(self, table: str) -> bool:
        return not await self.fetch(f"SELECT 1 FROM {self.quote(table)} LIMIT 1", ())

    async def migrate(self, models: Sequence[ModelSpec], *, apply: bool, renames: dict | None = None,
                      backfill: dict | None = None, drop_columns: bool = False) -> list[dict]:
        """Show (apply=False) or run the full plan, explicit steps included, in one unit of work."""
        async with self.migration_lock():
            plan = await self.plan(models, renames)
            steps = [s for s in plan.steps if s.action != "drop_column" or drop_columns]
            for step in steps:
                if step.action == "required_column":
                    value = (backfill or {}).get(step.model, {}).get(step.column)
                    if value is None and not await self._table_is_empty(step.table):
                        raise SchemaError(
                            f"model {step.model}: required field {step.column!r} needs a backfill value: "
                            f"db.migrate(apply=True, backfill={{{step.model!r}: {{{step.column!r}: <value>}}}})"
                        )
                    step.data["default"] = value
            if apply and steps:
                await self.apply_steps({m.name: m for m in models}, steps)
                self.drift = []
        return (
            plan.as_dicts()
            if not apply
            else [s for s in plan.as_dicts() if s["action"] != "drop_column" or drop_columns]
        )

    async def apply_steps(self, models: dict[str, ModelSpec], steps: list) -> None:
        if not steps:
            return
        quote = self.quote
        for step in sorted(steps, key=lambda s: _APPLY_ORDER.get(s.action, 0)):
            model = models[step.model]
            table = quote(step.table)
            if step.action == "create_table":
                for statement in self.ddl(model):
                    await self.execute(statement, ())
            elif step.action == "create_index":
                index = next(i for i in self.table(model).indexes if i.name == step.data["index"])
                await self.execute(self.create_index_sql(index), ())
            elif step.action in ("add_column", "required_column"):
                field = model.fields[step.column]
                coltype = self.sql_type(field).compile(dialect=self.dialect)
                await self.execute(f"ALTER TABLE {table} ADD COLUMN {quote(field.name)} {coltype}", ())
                default = step.data.get("default")
                if default is not None:
                    await self.execute(f"UPDATE {table} SET {quote(field.name)} = {self.placeholder(1)}",
                                       (self.encode_value(field.kind, field.type.coerce(default)),))
                if step.action == "required_column" or (default is not None and not field.nullable
                                                        and not field.managed):
                    await self.require_column(model, field)  # added nullable, filled: now as a fresh table has it
            elif step.action == "rename_column":
                await self.execute(
                    f"ALTER TABLE {table} RENAME COLUMN {quote(step.data['old'])} TO {quote(step.column)}", ()
                )
            elif step.action == "drop_column":
                await self.execute(f"ALTER TABLE {table} DROP COLUMN {quote(step.column)}", ())
            elif step.action == "change_type":
                await self.change_column_type(model, model.fields[step.column])
            elif step.action == "add_foreign_key":
                await foreign_keys.add_constraint(self, model, step.data["relation"])
            elif step.action == "drop_foreign_key":
                await foreign_keys.drop_constraint(self, model, step.data["constraint"])
        await self._record_history(steps)

    async def require_column(self, model: ModelSpec, field) -> None:
        """Make a column just added and backfilled ``NOT NULL`` (a dialect without this syntax overrides it)."""
        await self.execute(
            f"ALTER TABLE {self.quote(model.table)} ALTER COLUMN {self.quote(field.name)} SET NOT NULL", ()
        )

    async def change_column_type(self, model: ModelSpec, field) -> None:
        raise SchemaError(f"backend {self.name!r} cannot change the type of {model.table}.{field.name} in place")

    async def _record_history(self, steps: list) -> None:
        history = sa.Table("dataflow_migrations", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                           sa.Column("applied_at", sa.String(40)), sa.Column("step", sa.Text))
        await self.execute(str(CreateTable(history, if_not_exists=True).compile(dialect=self.dialect)), ())
        stamp = dt.datetime.now(dt.timezone.utc).isoformat()
        sql = (
            f"INSERT INTO dataflow_migrations (applied_at, step) VALUES ({self.placeholder(1)}, {self.placeholder(2)})"
        )
        await self.execute_many(sql, [(stamp, s.describe()) for s in steps])


def _needs_default(model: ModelSpec, step: Any, plan: Any) -> SchemaError:
    """A new required field on a table with rows: say how to give it a value."""
    field = model.fields[step.column]
    example = {"str": '""', "int": "0", "float": "0.0", "bool": "False"}.get(field.kind, "...")
    annotation = field.type.python_type.__name__ if isinstance(field.type.python_type, type) else field.kind
    unused = [s.column for s in plan.steps if s.action == "drop_column" and s.table == step.table]
    hint = (f" If it is a renamed column ({', '.join(unused)}), pass db.migrate(apply=True, "
            f"renames={{{step.model!r}: {{'<old>': {step.column!r}}}}}).") if unused else ""
    return SchemaError(
        f"model {step.model}: new required field {step.column!r} has no default and table "
        f"{step.table!r} has rows. Give it a default (e.g. {step.column}: {annotation} = {example}), "
        f"make it Optional, or add it with db.migrate(apply=True, "
        f"backfill={{{step.model!r}: {{{step.column!r}: <value>}}}}).{hint}"
    )
