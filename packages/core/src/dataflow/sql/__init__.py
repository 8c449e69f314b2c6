"""Shared machinery for SQL backends, built on SQLAlchemy Core.

A SQL backend subclasses :class:`~dataflow.sql.backend.SQLBackend`, names its
SQLAlchemy dialect and column types, and implements four driver methods.
"""

from .backend import SQLBackend
from .compiler import FilterCompiler

__all__ = ["SQLBackend", "FilterCompiler"]
