"""Models as SQLAlchemy tables: column types, DDL, reflection of what exists.

A dialect maps field kinds to column types (``column_type``); extension field types bring their own
(``FieldType.backends[name].column_type``). Tables are built once per model and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from ..errors import SchemaError
from ..model import ModelSpec
from . import foreign_keys


class Schema:
    """Mixin of :class:`~dataflow.sql.SQLBackend`: tables, columns, DDL and discovery."""

    name: str
    dialect: sa.engine.Dialect
    metadata: sa.MetaData
    tables: dict[str, sa.Table]
    core_kinds = frozenset({"str", "int", "float", "bool", "datetime", "date", "decimal", "bytes", "json"})

    def table(self, model: ModelSpec) -> sa.Table:
        table = self.tables.get(model.name)
        if table is None:
            self.know(model)
            columns = [self.make_column(f) for f in model.fields.values()]
            table = sa.Table(model.table, self.metadata, *columns)
            for index in model.indexes:
                sa.Index(index.name, *(table.c[c] for c in index.fields), unique=index.unique)
            self.tables[model.name] = table
            foreign_keys.add_constraints(self, model, table)
        return table

    def forget_model(self, name: str) -> None:
        """Drop the cached table of a model declared again (its fields or relations may differ)."""
        table = self.tables.pop(name, None)
        if table is not None:
            self.metadata.remove(table)

    def sql_type(self, field) -> Any:
        """The column type: an extension type's own, else the dialect's mapping of the kind."""
        custom = field.type.backends.get(self.name)
        if custom is not None:
            return custom.column_type(field)
        if field.kind not in self.core_kinds:
            raise SchemaError(f"backend {self.name!r} cannot store field {field.name!r} of type {field.kind!r}; "
                              f"install the plugin that provides it for {self.name}")
        return self.column_type(field)

    def make_column(self, field) -> sa.Column:
        if field.primary_key:
            autoinc = field.kind == "int"
            return sa.Column(field.name, self.sql_type(field), primary_key=True, autoincrement=autoinc)
        return sa.Column(field.name, self.sql_type(field), nullable=field.nullable or field.managed)

    def ddl(self, model: ModelSpec) -> list[str]:
        table = self.table(model)
        statements = [str(CreateTable(table, if_not_exists=True).compile(dialect=self.dialect)).strip()]
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            statements.append(self.create_index_sql(index))
        return statements

    def create_index_sql(self, index: sa.Index) -> str:
        return str(CreateIndex(index, if_not_exists=True).compile(dialect=self.dialect)).strip()

    def expected_kind(self, field) -> str:
        """The portable type discovery reports for a column this backend creates for ``field``."""
        from ..discovery import portable_type

        return portable_type(self.sql_type(field))

    def placeholder(self, n: int) -> str:
        """The driver's n-th positional parameter marker."""
        return "?" if self.dialect.paramstyle == "qmark" else (f"${n}" if "dollar" in self.dialect.paramstyle else "%s")

    def quote(self, identifier: str) -> str:
        return self.dialect.identifier_preparer.quote(identifier)

    async def run_reflection(self, fn: Callable[[sa.Connection], Any]) -> Any:
        """Call ``fn`` with a SQLAlchemy Connection on this database (for reflection)."""
        raise NotImplementedError(f"backend {self.name!r} does not support reflection")

    async def discover(self, tables: list[str] | None = None) -> dict:
        """Reflect the given tables (all when None); tables that do not exist are not reflected at all,
        so creating a new schema opens no reflection connection."""
        from ..discovery import discover

        if tables is not None:
            present = await self.existing_tables()
            tables = [t for t in tables if t in present]
            if not tables:
                return {}
        return await self.run_reflection(lambda conn: discover(conn, tables))
