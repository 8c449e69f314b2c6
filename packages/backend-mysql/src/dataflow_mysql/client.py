"""The aiomysql and PyMySQL imports, in one place: a missing or broken driver is a clear error naming the fix."""

from dataflow.errors import BackendDependencyError

try:
    import aiomysql
    import pymysql
    from pymysql.constants import CLIENT, SERVER_STATUS
    from pymysql.converters import escape_float, escape_string
except ImportError as exc:  # pragma: no cover - aiomysql is a hard dependency
    raise BackendDependencyError(
        f"mysql backend cannot import {exc.name!r}; pip install -U kailash-dataflow-mysql"
    ) from exc

__all__ = ["CLIENT", "SERVER_STATUS", "aiomysql", "escape_float", "escape_string", "pymysql"]
