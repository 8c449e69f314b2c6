"""Hook implementations of the SQLite backend (registered via the entry point ``sqlite``)."""

from dataflow import hookimpl


@hookimpl
def dataflow_register_backends(registry):
    from .backend import SQLiteBackend

    registry.add(SQLiteBackend)
