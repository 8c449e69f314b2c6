"""Hook implementations of the PostgreSQL backend (entry point ``postgres``). Imports no driver."""

from dataflow import hookimpl


@hookimpl
def dataflow_register_backends(registry):
    from .backend import PostgresBackend

    registry.add(PostgresBackend)
