"""Hook implementations of the MySQL backend (entry point ``mysql``). Imports no driver."""

from dataflow import hookimpl


@hookimpl
def dataflow_register_backends(registry):
    from .backend import MySQLBackend

    registry.add(MySQLBackend)
