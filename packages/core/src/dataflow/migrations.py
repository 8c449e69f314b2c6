"""Schema evolution: compare models with the real tables and plan the difference.

A plan has *safe* steps, applied automatically with ``auto_migrate=True``
(create a missing table or index, add a nullable or defaulted column), and
*explicit* steps, only reported until ``db.migrate(apply=True, …)`` runs them
(type changes, renames, dropped fields). A new required column without a
default on a table that has rows is *refused*, with the fix in the message.
Everything runs in one transaction where the dialect allows DDL in
transactions, so a failed migration changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import ModelSpec


@dataclass
class Step:
    """One change to one table."""

    action: str
    """create_table, create_index, add_column, change_type, rename_column, drop_column, required_column,
    add_foreign_key, drop_foreign_key."""
    model: str
    table: str
    column: str | None = None
    detail: str = ""
    safe: bool = True
    data: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{self.action} {where}" + (f": {self.detail}" if self.detail else "")

    def mismatch(self) -> str:
        """The step read as a difference between model and database (existing_schema_mode)."""
        if self.action == "create_table":
            return f"model {self.model}: table {self.table!r} is missing"
        if self.action in ("add_column", "required_column"):
            return f"model {self.model}: column {self.table}.{self.column} is missing"
        if self.action == "change_type":
            return f"model {self.model}: column {self.table}.{self.column} has another type ({self.detail})"
        return f"model {self.model}: {self.describe()}"


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)

    @property
    def safe(self) -> list[Step]:
        return [s for s in self.steps if s.safe]

    @property
    def explicit(self) -> list[Step]:
        return [s for s in self.steps if not s.safe]

    def __bool__(self) -> bool:
        return bool(self.steps)

    def report(self) -> str:
        return "; ".join(s.describe() for s in self.steps) or "no changes"

    def as_dicts(self) -> list[dict]:
        return [{"action": s.action, "model": s.model, "table": s.table, "column": s.column, "detail": s.detail,
                 "applied_automatically": s.safe} for s in self.steps]


def plan_migration(models: list[ModelSpec], existing: dict, expected_kind: Any,
                   renames: dict[str, dict[str, str]] | None = None) -> Plan:
    """The steps that bring ``existing`` (discovery output) in line with ``models``.

    ``expected_kind(field)`` is the portable type the backend would create for a field
    (SQLite stores datetimes as text, so its expectation differs from PostgreSQL's).
    """
    from .relations import creation_order
    from .sql.foreign_keys import plan_steps

    plan = Plan()
    for model in creation_order(models):
        if model.external:
            continue
        table = existing.get(model.table)
        if table is None:
            plan.steps.append(Step("create_table", model.name, model.table))
            continue
        columns = {c["name"]: c for c in table["columns"]}
        renamed = (renames or {}).get(model.name, {})
        for old, new in renamed.items():
            if old in columns and new not in columns:
                plan.steps.append(Step("rename_column", model.name, model.table, new, f"from {old}", safe=False,
                                       data={"old": old}))
                columns[new] = columns.pop(old)
        for f in model.fields.values():
            col = columns.get(f.name)
            if col is None:
                if f.nullable or f.has_default or f.managed:
                    default = None if f.managed or not f.has_default else f.default_value()
                    plan.steps.append(
                        Step(
                            "add_column",
                            model.name,
                            model.table,
                            f.name,
                            f"{f.kind}" + (f", existing rows get {default!r}" if default is not None else ""),
                            data={"default": default},
                        )
                    )
                else:
                    plan.steps.append(Step("required_column", model.name, model.table, f.name,
                                           f"new required {f.kind} field without a default", safe=False))
                continue
            want = expected_kind(f)
            if col["type"] != want and not (col["type"] == "other" and want == "json"):
                plan.steps.append(Step("change_type", model.name, model.table, f.name,
                                       f"{col['type']} ({col['native_type']}) -> {want}", safe=False))
        for name in columns:
            if name not in model.fields:
                plan.steps.append(Step("drop_column", model.name, model.table, name,
                                       "the model no longer declares it (kept until dropped explicitly)", safe=False))
        have = {i["name"] for i in table["indexes"]} | {u["name"] for u in table["unique_constraints"] if u["name"]}
        for index in model.indexes:
            if index.name not in have:
                plan.steps.append(Step("create_index", model.name, model.table, None, index.name,
                                       data={"index": index.name}))
        plan.steps.extend(plan_steps(model, table, Step))
    return plan
