"""Shared machinery for SQL backends, built on SQLAlchemy Core.

A SQL backend subclasses :class:`~dataflow.sql.backend.SQLBackend` (its SQLAlchemy dialect and column
types) and :class:`~dataflow.sql.driver.SQLDriver` (its driver calls); every statement then takes core's
one path, :class:`~dataflow.sql.session.SQLSession`.
"""

from .backend import SQLBackend
from .compiler import FilterCompiler
from .driver import SQLDriver
from .session import SQLSession, SQLTransaction

__all__ = ["SQLBackend", "FilterCompiler", "SQLDriver", "SQLSession", "SQLTransaction"]
