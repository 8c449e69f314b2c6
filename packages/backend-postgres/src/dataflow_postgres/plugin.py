"""Hook implementations of the PostgreSQL backend (entry point ``postgres``). Imports no driver.

The backend is registered by import path: asyncpg is imported at the first ``postgresql://`` DataFlow,
never by a process that only uses other backends.
"""

from dataflow import hookimpl


@hookimpl
def dataflow_register_backends(registry):
    registry.add("dataflow_postgres.backend:PostgresBackend", name="postgres", schemes=("postgresql",))
