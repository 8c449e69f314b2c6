"""TEMPLATE: hook implementations of the MyDB backend (entry point ``mydb``). Imports no driver."""

from dataflow import hookimpl


@hookimpl
def dataflow_register_backends(registry):
    from .backend import MyDBBackend

    registry.add(MyDBBackend)
