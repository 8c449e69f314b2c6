"""Row-level security: PostgreSQL itself keeps each tenant to its own rows.

With ``DataFlow(url, multi_tenant=True, row_level_security=True)`` every
multi-tenant table gets, at first use::

    ALTER TABLE t ENABLE ROW LEVEL SECURITY;
    ALTER TABLE t FORCE ROW LEVEL SECURITY;      -- the owner (DataFlow's role) too
    CREATE POLICY dataflow_tenant_isolation ON t
        USING (tenant_id = (SELECT current_setting('dataflow.tenant_id', true)))
        WITH CHECK (tenant_id = (SELECT current_setting('dataflow.tenant_id', true)));

and every statement runs in a transaction that first sets ``dataflow.tenant_id``
locally to the bound tenant ('' when none is bound, which matches no row). DataFlow's
own scoping still applies; the policy is a second, independent wall: raw SQL
through the backend, a bug, or a hand-written query on DataFlow's role sees one
tenant at most. The setting is transaction-local, so it never outlives the
statement on a pooled connection, also behind pgbouncer in transaction pooling.

Superusers and roles with BYPASSRLS ignore every policy, so DataFlow refuses to
run this mode on such a role instead of pretending to be protected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from dataflow.errors import ConfigurationError, SchemaError
from dataflow.tenancy import get_current_tenant_id

SETTING = "dataflow.tenant_id"
POLICY = "dataflow_tenant_isolation"
# the sub-select makes the setting an init plan, read once per statement rather than once per row
_CHECK = f"tenant_id = (SELECT current_setting('{SETTING}', true))"


def current_tenant() -> str:
    """The bound tenant, or '' (which no row has: tenant ids are never empty)."""
    return get_current_tenant_id() or ""


def set_tenant_sql(tenant: str | None = None) -> str:
    """``SELECT set_config(...)`` local to the transaction. Tenant ids are validated (letters, digits and
    ``_ . : @ -``), and quotes are doubled anyway, so the literal is safe in a simple-protocol message."""
    value = current_tenant() if tenant is None else tenant
    return f"SELECT set_config('{SETTING}', '{value.replace(chr(39), chr(39) * 2)}', true)"


def enable_statements(quoted_table: str) -> list[str]:
    return [
        f"ALTER TABLE {quoted_table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {quoted_table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {POLICY} ON {quoted_table} USING ({_CHECK}) WITH CHECK ({_CHECK})",
    ]


async def check_role(backend: Any) -> None:
    """Refuse a role that row-level security does not restrict."""
    rows = await backend.fetch(
        "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user", ()
    )
    if rows and (rows[0][1] or rows[0][2]):
        why = "a superuser" if rows[0][1] else "a role with BYPASSRLS"
        raise ConfigurationError(
            f"row_level_security=True, but PostgreSQL role {rows[0][0]!r} is {why}, which row-level security never "
            f"restricts. Connect as an ordinary role (CREATE ROLE app LOGIN; it owns the tables DataFlow creates), "
            f"or drop row_level_security=True."
        )


async def _table_states(backend: Any, tables: Sequence[str]) -> dict[str, tuple[bool, bool, bool]]:
    """table -> (row security enabled, forced, DataFlow's policy present), for tables in the current schema."""
    rows = await backend.fetch(
        "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
        "EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = $1) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = ANY($2::text[])",
        (POLICY, list(tables)),
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


async def ensure(backend: Any, models: Sequence[Any], *, create: bool) -> None:
    """Enable, force and add the policy where any is missing (create=True), or refuse to run (create=False)."""
    if not models:
        return
    await check_role(backend)
    quote = backend.dialect.identifier_preparer.quote
    async with backend.migration_lock():
        states = await _table_states(backend, [m.table for m in models])
        missing = {m.table: states.get(m.table, (False, False, False)) for m in models
                   if states.get(m.table) != (True, True, True)}
        if not missing:
            return
        if not create:
            raise SchemaError(
                "row_level_security=True, but these multi-tenant tables lack DataFlow's tenant policy and DataFlow "
                "issues no DDL in existing_schema_mode / auto_migrate=False: "
                + "; ".join(f"{t}: " + "; ".join(enable_statements(quote(t))) for t in sorted(missing))
            )
        for table, (enabled, forced, policy) in sorted(missing.items()):
            wanted = enable_statements(quote(table))
            for statement, done in zip(wanted, (enabled, forced, policy)):
                if not done:
                    await backend.execute(statement, ())


@asynccontextmanager
async def unforced(backend: Any, tables: Sequence[str]) -> AsyncIterator[None]:
    """Inside the migration transaction, let the owner see every tenant's rows of ``tables`` (emptiness
    checks, backfills) by lifting FORCE, and force again before commit. ``ALTER TABLE`` holds an exclusive
    lock until the end of the transaction, so no other session ever sees the table unforced. If the body
    fails, the transaction rolls back, and the ALTER with it."""
    if not backend.row_level_security or not tables:
        yield
        return
    quote = backend.dialect.identifier_preparer.quote
    forced = [t for t, (_on, force, _p) in (await _table_states(backend, tables)).items() if force]
    for table in forced:
        await backend.execute(f"ALTER TABLE {quote(table)} NO FORCE ROW LEVEL SECURITY", ())
    yield
    for table in forced:
        await backend.execute(f"ALTER TABLE {quote(table)} FORCE ROW LEVEL SECURITY", ())
