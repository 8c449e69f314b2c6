"""TEMPLATE: hook implementations of the MyDB backend (entry point ``mydb``). Imports no driver."""

from dataflow import hookimpl


@hookimpl
def dataflow_register_backends(registry):
    # by import path: the backend module and its driver are imported at the first mydb:// DataFlow only
    registry.add("dataflow_mydb.backend:MyDBBackend", name="mydb", schemes=("mydb",))
