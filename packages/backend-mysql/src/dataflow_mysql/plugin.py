"""Hook implementations of the MySQL backend (entry point ``mysql``). Imports no driver.

The backend is registered by import path: aiomysql and PyMySQL are imported at the first ``mysql://``
or ``mariadb://`` DataFlow, never by a process that only uses other backends.
"""

from dataflow import hookimpl


@hookimpl
def dataflow_register_backends(registry):
    registry.add("dataflow_mysql.backend:MySQLBackend", name="mysql", schemes=("mysql", "mariadb"))
