"""Hook implementations of the SQLite backend (registered via the entry point ``sqlite``)."""

from dataflow import hookimpl


@hookimpl
def dataflow_register_backends(registry):
    registry.add("dataflow_sqlite.backend:SQLiteBackend", name="sqlite", schemes=("sqlite",))
