"""A DataFlow's tables: first-use DDL, ``create_tables``, discovering and registering existing tables, and
migrations (methods of :class:`dataflow.DataFlow`, a mixin it inherits)."""

from __future__ import annotations

import asyncio
from typing import Any

from . import relations
from .backend import Backend
from .errors import ConfigurationError, ModelError, SchemaError
from .model import ModelSpec, model_from_table


class SchemaMethods:
    """Schema entry points of :class:`dataflow.DataFlow`."""

    # --- existing databases -------------------------------------------------------------------------------------------

    async def discover_schema_async(self, use_real_inspection: bool = True, tables: list[str] | None = None) -> dict:
        """Tables and views of the database with columns, keys, indexes and foreign keys.

        ``use_real_inspection`` is accepted for compatibility: discovery always inspects
        the real database (there is nothing else to inspect).
        """
        self._check_open()
        await self.backend.open()
        try:
            return await self.backend.discover(tables)
        except NotImplementedError as exc:
            raise ConfigurationError(f"{exc} ({self.url.masked()}): discovering tables (db.discover_schema(), "
                                     "register_schema_as_models(), `dataflow schema`) needs a backend that "
                                     "implements discover(), such as the SQL backends") from None

    def discover_schema(self, use_real_inspection: bool = True, tables: list[str] | None = None) -> dict:
        return self._runner.run(self.discover_schema_async(use_real_inspection, tables))

    def show_tables(self) -> list[str]:
        return list(self.discover_schema())

    async def register_schema_as_models_async(self, tables: list[str] | None = None,
                                              names: dict[str, str] | None = None) -> dict:
        """Register existing tables (or views) as models, without ``@db.model``; never issues DDL."""
        schema = await self.discover_schema_async(tables=tables)
        missing = [t for t in (tables or []) if t not in schema]
        if missing:
            raise ModelError(f"table(s) not found: {', '.join(missing)}; found: {', '.join(schema) or 'none'}")
        registered, generated = [], {}
        for table in tables or list(schema):
            description = schema[table]
            spec = model_from_table(description, self.host.field_types, (names or {}).get(table))
            if self.multi_tenant and not spec.multi_tenant:
                raise ModelError(f"table {table!r} has no tenant_id column: a multi-tenant DataFlow cannot register it "
                                 "(its rows would be visible to every tenant)")
            if spec.name in self.models:
                raise ModelError(
                    f"model {spec.name!r} (table {table!r}) is already declared; pass names={{{table!r}: 'Other'}}"
                )
            self._register(spec)
            registered.append(spec.name)
            generated[table] = self.nodes(spec.name)
        found = relations.discovered(self.models, schema, registered)  # foreign keys -> relations
        return {"registered_models": registered, "generated_nodes": generated, "relations": found, "success": True}

    def register_schema_as_models(self, tables: list[str] | None = None, names: dict[str, str] | None = None) -> dict:
        return self._runner.run(self.register_schema_as_models_async(tables, names))

    # --- migrations ---------------------------------------------------------------------------------------------------

    async def migration_plan_async(self, renames: dict[str, dict[str, str]] | None = None) -> list[dict]:
        """Every difference between the declared models and the database, nothing applied."""
        self._check_open()
        await self.backend.open()
        return await self.backend.migrate(self._own_models(), apply=False, renames=renames)

    def migration_plan(self, renames: dict[str, dict[str, str]] | None = None) -> list[dict]:
        return self._runner.run(self.migration_plan_async(renames))

    async def migrate_async(
        self,
        apply: bool = False,
        *,
        renames: dict[str, dict[str, str]] | None = None,
        backfill: dict[str, dict[str, Any]] | None = None,
        drop_columns: bool = False,
    ) -> list[dict]:
        """Show the plan (``apply=False``) or apply it, type changes and renames included, in one unit of work.

        ``renames={"User": {"old_name": "new_name"}}`` renames columns (data kept); ``backfill`` gives values
        for new required fields on tables with rows; columns the models no longer declare are dropped only
        with ``drop_columns=True``.
        """
        self._check_open()
        await self.backend.open()
        steps = await self.backend.migrate(self._own_models(), apply=apply, renames=renames, backfill=backfill,
                                           drop_columns=drop_columns)
        if apply:
            self._ready_models.update(m.name for m in self._own_models())
            self._pending.clear()
            await self.cache.invalidate_all_async()
        return steps

    def migrate(self, apply: bool = False, **options: Any) -> list[dict]:
        return self._runner.run(self.migrate_async(apply, **options))

    def _own_models(self) -> list[ModelSpec]:
        return [m for m in self.models.values() if not m.external]

    # --- first-use DDL ------------------------------------------------------------------------------------------

    async def _ready(self, model: ModelSpec) -> Backend:
        """The backend, with ``model``'s table ensured (first use opens and creates, once)."""
        if model.name in self._ready_models and not self.closed:
            return self.backend
        self._check_open()
        if self.backend.blocking:
            with self._ddl_lock:
                await self._ensure_pending()
        else:
            loop = asyncio.get_running_loop()
            with self._ddl_lock:  # loops of several threads may arrive together
                lock = self._async_ddl_locks.get(loop)
                if lock is None:
                    lock = self._async_ddl_locks[loop] = asyncio.Lock()
            async with lock:
                await self._ensure_pending()
        return self.backend

    async def _ensure_pending(self) -> None:
        await self.backend.open()
        pending = [m for m in self._pending if m.name not in self._ready_models]
        if pending:
            create = self.auto_migrate and not self.existing_schema_mode
            try:
                await self.backend.ensure_models(pending, create=create)
            except SchemaError as error:
                if create:
                    raise
                raise SchemaError(
                    f"{error.message}. Create the tables with db.create_tables() (await "
                    "db.create_tables_async() in async code) or apply changes with db.migrate(apply=True); "
                    "with auto_migrate=False / existing_schema_mode=True DataFlow never creates them itself",
                    orig=error.orig,
                ) from error
            self._ready_models.update(m.name for m in pending)
            self._pending = [m for m in self._pending if m.name not in self._ready_models]

    async def create_tables_async(self) -> None:
        """Open the backend and create the tables of every declared model now."""
        self._check_open()
        await self.backend.open()
        await self.backend.ensure_models(list(self.models.values()), create=not self.existing_schema_mode)
        self._ready_models.update(self.models)
        self._pending.clear()
        await self.cache.invalidate_all_async()

    def create_tables(self) -> None:
        self._runner.run(self.create_tables_async())

    async def initialize(self) -> bool:
        """Connect and create pending tables now instead of at first use."""
        for spec in list(self.models.values()):
            await self._ready(spec)
        await self.backend.open()
        return True
